/**
 * Shadowing (QEMU's VFIO IOMMU notifier, hw/vfio/listener.c vfio_iommu_map_notify, fed by
 * hw/virtio/virtio-iommu.c's notify_map/notify_unmap): guest MAP/UNMAP on a domain with an
 * assigned endpoint reach the backend at the guest IOVA, split into aligned power-of-two blocks;
 * host failures are 'qemu-error' events with QEMU's text tied to the guest event, and never change
 * the guest's status; ATTACH replays, DETACH unmaps.
 */
import { describe, expect, it } from 'vitest';
import { EventLog } from '../../../../core/events/sink.ts';
import { Machine } from '../../../../core/machine/index.ts';
import { VfioShadow } from '../../../../core/host/shadow.ts';
import { GUEST_RAM_HVA_BASE, strerror } from '../../../../core/host/shadow-text.ts';
import { splitPow2 } from '../../../../core/viommu/virtio-iommu/state.ts';
import { VirtioIommuComponent } from '../../../../core/viommu/virtio-iommu/component.ts';
import { defaultProps } from '../../../../core/viommu/virtio-iommu/device.ts';
import { encodeRequest } from '../../../../core/viommu/virtio-iommu/codec.ts';
import { T_ATTACH, T_DETACH, T_MAP, T_UNMAP } from '../../../../core/viommu/virtio-iommu/constants.ts';
import { FakeBackend } from './fake-backend.ts';

const NIC = 0x18; // 00:03.0, assigned
const EMU = 0x20; // 00:04.0, emulated

function rig(enabled = true) {
  const log = new EventLog();
  log.enabled = enabled;
  const m = new Machine(log);
  const be = m.add(new FakeBackend());
  const v = m.add(new VirtioIommuComponent('viommu0', { ...defaultProps('q35'), bootBypass: false }, [0, NIC, EMU]));
  expect(m.realize()).toBeNull();
  const shadow = new VfioShadow();
  be.attachDevice('vf0', 'as-nic0');
  shadow.register(NIC, { backend: be, addressSpace: 'as-nic0', container: 2 });
  v.setNotifier(shadow);
  const req = (r: Parameters<typeof encodeRequest>[0]) => v.device.handleRequest(encodeRequest(r), 4)[0];
  return { log, be, v, shadow, req };
}

describe('the power-of-two split (dma_aligned_pow2_mask)', () => {
  it('cuts a range into naturally aligned blocks; the whole space is one block of 2^64', () => {
    const out: Array<[bigint, bigint]> = [];
    splitPow2(0x1000n, 0x4fffn, (i, s) => out.push([i, s]));
    expect(out).toEqual([[0x1000n, 0x1000n], [0x2000n, 0x2000n], [0x4000n, 0x1000n]]);
    out.length = 0;
    splitPow2(0n, 0xffffffffffffffffn, (i, s) => out.push([i, s]));
    expect(out).toEqual([[0n, 1n << 64n]]);
    out.length = 0;
    splitPow2(0xffffffffffff0000n, 0xffffffffffffffffn, (i, s) => out.push([i, s]));
    expect(out).toEqual([[0xffffffffffff0000n, 0x10000n]]);
  });
});

describe('guest MAP/UNMAP shadowed into the backend', () => {
  it('with events off, a one-page UNMAP (the fast path) still unmaps on the host; an empty page and a partial page answer as QEMU does', () => {
    const { be, req } = rig(false);
    expect(req({ type: T_ATTACH, domain: 1, endpoint: NIC, flags: 0 })).toBe(0);
    expect(req({ type: T_MAP, domain: 1, virtStart: 0x1000n, virtEnd: 0x1fffn, physStart: 0x80001000n, flags: 3 })).toBe(0);
    expect(req({ type: T_MAP, domain: 1, virtStart: 0x4000n, virtEnd: 0x5fffn, physStart: 0x80004000n, flags: 3 })).toBe(0);
    be.calls.length = 0;
    expect(req({ type: T_UNMAP, domain: 1, virtStart: 0x1000n, virtEnd: 0x1fffn })).toBe(0);
    expect(be.calls.map((c) => [c.op, c.iova, c.size])).toEqual([['unmap', 0x1000n, 0x1000n]]);
    // Nothing mapped there: OK, no host call.
    expect(req({ type: T_UNMAP, domain: 1, virtStart: 0x1000n, virtEnd: 0x1fffn })).toBe(0);
    // One page of a two-page mapping: QEMU refuses to split it (VIRTIO_IOMMU_S_RANGE = 5), nothing unmapped.
    expect(req({ type: T_UNMAP, domain: 1, virtStart: 0x4000n, virtEnd: 0x4fffn })).toBe(5);
    expect(be.calls.length).toBe(1);
    expect([...be.maps.get('as-nic0')!.keys()]).toEqual([0x4000n]);
  });

  it('MAP on a domain with the assigned endpoint: one dma_map per block, vaddr = HVA base + GPA, tied to the map event', () => {
    const { log, be, req } = rig();
    expect(req({ type: T_ATTACH, domain: 1, endpoint: NIC, flags: 0 })).toBe(0);
    log.take();
    expect(req({ type: T_MAP, domain: 1, virtStart: 0x1000n, virtEnd: 0x3fffn, physStart: 0x80001000n, flags: 1 })).toBe(0);
    const ev = log.take();
    const map = ev.find((e) => e.kind === 'map')!;
    expect(be.calls).toEqual([
      { op: 'map', as: 'as-nic0', iova: 0x1000n, size: 0x1000n, vaddr: GUEST_RAM_HVA_BASE + 0x80001000n, readonly: true, cause: map.seq, errno: 0 },
      { op: 'map', as: 'as-nic0', iova: 0x2000n, size: 0x2000n, vaddr: GUEST_RAM_HVA_BASE + 0x80002000n, readonly: true, cause: map.seq, errno: 0 },
    ]);
    expect(ev.map((e) => [e.kind, e.component])).toEqual([
      ['map', 'viommu0'], ['host-call', 'iommufd0'], ['host-call', 'iommufd0'], ['request', 'viommu0'],
    ]);
    be.calls.length = 0;
    expect(req({ type: T_UNMAP, domain: 1, virtStart: 0n, virtEnd: 0xffffn })).toBe(0);
    const un = log.take().find((e) => e.kind === 'unmap')!;
    expect(be.calls.map((c) => [c.op, c.iova, c.size, c.cause])).toEqual([['unmap', 0x1000n, 0x1000n, un.seq], ['unmap', 0x2000n, 0x2000n, un.seq]]);
    expect(be.maps.get('as-nic0')!.size).toBe(0);
  });

  it('a host failure is a qemu-error with QEMU\'s text tied to the guest event; the guest still gets OK', () => {
    const { log, be, v, req } = rig();
    req({ type: T_ATTACH, domain: 1, endpoint: NIC, flags: 0 });
    log.take();
    // Above the host's 39-bit aperture (QEMU's virtio-iommu does not check its own input range).
    expect(req({ type: T_MAP, domain: 1, virtStart: 0x8000000000n, virtEnd: 0x8000000fffn, physStart: 0x1000n, flags: 3 })).toBe(0);
    const ev = log.take();
    const map = ev.find((e) => e.kind === 'map')!;
    const errs = ev.filter((e) => e.kind === 'qemu-error') as unknown as Array<{ data: { message: string; level: string }; cause: bigint; component: string }>;
    // iommufd: backends/iommufd.c reports first, then the listener (hw/vfio/listener.c).
    expect(errs.map((e) => e.data)).toEqual([
      { message: 'IOMMU_IOAS_MAP failed: Invalid argument', level: 'error' },
      { message: 'vfio_container_dma_map(0x555555552000, 0x8000000000, 0x1000, 0x7f0000001000) = -22 (Invalid argument)', level: 'error' },
    ]);
    expect(errs.map((e) => [e.cause, e.component])).toEqual([[BigInt(map.seq), 'iommufd0'], [BigInt(map.seq), 'iommufd0']]);
    expect(ev.map((e) => e.kind)).toEqual(['map', 'host-call', 'qemu-error', 'qemu-error', 'request']);
    expect(ev.at(-1)).toMatchObject({ kind: 'request', status: 0 });
    // The guest's mapping exists, the host's does not: the vIOMMU translates, the host has nothing.
    expect(v.device.domainMappings(1)).toHaveLength(1);
    expect(be.maps.get('as-nic0')!.size).toBe(0);
    // Its UNMAP: the host unmap finds nothing (the fake says ENOENT) → the unmap text.
    req({ type: T_UNMAP, domain: 1, virtStart: 0x8000000000n, virtEnd: 0x8000000fffn });
    const e2 = log.take().filter((e) => e.kind === 'qemu-error') as unknown as Array<{ data: { message: string } }>;
    expect(e2.map((e) => e.data.message)).toEqual([
      'IOMMU_IOAS_UNMAP failed: No such file or directory',
      'vfio_container_dma_unmap(0x555555552000, 0x8000000000, 0x1000) = -2 (No such file or directory)',
    ]);
    expect(strerror(95)).toBe('Operation not supported');
  });

  it('only endpoints with a notifier are shadowed; MMIO and permission-less mappings are not notified', () => {
    const { be, req } = rig();
    req({ type: T_ATTACH, domain: 2, endpoint: EMU, flags: 0 });
    req({ type: T_MAP, domain: 2, virtStart: 0x1000n, virtEnd: 0x1fffn, physStart: 0x1000n, flags: 3 });
    expect(be.calls).toEqual([]);
    req({ type: T_ATTACH, domain: 1, endpoint: NIC, flags: 0 });
    req({ type: T_MAP, domain: 1, virtStart: 0x1000n, virtEnd: 0x1fffn, physStart: 0x1000n, flags: 4 | 3 }); // MMIO
    req({ type: T_MAP, domain: 1, virtStart: 0x2000n, virtEnd: 0x2fffn, physStart: 0x1000n, flags: 0 }); // no READ/WRITE
    expect(be.calls).toEqual([]);
    req({ type: T_MAP, domain: 1, virtStart: 0x3000n, virtEnd: 0x3fffn, physStart: 0x1000n, flags: 2 });
    expect(be.calls.map((c) => [c.iova, c.readonly])).toEqual([[0x3000n, false]]);
  });

  it('ATTACH replays the domain\'s mappings to a newly attached assigned endpoint; DETACH unmaps them', () => {
    const { log, be, req } = rig();
    req({ type: T_ATTACH, domain: 1, endpoint: EMU, flags: 0 });
    req({ type: T_MAP, domain: 1, virtStart: 0x10000n, virtEnd: 0x10fffn, physStart: 0x1000n, flags: 3 });
    req({ type: T_MAP, domain: 1, virtStart: 0x20000n, virtEnd: 0x21fffn, physStart: 0x2000n, flags: 3 });
    log.take();
    expect(req({ type: T_ATTACH, domain: 1, endpoint: NIC, flags: 0 })).toBe(0);
    const at = log.take().find((e) => e.kind === 'attach')!;
    expect(be.calls.map((c) => [c.op, c.iova, c.size, c.cause])).toEqual([['map', 0x10000n, 0x1000n, at.seq], ['map', 0x20000n, 0x2000n, at.seq]]);
    be.calls.length = 0;
    expect(req({ type: T_DETACH, domain: 1, endpoint: NIC })).toBe(0);
    const de = log.take().find((e) => e.kind === 'detach')!;
    expect(be.calls.map((c) => [c.op, c.iova, c.size, c.cause])).toEqual([['unmap', 0x10000n, 0x1000n, de.seq], ['unmap', 0x20000n, 0x2000n, de.seq]]);
    expect(be.maps.get('as-nic0')!.size).toBe(0);
  });

  it('a re-ATTACH elsewhere unmaps from the old domain (implicit detach), then maps the new one; reset unmaps all', () => {
    const { be, v, req } = rig();
    req({ type: T_ATTACH, domain: 1, endpoint: NIC, flags: 0 });
    req({ type: T_MAP, domain: 1, virtStart: 0x1000n, virtEnd: 0x1fffn, physStart: 0x1000n, flags: 3 });
    req({ type: T_ATTACH, domain: 2, endpoint: EMU, flags: 0 });
    req({ type: T_MAP, domain: 2, virtStart: 0x5000n, virtEnd: 0x5fffn, physStart: 0x1000n, flags: 3 });
    be.calls.length = 0;
    req({ type: T_ATTACH, domain: 2, endpoint: NIC, flags: 0 });
    expect(be.calls.map((c) => [c.op, c.iova])).toEqual([['unmap', 0x1000n], ['map', 0x5000n]]);
    be.calls.length = 0;
    v.reset(false);
    expect(be.calls.map((c) => [c.op, c.iova])).toEqual([['unmap', 0x5000n]]);
    expect(be.maps.get('as-nic0')!.size).toBe(0);
  });

  it('one UNMAP removing several mappings notifies each, on every assigned endpoint of the domain (most recent first), events on and off', () => {
    for (const on of [true, false]) {
      const { log, be, shadow, req } = rig(on);
      be.attachDevice('vf1', 'as-emu');
      shadow.register(EMU, { backend: be, addressSpace: 'as-emu', container: 4 });
      req({ type: T_ATTACH, domain: 1, endpoint: NIC, flags: 0 });
      req({ type: T_ATTACH, domain: 1, endpoint: EMU, flags: 0 });
      req({ type: T_MAP, domain: 1, virtStart: 0x1000n, virtEnd: 0x1fffn, physStart: 0x1000n, flags: 3 });
      req({ type: T_MAP, domain: 1, virtStart: 0x4000n, virtEnd: 0x7fffn, physStart: 0x8000n, flags: 3 });
      log.take();
      be.calls.length = 0;
      expect(req({ type: T_UNMAP, domain: 1, virtStart: 0n, virtEnd: 0xffffn })).toBe(0);
      const ev = log.take();
      const un = ev.filter((e) => e.kind === 'unmap');
      expect(un.length).toBe(on ? 2 : 0);
      expect(be.calls.map((c) => [c.op, c.as, c.iova, c.size, c.cause])).toEqual([
        ['unmap', 'as-emu', 0x1000n, 0x1000n, on ? un[0].seq : undefined],
        ['unmap', 'as-nic0', 0x1000n, 0x1000n, on ? un[0].seq : undefined],
        ['unmap', 'as-emu', 0x4000n, 0x4000n, on ? un[1].seq : undefined],
        ['unmap', 'as-nic0', 0x4000n, 0x4000n, on ? un[1].seq : undefined],
      ]);
      expect(be.maps.get('as-nic0')!.size + be.maps.get('as-emu')!.size).toBe(0);
    }
  });

  it('unregister stops the notifications and register redirects them (no stale endpoint → target)', () => {
    const { be, shadow, req } = rig(false);
    req({ type: T_ATTACH, domain: 1, endpoint: NIC, flags: 0 });
    req({ type: T_MAP, domain: 1, virtStart: 0x1000n, virtEnd: 0x1fffn, physStart: 0x1000n, flags: 3 });
    expect(shadow.has(NIC)).toBe(true);
    shadow.unregister(NIC);
    expect(shadow.has(NIC)).toBe(false);
    req({ type: T_MAP, domain: 1, virtStart: 0x2000n, virtEnd: 0x2fffn, physStart: 0x2000n, flags: 3 });
    be.attachDevice('vf0', 'as-other');
    shadow.register(NIC, { backend: be, addressSpace: 'as-other', container: 5 });
    expect(shadow.has(NIC)).toBe(true);
    req({ type: T_MAP, domain: 1, virtStart: 0x3000n, virtEnd: 0x3fffn, physStart: 0x3000n, flags: 3 });
    req({ type: T_UNMAP, domain: 1, virtStart: 0x3000n, virtEnd: 0x3fffn });
    expect(be.calls.map((c) => [c.op, c.as, c.iova])).toEqual([['map', 'as-nic0', 0x1000n], ['map', 'as-other', 0x3000n], ['unmap', 'as-other', 0x3000n]]);
  });

  it('with events off the backend is still called, without causes', () => {
    const { be, req } = rig(false);
    req({ type: T_ATTACH, domain: 1, endpoint: NIC, flags: 0 });
    req({ type: T_MAP, domain: 1, virtStart: 0x1000n, virtEnd: 0x1fffn, physStart: 0x1000n, flags: 3 });
    req({ type: T_UNMAP, domain: 1, virtStart: 0x1000n, virtEnd: 0x1fffn });
    expect(be.calls.map((c) => [c.op, c.cause, c.errno])).toEqual([['map', undefined, 0], ['unmap', undefined, 0]]);
  });
});
