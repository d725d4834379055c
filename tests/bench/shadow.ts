/**
 * Shadowing benchmark (issue 7 §6; not a timed test): guest virtio-iommu MAP + UNMAP requests on a
 * domain with an assigned endpoint, each shadowed by VFIO's notifier (core/host/shadow.ts) into an
 * iommufd IOAS (IOAS_MAP fixed + IOAS_UNMAP through the real engine), events off: once through the
 * runs' iommufd0 component (core/host/components/backend.ts), once through the QEMU-path test
 * backend on the engine's u32 entry points (tests/core/host/shadow/iommufd-backend.ts). Rate in PAIRS per second (one MAP + one
 * UNMAP request). Baseline: the same requests on the same device without an assigned device (no
 * notifier), measured in the same run. One-page mappings, each pair in a page between 16K resident
 * one-page mappings (see rig).
 */
import { EventLog } from '../../core/events/sink.ts';
import { Machine } from '../../core/machine/index.ts';
import { VfioPciComponent, machineInitDone } from '../../core/host/assign.ts';
import { VfioShadow } from '../../core/host/shadow.ts';
import { putU64Halves, VIRT_END_OFFSET, VIRT_START_OFFSET, PHYS_START_OFFSET } from '../../core/run/wire.ts';
import { encodeRequest } from '../../core/viommu/virtio-iommu/codec.ts';
import { T_ATTACH, T_MAP, T_UNMAP } from '../../core/viommu/virtio-iommu/constants.ts';
import { VirtioIommuComponent } from '../../core/viommu/virtio-iommu/component.ts';
import { defaultProps } from '../../core/viommu/virtio-iommu/device.ts';
import { EngineIommufdBackend, HOST_39, platformOf } from '../core/host/shadow/iommufd-backend.ts';
import { IommufdBackendComponent } from '../../core/host/components/backend.ts';
import { hostBackends } from '../../core/host/backend/from-platform.ts';
import type { BenchRow } from './types.ts';

const NIC = 0x18;
const BASE = 0x100000;
export const SIZES = { pairs: 400_000, resident: 16384 };

/** 'component': the runs' iommufd0 (core/host/components, uAPI calls by name); 'engine': the test backend on the engine's u32 hot path. */
type BackendKind = 'component' | 'engine';

function rig(assigned: boolean, kind: BackendKind = 'engine') {
  const log = new EventLog();
  log.enabled = false;
  const machine = new Machine(log);
  const platform = platformOf(HOST_39);
  const backend = machine.add(kind === 'engine' ? new EngineIommufdBackend(platform) : new IommufdBackendComponent(hostBackends(platform)));
  const viommu = machine.add(new VirtioIommuComponent('viommu0', defaultProps('q35'), [0, NIC]));
  const shadow = new VfioShadow();
  if (assigned) {
    viommu.setNotifier(shadow);
    machine.add(new VfioPciComponent({ id: 'nic0', guestDevice: 'nic0', endpoint: NIC, hostDevice: 'vf0', hostName: '0000:3b:00.0', mdev: false, hotplug: false }, { machine, backend, viommu, shadow }));
  }
  if (machine.realize() !== null || machineInitDone(machine, viommu) !== null) throw new Error('bench machine failed');
  const dev = viommu.device;
  const tail = new Uint8Array(4);
  dev.handleRequestInto(encodeRequest({ type: T_ATTACH, domain: 1, endpoint: NIC, flags: 0 }), tail);
  // Resident one-page mappings on the even pages of [BASE, BASE + 2 × resident pages): the pairs
  // use the odd pages between them, as a guest's streaming DMA maps among live buffers.
  const map = encodeRequest({ type: T_MAP, domain: 1, virtStart: 0n, virtEnd: 0n, physStart: 0n, flags: 3 });
  for (let i = 0; i < SIZES.resident; i++) {
    const lo = BASE + i * 0x2000;
    putU64Halves(map, VIRT_START_OFFSET, 0, lo);
    putU64Halves(map, VIRT_END_OFFSET, 0, lo + 0xfff);
    putU64Halves(map, PHYS_START_OFFSET, 0, lo);
    dev.handleRequestInto(map, tail);
  }
  return { dev, shadow, tail, map, unmap: encodeRequest({ type: T_UNMAP, domain: 1, virtStart: 0n, virtEnd: 0n }) };
}

function run(assigned: boolean, pairs: number, kind: BackendKind = 'engine'): number {
  const { dev, shadow, tail, map, unmap } = rig(assigned, kind);
  let bad = 0;
  const t0 = performance.now();
  for (let k = 0; k < pairs; k++) {
    const lo = BASE + (k % SIZES.resident) * 0x2000 + 0x1000;
    putU64Halves(map, VIRT_START_OFFSET, 0, lo);
    putU64Halves(map, VIRT_END_OFFSET, 0, lo + 0xfff);
    putU64Halves(map, PHYS_START_OFFSET, 0, lo);
    dev.handleRequestInto(map, tail);
    bad |= tail[0];
    putU64Halves(unmap, VIRT_START_OFFSET, 0, lo);
    putU64Halves(unmap, VIRT_END_OFFSET, 0, lo + 0xfff);
    dev.handleRequestInto(unmap, tail);
    bad |= tail[0];
  }
  const rate = pairs / ((performance.now() - t0) / 1000);
  if (bad !== 0 || shadow.counters.failures !== 0) throw new Error('bench: a request or a host call failed');
  if (assigned && shadow.counters.maps !== pairs + SIZES.resident) throw new Error('bench: not every MAP was shadowed');
  return rate;
}

/**
 * The shadowing rows, best of 3 rounds each: through the runs' iommufd0 component (uAPI calls by
 * name, what a scenario does), and through the engine's u32 hot path (what a backend offering
 * HostBackend.dmaMap32/dmaUnmap32 gets); both beside the same requests without an assigned device.
 */
export async function benchShadow(): Promise<BenchRow[]> {
  let component = 0;
  let engine = 0;
  let base = 0;
  for (let r = 0; r < 3; r++) {
    base = Math.max(base, run(false, SIZES.pairs));
    component = Math.max(component, run(true, SIZES.pairs, 'component'));
    engine = Math.max(engine, run(true, SIZES.pairs, 'engine'));
  }
  const baselineName = 'same requests, no assigned device';
  return [
    { name: 'guest MAP+UNMAP shadowed into an iommufd IOAS (iommufd0 component, events off)', value: component, unit: 'pairs/s', baselineName, baselineValue: base, target: 1e6 },
    { name: 'guest MAP+UNMAP shadowed into an iommufd IOAS (u32 engine path, events off)', value: engine, unit: 'pairs/s', baselineName, baselineValue: base, target: 1e6 },
  ];
}
