/** Test helpers: a device on an event log, request shortcuts that check the reply framing. */
import { expect } from 'vitest';
import { EventLog, type SeqEvent } from '../../../../core/events/sink.ts';
import { encodeRequest, type RequestInit } from '../../../../core/viommu/virtio-iommu/codec.ts';
import { T_ATTACH, T_DETACH, T_MAP, T_PROBE, T_UNMAP } from '../../../../core/viommu/virtio-iommu/constants.ts';
import { VirtioIommuDevice, defaultProps, type VirtioIommuProps } from '../../../../core/viommu/virtio-iommu/device.ts';

export type Mode = 'qemu' | 'spec';
export const MODES: Mode[] = ['qemu', 'spec'];

/** Endpoints behind the test IOMMU: 00:01.0 (8), 00:02.0 (16), 00:03.0 (24). */
export const EP1 = 8;
export const EP2 = 16;
export const EP3 = 24;
/** An endpoint ID with no device behind the IOMMU. */
export const NO_EP = 0x999;

export interface Rig {
  dev: VirtioIommuDevice;
  log: EventLog;
  /** Sends a non-PROBE request; asserts used length 4 and zero tail reserved bytes; returns the status. */
  req(r: RequestInit): number;
  attach(domain: number, endpoint: number, flags?: number, reserved?: number): number;
  detach(domain: number, endpoint: number, reserved?: bigint): number;
  map(domain: number, virtStart: bigint, virtEnd: bigint, physStart: bigint, flags?: number): number;
  unmap(domain: number, virtStart: bigint, virtEnd: bigint, reserved?: number): number;
  /** Sends a PROBE with a writable part of probe_size + 4 (or `writable`); returns the raw reply. */
  probe(endpoint: number, writable?: number): Uint8Array;
  /** Events emitted since the last call, without seq/step. */
  events(): Array<Record<string, unknown>>;
  /** Kinds of the events since the last call. */
  kinds(): string[];
}

/** A q35-default device (QEMU 9.0+ defaults) in `mode`, with `over` applied on top. */
export function rig(mode: Mode, over: Partial<VirtioIommuProps> = {}, endpoints: number[] = [EP1, EP2, EP3]): Rig {
  const props: VirtioIommuProps = { ...defaultProps('q35'), conformance: mode, ...over };
  const log = new EventLog();
  const dev = new VirtioIommuDevice(props, endpoints, log);
  const strip = (e: SeqEvent): Record<string, unknown> => {
    const { seq: _s, step: _t, ...rest } = e as unknown as Record<string, unknown>;
    return rest;
  };
  const r: Rig = {
    dev,
    log,
    req(q) {
      const reply = dev.handleRequest(encodeRequest(q), 4);
      expect(reply.length).toBe(4);
      expect([...reply.subarray(1)]).toEqual([0, 0, 0]);
      return reply[0];
    },
    attach: (domain, endpoint, flags = 0, reserved = 0) => r.req({ type: T_ATTACH, domain, endpoint, flags, reserved }),
    detach: (domain, endpoint, reserved = 0n) => r.req({ type: T_DETACH, domain, endpoint, reserved }),
    map: (domain, virtStart, virtEnd, physStart, flags = 3) => r.req({ type: T_MAP, domain, virtStart, virtEnd, physStart, flags }),
    unmap: (domain, virtStart, virtEnd, reserved = 0) => r.req({ type: T_UNMAP, domain, virtStart, virtEnd, reserved }),
    probe: (endpoint, writable) => dev.handleRequest(encodeRequest({ type: T_PROBE, endpoint }), writable ?? props.probeSize + 4),
    events: () => log.take().map(strip),
    kinds: () => log.take().map((e) => e.kind),
  };
  return r;
}

/** Bytes as lowercase hex, for golden comparisons. */
export function hexBytes(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
}
