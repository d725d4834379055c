/**
 * Guest DMA benchmark (issue 8 §4; not a timed test): a Linux-like guest's dma_map + dma_unmap
 * pairs (core/guest: dma-iommu, the IOVA allocator's rcache, the virtio-iommu driver's request
 * queue) through virtio-iommu, each MAP/UNMAP shadowed by VFIO's notifier into an iommufd IOAS
 * (the runs' iommufd0 component), events off. The pattern is a NIC ring as the dma-stream step
 * drives it (GuestKernelComponent.dmaMap into the slot's handle, dmaUnmapHandle): 256 one-page
 * buffers live, each pair unmaps the oldest and maps a fresh one (strict mode: every unmap syncs,
 * every map syncs). Rate in PAIRS per second. Baseline: the same MAP and UNMAP requests sent straight
 * to the device (no guest layer: fixed IOVAs, no allocator, no driver queue), same machine, same
 * run — what the guest layer costs on top.
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
import { HOST_39, platformOf } from '../core/host/shadow/iommufd-backend.ts';
import { IommufdBackendComponent } from '../../core/host/components/backend.ts';
import { hostBackends } from '../../core/host/backend/from-platform.ts';
import { GuestKernelComponent, Handle } from '../../core/guest/component.ts';
import type { BenchRow } from './types.ts';

const NIC = 0x18;
export const SIZES = { pairs: 300_000, ring: 256, warm: 50_000 };

function rig(guestLayer: boolean) {
  const log = new EventLog();
  log.enabled = false;
  const machine = new Machine(log);
  const backend = machine.add(new IommufdBackendComponent(hostBackends(platformOf(HOST_39))));
  const viommu = machine.add(new VirtioIommuComponent('viommu0', defaultProps('q35'), [0, NIC]));
  const shadow = new VfioShadow();
  viommu.setNotifier(shadow);
  machine.add(new VfioPciComponent({ id: 'nic0', guestDevice: 'nic0', endpoint: NIC, hostDevice: 'vf0', hostName: '0000:3b:00.0', mdev: false, hotplug: false }, { machine, backend, viommu, shadow }));
  const guest = guestLayer
    ? machine.add(
        new GuestKernelComponent(
          { iommuDma: 'strict', cpus: 1, forcedac: false, singleFlushQueue: false, hz: 1000, pciWindows: [] },
          [{ name: 'nic0', endpoint: NIC, type: 'endpoint', acs: true, dmaMask: 64, host: 'vf0' }],
          () => viommu.device,
          shadow,
        ),
      )
    : undefined;
  if (machine.realize() !== null || machineInitDone(machine, viommu) !== null) throw new Error('bench machine failed');
  viommu.device.negotiate();
  guest?.boot(['nic0']);
  return { viommu, shadow, guest };
}

/** The guest layer's pairs/s (see the module comment). */
export function runGuest(pairs: number): number {
  const { guest, shadow } = rig(true);
  const g = guest!;
  // The ring's buffers as the dma-stream step keeps them: one handle object per slot (named for events).
  const names = Array.from({ length: SIZES.ring }, (_, i) => `b${i}`);
  const slots = names.map(() => Handle.empty());
  for (let i = 0; i < SIZES.ring; i++) g.dmaMap('nic0', 4096, 2, 0, undefined, 0, names[i], slots[i]);
  let bad = 0;
  const loop = (n: number) => {
    for (let k = 0; k < n; k++) {
      const i = k % SIZES.ring;
      if (g.dmaUnmapHandle(slots[i], 0).error !== null) bad++;
      if (!g.dmaMap('nic0', 4096, 2, 0, undefined, 0, names[i], slots[i]).ok) bad++;
    }
  };
  loop(SIZES.warm);
  const t0 = performance.now();
  loop(pairs);
  const rate = pairs / ((performance.now() - t0) / 1000);
  if (bad !== 0 || shadow.counters.failures !== 0) throw new Error('bench: a guest map/unmap or a host call failed');
  return rate;
}

/** The same MAP/UNMAP requests straight into the device (fixed IOVAs below 4 GiB, a ring of 256). */
export function runRaw(pairs: number): number {
  const { viommu, shadow } = rig(false);
  const dev = viommu.device;
  const tail = new Uint8Array(4);
  dev.handleRequestInto(encodeRequest({ type: T_ATTACH, domain: 1, endpoint: NIC, flags: 0 }), tail);
  const map = encodeRequest({ type: T_MAP, domain: 1, virtStart: 0n, virtEnd: 0n, physStart: 0n, flags: 2 });
  const unmap = encodeRequest({ type: T_UNMAP, domain: 1, virtStart: 0n, virtEnd: 0n });
  const top = 0xfffff000;
  const put = (b: Uint8Array, lo: number) => {
    putU64Halves(b, VIRT_START_OFFSET, 0, lo);
    putU64Halves(b, VIRT_END_OFFSET, 0, lo + 0xfff);
  };
  for (let i = 0; i < SIZES.ring; i++) {
    put(map, top - i * 0x1000);
    putU64Halves(map, PHYS_START_OFFSET, 0, 0x40000000 + i * 0x1000);
    dev.handleRequestInto(map, tail);
  }
  let bad = 0;
  const loop = (n: number) => {
    for (let k = 0; k < n; k++) {
      const lo = top - (k % SIZES.ring) * 0x1000;
      put(unmap, lo);
      dev.handleRequestInto(unmap, tail);
      bad |= tail[0];
      put(map, lo);
      putU64Halves(map, PHYS_START_OFFSET, 0, 0x40000000 + ((k * 0x1000) % 0x40000000));
      dev.handleRequestInto(map, tail);
      bad |= tail[0];
    }
  };
  loop(SIZES.warm);
  const t0 = performance.now();
  loop(pairs);
  const rate = pairs / ((performance.now() - t0) / 1000);
  if (bad !== 0 || shadow.counters.failures !== 0) throw new Error('bench: a raw request or a host call failed');
  return rate;
}

/** The guest row, best of 3 rounds, beside the raw requests. */
export async function benchGuest(): Promise<BenchRow[]> {
  let lab = 0;
  let base = 0;
  for (let r = 0; r < 3; r++) {
    base = Math.max(base, runRaw(SIZES.pairs));
    lab = Math.max(lab, runGuest(SIZES.pairs));
  }
  return [
    {
      name: 'guest dma-map + dma-unmap through virtio-iommu into an iommufd IOAS (strict, ring of 256, events off)',
      value: lab,
      unit: 'pairs/s',
      baselineName: 'the same MAP+UNMAP requests sent raw (no guest layer)',
      baselineValue: base,
      target: 1e6,
    },
  ];
}
