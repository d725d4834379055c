// The host object table folded from 'host-call' events (core/events/objects.ts): hand-written
// sequences as the backends record them (reference iommufd-vfio-hostiommu.md §1.1, §1.3, §2.3, §4).
import { describe, expect, it } from 'vitest';
import { HostObjectFold, hostObjectsOf, type FoldEvent } from '../../../core/events/objects.ts';
import { ERRNO } from '../../../core/host/errno.ts';

/** A sequence builder: each call appends one host-call event (iommufd unless `backend` says). */
function calls() {
  const events: FoldEvent[] = [];
  const call = (op: string, args: Record<string, unknown>, out: Record<string, unknown> = {}, errno = 0, extra: Record<string, unknown> = {}): FoldEvent => {
    const e: FoldEvent = { seq: events.length, kind: 'host-call', component: 'iommufd0', fields: { backend: 1, errno, call: { op, ioctl: '?', args, out }, ...extra } };
    events.push(e);
    return e;
  };
  const vfio = (op: string, args: Record<string, unknown>, out: Record<string, unknown> = {}, errno = 0): void => {
    events.push({ seq: events.length, kind: 'host-call', component: 'vfio0', fields: { backend: 2, errno, call: { op, ioctl: '?', args, out } } });
  };
  const other = (kind: string): void => {
    events.push({ seq: events.length, kind, component: 'viommu0', fields: {} });
  };
  return { events, call, vfio, other };
}

const brief = (rows: ReturnType<typeof hostObjectsOf>) => rows.map((r) => `${r.type}#${r.id}${r.auto ? ' auto' : ''} users=${r.users} [${r.refs.map((x) => `${x.role}→${x.type}#${x.id}`).join(' ')}]`);

describe('host object fold: iommufd', () => {
  it('alloc, map, bind, attach an auto domain: references and users', () => {
    const s = calls();
    s.call('ioas-alloc', {}, { 'out-ioas-id': 1 });
    s.call('ioas-map', { 'ioas-id': 1, iova: '0x10000', length: '0x2000', flags: ['fixed-iova', 'readable'] }, { iova: '0x10000' });
    s.call('ioas-map', { 'ioas-id': 1, length: '0x4000', flags: ['readable'] }, { iova: '0x4000' });
    s.call('device-bind', { device: 'vf0' }, { 'out-dev-id': 2 });
    s.call('device-attach', { 'dev-id': 2, 'pt-id': 1 }, { 'pt-id': 3 });
    const rows = hostObjectsOf(s.events);
    expect(brief(rows)).toEqual(['ioas#1 users=1 []', 'device#2 users=0 [attached→hwpt-paging#3]', 'hwpt-paging#3 auto users=1 [ioas→ioas#1]']);
    expect(rows[0]).toMatchObject({ areas: 2, bytes: String(0x6000), seq: 0, component: 'iommufd0', backend: 'iommufd' });
    expect(rows[1].label).toBe('vf0');
  });

  it('a failed call changes nothing; destroy EBUSY keeps the IOAS, destroy OK after detach removes it and the auto domain', () => {
    const s = calls();
    s.call('ioas-alloc', {}, { 'out-ioas-id': 1 });
    s.call('device-bind', { device: 'vf0' }, { 'out-dev-id': 2 });
    s.call('device-attach', { 'dev-id': 2, 'pt-id': 1 }, { 'pt-id': 3 });
    s.call('destroy', { id: 1 }, {}, ERRNO.EBUSY);
    s.call('ioas-map', { 'ioas-id': 1, iova: '0x0', length: '0x1000' }, {}, ERRNO.EINVAL);
    const fold = new HostObjectFold();
    for (const e of s.events) fold.apply(e);
    expect(fold.rows().map((r) => r.type)).toEqual(['ioas', 'device', 'hwpt-paging']);
    expect(fold.rows()[0]).toMatchObject({ users: 1, areas: 0, bytes: '0' });
    s.call('device-detach', { 'dev-id': 2 });
    s.call('destroy', { id: 1 });
    for (const e of s.events.slice(5)) fold.apply(e);
    expect(brief(fold.rows())).toEqual(['device#2 users=0 []']);
  });

  it('unmap removes whole areas in the range, unmap-all clears; ID reuse after destroy', () => {
    const s = calls();
    s.call('ioas-alloc', {}, { 'out-ioas-id': 1 });
    for (const iova of [0x1000, 0x3000, 0x8000]) s.call('ioas-map', { 'ioas-id': 1, iova: `0x${iova.toString(16)}`, length: '0x1000' }, { iova: `0x${iova.toString(16)}` });
    s.call('ioas-unmap', { 'ioas-id': 1, iova: '0x0', length: '0x5000' }, { length: '0x2000' });
    expect(hostObjectsOf(s.events)[0]).toMatchObject({ areas: 1, bytes: String(0x1000) });
    s.call('ioas-unmap', { 'ioas-id': 1, iova: '0x0', length: '0xffffffffffffffff' }, { length: '0x1000' });
    expect(hostObjectsOf(s.events)[0]).toMatchObject({ areas: 0, bytes: '0' });
    s.call('destroy', { id: 1 });
    s.call('ioas-alloc', {}, { 'out-ioas-id': 1 });
    expect(hostObjectsOf(s.events)).toMatchObject([{ id: 1, type: 'ioas', seq: 7, areas: 0 }]);
  });

  it('explicit HWPTs: a nest parent, a vIOMMU on it, a nested HWPT and a vDEVICE; destroy order leaf-first', () => {
    const s = calls();
    s.call('ioas-alloc', {}, { 'out-ioas-id': 1 });
    s.call('device-bind', { device: 'vf0' }, { 'out-dev-id': 2 });
    s.call('hwpt-alloc', { 'dev-id': 2, 'pt-id': 1, flags: ['nest-parent', 'dirty-tracking'] }, { 'out-hwpt-id': 3 });
    s.call('viommu-alloc', { 'dev-id': 2, 'hwpt-id': 3, type: 'arm-smmuv3' }, { 'out-viommu-id': 4 });
    s.call('hwpt-alloc', { 'dev-id': 2, 'pt-id': 4, 'data-type': 'arm-smmuv3' }, { 'out-hwpt-id': 5 });
    s.call('vdevice-alloc', { 'viommu-id': 4, 'dev-id': 2, 'virt-id': 7 }, { 'out-vdevice-id': 6 });
    s.call('device-attach', { 'dev-id': 2, 'pt-id': 5 }, { 'pt-id': 5 });
    expect(brief(hostObjectsOf(s.events))).toEqual([
      'ioas#1 users=1 []',
      'device#2 users=1 [attached→hwpt-nested#5]',
      'hwpt-paging#3 users=1 [ioas→ioas#1]',
      'viommu#4 users=2 [hwpt→hwpt-paging#3 dev→device#2]',
      'hwpt-nested#5 users=1 [viommu→viommu#4]',
      'vdevice#6 users=0 [viommu→viommu#4 dev→device#2]',
    ]);
    expect(hostObjectsOf(s.events)[2]).toMatchObject({ flags: ['nest-parent', 'dirty-tracking'] });
    s.call('destroy', { id: 4 }, {}, ERRNO.EBUSY);
    s.call('destroy', { id: 6 });
    s.call('device-detach', { 'dev-id': 2 });
    s.call('destroy', { id: 5 });
    s.call('destroy', { id: 4 });
    // An explicit HWPT stays after its last device leaves (only auto domains go).
    expect(brief(hostObjectsOf(s.events))).toEqual(['ioas#1 users=1 []', 'device#2 users=0 []', 'hwpt-paging#3 users=0 [ioas→ioas#1]']);
  });

  it('replace moves the device and destroys the auto domain it left', () => {
    const s = calls();
    s.call('ioas-alloc', {}, { 'out-ioas-id': 1 });
    s.call('ioas-alloc', {}, { 'out-ioas-id': 2 });
    s.call('device-bind', { device: 'vf0' }, { 'out-dev-id': 3 });
    s.call('device-attach', { 'dev-id': 3, 'pt-id': 1 }, { 'pt-id': 4 });
    s.call('device-replace', { 'dev-id': 3, 'pt-id': 2 }, { 'pt-id': 5 });
    expect(brief(hostObjectsOf(s.events))).toEqual(['ioas#1 users=0 []', 'ioas#2 users=1 []', 'device#3 users=0 [attached→hwpt-paging#5]', 'hwpt-paging#5 auto users=1 [ioas→ioas#2]']);
  });

  it('reads IDs from the event columns when out does not name them, and ignores other kinds', () => {
    const s = calls();
    s.call('ioas-alloc', {}, {}, 0, { id: 9 });
    s.other('request');
    s.call('ioas-map', { flags: ['readable'] }, {}, 0, { id: 9, iova: 0x2000n, length: 0x1000n });
    expect(hostObjectsOf(s.events)).toMatchObject([{ id: 9, areas: 1, bytes: '4096' }]);
  });
});

describe('host object fold: VFIO type1', () => {
  it('container, group, set-iommu, map and unmap (ALL), failed calls ignored', () => {
    const s = calls();
    s.vfio('container-open', {}, { container: 1 });
    s.vfio('group-set-container', { group: 5, container: 1 });
    s.vfio('set-iommu', { container: 1, type: 'type1v2' });
    s.vfio('map-dma', { container: 1, iova: '0x0', size: '0x1000', flags: ['read', 'write'] });
    s.vfio('map-dma', { container: 1, iova: '0x0', size: '0x1000', flags: ['read'] }, {}, ERRNO.EEXIST);
    s.vfio('map-dma', { container: 1, iova: '0x2000', size: '0x2000', flags: ['read'] });
    let rows = hostObjectsOf(s.events);
    expect(brief(rows)).toEqual(['vfio-container#1 users=1 []', 'vfio-group#5 users=0 [container→vfio-container#1]']);
    expect(rows[0]).toMatchObject({ areas: 2, bytes: String(0x3000), iommuType: 'type1v2', backend: 'vfio-type1' });
    s.vfio('unmap-dma', { container: 1, iova: '0x0', size: '0x2000' }, { size: '0x1000' });
    expect(hostObjectsOf(s.events)[0]).toMatchObject({ areas: 1, bytes: String(0x2000) });
    s.vfio('unmap-dma', { container: 1, iova: '0x0', size: '0x0', flags: ['all'] }, { size: '0x2000' });
    s.vfio('group-unset-container', { group: 5 });
    rows = hostObjectsOf(s.events);
    expect(brief(rows)).toEqual(['vfio-container#1 users=0 []']);
    expect(rows[0]).toMatchObject({ areas: 0, bytes: '0' });
  });
});

describe('host object fold: events as the backends record them', () => {
  // The 'host-call' payloads of a run of iommufd and VFIO-compat steps (iommu-lab export), verbatim.
  const recorded = (backend: number, errno: number, id: number, call: Record<string, unknown>) => ({ backend, errno, id, call });
  const run: [string, Record<string, unknown>][] = [
    ['iommu-group', { group: 0, data: { iommu: 'smmu0', devices: ['vf0'], why: 'isolated' } }],
    ['iommu-group', { group: 1, data: { iommu: 'smmu0', devices: ['vf1'], why: 'isolated' } }],
    ['host-call', recorded(1, 0, 1, { op: 'ioas-alloc', ioctl: 'IOMMU_IOAS_ALLOC', args: {}, out: { 'out-ioas-id': 1 } })],
    ['host-call', recorded(1, 0, 2, { op: 'device-bind', ioctl: 'VFIO_DEVICE_BIND_IOMMUFD', args: { device: 'vf0' }, out: { 'out-dev-id': 2 } })],
    ['host-call', recorded(1, 0, 1, { op: 'hwpt-alloc', ioctl: 'IOMMU_HWPT_ALLOC', args: { flags: 3, 'dev-id': 2, 'pt-id': 1, 'data-type': 0, 'data-len': 0 }, out: { 'out-hwpt-id': 3 } })],
    ['host-call', recorded(1, 0, 3, { op: 'hwpt-set-dirty-tracking', ioctl: 'IOMMU_HWPT_SET_DIRTY_TRACKING', args: { 'hwpt-id': 3, flags: 1 }, out: {} })],
    ['host-call', recorded(1, 0, 3, { op: 'viommu-alloc', ioctl: 'IOMMU_VIOMMU_ALLOC', args: { type: 1, 'dev-id': 2, 'hwpt-id': 3 }, out: { 'out-viommu-id': 4 } })],
    ['host-call', recorded(1, 0, 4, { op: 'vdevice-alloc', ioctl: 'IOMMU_VDEVICE_ALLOC', args: { 'viommu-id': 4, 'dev-id': 2, 'virt-id': '0x7' }, out: { 'out-vdevice-id': 5 } })],
    ['host-call', recorded(1, 0, 2, { op: 'device-attach', ioctl: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', args: { 'dev-id': 2, 'pt-id': 3 }, out: { 'pt-id': 3 } })],
    ['host-call', recorded(1, 16, 3, { op: 'destroy', ioctl: 'IOMMU_DESTROY', args: { id: 3 }, out: {} })],
    ['host-call', recorded(3, 0, 1, { op: 'container-open', ioctl: 'open(/dev/vfio/vfio)', args: {}, out: { container: 1 } })],
    ['host-call', recorded(3, 0, 1, { op: 'group-set-container', ioctl: 'VFIO_GROUP_SET_CONTAINER', args: { group: 'vf1', container: 1 }, out: {} })],
    ['host-call', recorded(3, 0, 1, { op: 'set-iommu', ioctl: 'VFIO_SET_IOMMU', args: { container: 1, type: 3 }, out: {} })],
    ['host-call', recorded(3, 0, 1, { op: 'map-dma', ioctl: 'VFIO_IOMMU_MAP_DMA', args: { container: 1, argsz: 32, flags: 3, vaddr: '0x0', iova: '0x0', size: '0x1000' }, out: {} })],
    ['host-call', recorded(3, 0, 1, { op: 'map-dma', ioctl: 'VFIO_IOMMU_MAP_DMA', args: { container: 1, argsz: 32, flags: 3, vaddr: '0x2000', iova: '0x2000', size: '0x1000' }, out: {} })],
    ['host-call', recorded(3, 0, 1, { op: 'unmap-dma', ioctl: 'VFIO_IOMMU_UNMAP_DMA', args: { container: 1, argsz: 24, flags: 0, iova: '0x0', size: '0x2000' }, out: { size: '0x1000' } })],
  ];

  it('decodes numeric flags and IOMMU types, and names a group by its member device', () => {
    const rows = hostObjectsOf(run.map(([kind, fields], seq) => ({ seq, kind, component: 'iommufd0', fields })));
    expect(brief(rows)).toEqual([
      'ioas#1 users=1 []',
      'device#2 users=1 [attached→hwpt-paging#3]',
      'hwpt-paging#3 users=2 [ioas→ioas#1]',
      'viommu#4 users=1 [hwpt→hwpt-paging#3 dev→device#2]',
      'vdevice#5 users=0 [viommu→viommu#4 dev→device#2]',
      'vfio-container#1 users=1 []',
      'vfio-group#1 users=0 [container→vfio-container#1]',
    ]);
    expect(rows[2]).toMatchObject({ flags: ['nest-parent', 'dirty-tracking'], dirtyTracking: true });
    expect(rows[4].label).toBe('virt-id 0x7');
    expect(rows[5]).toMatchObject({ backend: 'iommufd-vfio-compat', iommuType: 'type1v2', areas: 1, bytes: '4096' });
    expect(rows[6].label).toBe('vf1');
  });

  it("QEMU's legacy VFIO plug (vfio-type1): container, group 0 set to it, type1v2, the shadowed mapping; the failed map left out", () => {
    const legacy: [number, Record<string, unknown>][] = [
      [0, { op: 'container-open', ioctl: 'open(/dev/vfio/vfio)', args: {}, out: { container: 1 } }],
      [0, { op: 'check-extension', ioctl: 'VFIO_CHECK_EXTENSION', args: { container: 1, extension: 3 }, out: { value: 1 } }],
      [0, { op: 'group-set-container', ioctl: 'VFIO_GROUP_SET_CONTAINER', args: { group: 0, container: 1 }, out: {} }],
      [0, { op: 'set-iommu', ioctl: 'VFIO_SET_IOMMU', args: { container: 1, type: 3 }, out: {} }],
      [0, { op: 'device-open', ioctl: 'VFIO_GROUP_GET_DEVICE_FD', args: { device: 'vf0' }, out: {} }],
      [0, { op: 'map-dma', ioctl: 'VFIO_IOMMU_MAP_DMA', args: { container: 1, argsz: 32, flags: 3, vaddr: '0x7f0080000000', iova: '0x10000', size: '0x2000' }, out: {} }],
      [22, { op: 'map-dma', ioctl: 'VFIO_IOMMU_MAP_DMA', args: { container: 1, argsz: 32, flags: 3, vaddr: '0x7f0090000000', iova: '0x8000000000', size: '0x1000' }, out: {} }],
    ];
    const rows = hostObjectsOf(legacy.map(([errno, call], seq) => ({ seq, kind: 'host-call', component: 'vfio0', fields: { backend: 2, errno, id: 1, call } })));
    expect(brief(rows)).toEqual(['vfio-container#1 users=1 []', 'vfio-group#0 users=0 [container→vfio-container#1]']);
    expect(rows[0]).toMatchObject({ backend: 'vfio-type1', iommuType: 'type1v2', areas: 1, bytes: String(0x2000) });
  });

  it('keeps a map-dma with VADDR (an update, not a mapping) and unmap with ALL (flags 2) out of / off the areas', () => {
    const s = calls();
    s.vfio('container-open', {}, { container: 1 });
    s.vfio('map-dma', { container: 1, flags: 3, iova: '0x0', size: '0x1000' });
    s.vfio('map-dma', { container: 1, flags: 4, iova: '0x0', size: '0x1000' });
    expect(hostObjectsOf(s.events)[0]).toMatchObject({ areas: 1 });
    s.vfio('unmap-dma', { container: 1, flags: 2, iova: '0x0', size: '0x0' });
    expect(hostObjectsOf(s.events)[0]).toMatchObject({ areas: 0, bytes: '0' });
  });
});

describe('host object fold: checkpoints', () => {
  it('a clone is independent, and folding on from it gives the same table as folding from the start', () => {
    const s = calls();
    s.call('ioas-alloc', {}, { 'out-ioas-id': 1 });
    for (let i = 0; i < 100; i++) s.call('ioas-map', { 'ioas-id': 1, iova: `0x${(i * 0x1000).toString(16)}`, length: '0x1000' });
    const fold = new HostObjectFold();
    for (const e of s.events.slice(0, 50)) fold.apply(e);
    const cp = fold.clone();
    for (const e of s.events.slice(50)) fold.apply(e);
    expect(cp.rows()[0].areas).toBe(49);
    expect(cp.seq).toBe(49);
    for (const e of s.events.slice(50)) cp.apply(e);
    expect(cp.rows()).toEqual(fold.rows());
    expect(fold.rows()[0].areas).toBe(100);
  });
});

describe('host object fold: emulated devices', () => {
  it('an mdev (a member of an emulated group) binds as an ACCESS, attached to the IOAS itself (no HWPT)', () => {
    const s = calls();
    s.events.push({ seq: 0, kind: 'iommu-group', component: 'iommufd0', fields: { group: 7, data: { iommu: null, devices: ['mdev0'], why: 'mdev' } } });
    s.events.push({ seq: 1, kind: 'iommu-group', component: 'dmar0', fields: { group: 1, data: { iommu: 'dmar0', devices: ['vf1'], why: 'ACS' } } });
    s.call('ioas-alloc', {}, { 'out-ioas-id': 1 });
    s.call('device-bind', { device: 'mdev0' }, { 'out-dev-id': 2 });
    s.call('device-attach', { 'dev-id': 2, 'pt-id': 1 }, { 'pt-id': 1 });
    s.call('device-bind', { device: 'vf1' }, { 'out-dev-id': 3 });
    s.events.forEach((e, i) => (e.seq = i));
    expect(brief(hostObjectsOf(s.events))).toEqual(['ioas#1 users=1 []', 'access#2 users=0 [attached→ioas#1]', 'device#3 users=0 []']);
  });
});
