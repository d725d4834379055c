/**
 * Host steps end to end (issue 7 §2-§3): scenarios scripting iommufd and VFIO calls run on the
 * backend components, errno for errno as the engines answer, `out` names bound, expectations held
 * and failed, host DMA through the physical IOMMU component, the computed groups, 'host-call'
 * events and metrics; the backend components' QEMU helpers (HostBackend).
 */
import { describe, expect, test } from 'vitest';
import { formatEvent } from '../../../core/events/format.ts';
import type { SeqEvent } from '../../../core/events/sink.ts';
import { EventLog } from '../../../core/events/sink.ts';
import { hostBackends } from '../../../core/host/backend/from-platform.ts';
import { IommufdBackendComponent, VfioType1BackendComponent } from '../../../core/host/components/backend.ts';
import { resolveHost } from '../../../core/host/platform/host.ts';
import { Machine } from '../../../core/machine/machine.ts';
import { runScenarioText } from '../../../core/run/runner.ts';

const HOST = `host:
  iommus:
    - {name: dmar0, model: intel-vtd, aw-bits: 39}
  devices:
    - {name: rp0, bdf: "0000:00:1c.0", type: root-port, iommu: dmar0, acs: false}
    - {name: vf0, bdf: "0000:3b:00.0", type: vfio-pci, iommu: dmar0, behind: rp0}
    - {name: vf1, bdf: "0000:3c:00.0", type: vfio-pci, iommu: dmar0}
    - {name: mdev0, type: mdev, parent: vf1}
`;

function run(text: string) {
  const { diagnostics, run } = runScenarioText(text, 't.yaml');
  expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  run!.advance(1e9);
  const events = run!.takeEvents();
  return { run: run!, events, results: run!.stepResults(), lines: events.map((e: SeqEvent) => `${e.component ?? ''} ${formatEvent(e.kind, e as never)}`) };
}

describe('the issue example (iommufd backend: vfio steps on its VFIO compatibility)', () => {
  const text = `name: issue
${HOST}backend: iommufd
steps:
  - iommufd: {op: ioas-alloc, out: ioas1}
    expect: OK
  - iommufd: {op: ioas-map, ioas: ioas1, iova: 0x10000, length: 0x2000, flags: [fixed-iova, readable, writeable]}
  - iommufd: {op: ioas-map, ioas: ioas1, length: 0x4000, flags: [readable], out: buf}
    expect: {errno: OK, iova: 0x4000}
  - iommufd: {op: ioas-unmap, ioas: ioas1, iova: 0x10000, length: 0x1000}
    expect: ENOENT
  - iommufd: {op: ioas-iova-ranges, ioas: ioas1, num-iovas: 0}
    expect: {errno: EMSGSIZE, num-iovas: 1}
  - iommufd: {op: device-bind, device: vf0, out: dev0}
  - iommufd: {op: device-attach, dev: dev0, pt: ioas1, out: hwpt0}
  - iommufd: {op: destroy, id: ioas1}
    expect: EBUSY
  - vfio: {op: container-open, out: c0}
  - vfio: {op: group-set-container, group: vf1, container: c0}
  - vfio: {op: set-iommu, container: c0, type: type1v2}
  - vfio: {op: map-dma, container: c0, iova: 0x0, size: 0x1000, flags: [read, write]}
  - vfio: {op: unmap-dma, container: c0, iova: 0x0, size: 0x2000}
    expect: {errno: OK, size: 0x1000}
  - host-dma: {device: vf0, iova: 0x10000, size: 8, access: write}
    expect: {translated: 0x10000}
  - host-dma: {device: vf0, iova: 0x20000, size: 8, access: write}
    expect: {fault: {reason: unmapped, address: 0x20000}}
  - host-dma: {device: vf0, iova: buf, size: 8, access: write}
    expect: {fault: {reason: PERMISSION}}
  - host-dma: {device: vf0, iova: buf, size: 8, access: write}
    expect: {fault: {reason: blocked}}
`;

  test('every expectation holds; results carry errno and outputs', () => {
    const { results } = run(text);
    expect(results.filter((r) => r.expectation === false).map((r) => [r.index, r.message])).toEqual([[16, 'expected {"fault":{"reason":"blocked"}}, got {"fault":{"reason":"permission","address":"0x4000"}}']]);
    expect(results.map((r) => r.errno ?? '-')).toEqual(['OK', 'OK', 'OK', 'ENOENT', 'EMSGSIZE', 'OK', 'OK', 'EBUSY', 'OK', 'OK', 'OK', 'OK', 'OK', '-', '-', '-', '-']);
    expect(results[2].outputs).toEqual({ iova: '0x4000' });
    expect(results[4].outputs).toEqual({ 'num-iovas': 1 });
    expect(results[6].outputs).toEqual({ 'pt-id': 3 });
    expect(results[12].outputs).toEqual({ size: '0x1000' });
    expect(results[14].outcome).toEqual({ fault: { reason: 'unmapped', address: '0x20000' } });
  });

  test('the run shows the computed groups, each uAPI call and the host DMA in the physical IOMMU', () => {
    const { lines, events } = run(text);
    expect(lines.slice(0, 3)).toEqual([
      'dmar0 IOMMU GROUP 0 dmar0 [rp0, vf0] (a port without ACS above them: no isolation (pci_device_group, pci_acs_path_enabled))',
      'dmar0 IOMMU GROUP 1 dmar0 [vf1] (isolated: ACS up to the root port (pci_device_group))',
      'iommufd0 IOMMU GROUP 2 (emulated) [mdev0] (mdev: an emulated group of its own (vfio_register_emulated_iommu_dev))',
    ]);
    expect(lines).toContain('iommufd0 IOMMU_IOAS_MAP ioas-id=1 flags=4 user-va=0x7f0000000000 length=0x4000 → OK iova=0x4000');
    expect(lines).toContain('iommufd0 IOMMU_IOAS_UNMAP ioas-id=1 iova=0x10000 length=0x1000 → ENOENT');
    expect(lines).toContain('iommufd0 VFIO_IOMMU_UNMAP_DMA (compat) container=1 argsz=24 flags=0 iova=0x0 size=0x2000 → OK size=0x1000');
    expect(lines).toContain('dmar0 HOST DMA vf0 3b:00.0 write 0x10000 8B -> 0x10000 domain=3 dmar0');
    expect(lines).toContain('dmar0 HOST FAULT dmar0 vf0 3b:00.0 addr=0x20000 write: unmapped');
    const calls = events.filter((e) => e.kind === 'host-call');
    expect(calls.every((e) => e.kind === 'host-call' && e.cause === undefined)).toBe(true);
    expect(calls.filter((e) => e.kind === 'host-call' && e.backend === 3).length).toBe(5);
  });

  test('uAPI calls are tallied per backend component by ioctl then errno', () => {
    const m = run(text).run.metrics().components!.find((c) => c.component === 'iommufd0')!;
    expect(m.metrics[0]).toMatchObject({ id: 'hostCalls', value: 13 });
    expect((m.metrics[0].parts as Record<string, Record<string, number>>).IOMMU_IOAS_UNMAP).toEqual({ ENOENT: 1 });
  });
});

describe('errno for errno as the engines answer', () => {
  test('type1: overlap EEXIST, v2 unmap rules, and the 2024/2025 wrap errno', () => {
    const steps = (kernel: string) => `name: t1
kernel: '${kernel}'
${HOST}backend: vfio-type1
steps:
  - vfio: {op: container-open, out: c}
  - vfio: {op: group-set-container, group: vf1, container: c}
  - vfio: {op: set-iommu, container: c, type: type1v2}
  - vfio: {op: map-dma, container: c, iova: 0x100000, size: 0x2000, flags: [read, write]}
  - vfio: {op: map-dma, container: c, iova: 0x101000, size: 0x1000, flags: [read]}
    expect: EEXIST
  - vfio: {op: unmap-dma, container: c, iova: 0x101000, size: 0x1000}
    expect: EINVAL
  - vfio: {op: map-dma, container: c, iova: 0xfffffffffffff000, size: 0x2000, flags: [read]}
  - vfio: {op: get-info, container: c}
    expect: {errno: OK, iova-pgsizes: 0x40201000}
`;
    const a = run(steps('2025')).results;
    const b = run(steps('2024')).results;
    expect(a.map((r) => r.errno)).toEqual(['OK', 'OK', 'OK', 'OK', 'EEXIST', 'EINVAL', 'EOVERFLOW', 'OK']);
    expect(b[6].errno).toBe('EINVAL');
    expect(a[7].outputs).toMatchObject({ avail: 65534, 'iova-ranges': expect.any(Array) });
  });

  test('a failed expectation is an expectation event and a failed result; an unbound (failed) out name is ID 0 → ENOENT', () => {
    const { results, events } = run(`name: f
steps:
  - iommufd: {op: ioas-alloc, out: a}
  - iommufd: {op: ioas-map, ioas: a, iova: 0x1000, length: 0x1000, flags: [fixed-iova]}
    expect: OK
  - iommufd: {op: hwpt-alloc, dev: 7, pt: a, out: h}
    expect: ENOENT
  - iommufd: {op: hwpt-set-dirty-tracking, hwpt: h, enable: true}
    expect: ENOENT
`);
    expect(results.map((r) => [r.errno, r.expectation])).toEqual([
      ['OK', undefined],
      ['EINVAL', false],
      ['ENOENT', true],
      ['ENOENT', true],
    ]);
    expect(results[1].message).toBe('expected OK, got EINVAL');
    const ex = events.filter((e) => e.kind === 'expectation');
    expect(ex.length).toBe(3);
  });
});

describe('both engines in one scenario, one host', () => {
  test('vfio-type1 backend with iommufd steps: a group in a type1 container cannot be bound through iommufd (EBUSY), another can', () => {
    const { results, run: r } = run(`name: both
${HOST}backend: vfio-type1
steps:
  - vfio: {op: container-open, out: c}
  - vfio: {op: group-set-container, group: vf1, container: c}
  - iommufd: {op: device-bind, device: vf1}
    expect: EBUSY
  - iommufd: {op: device-bind, device: vf0, out: d}
    expect: {errno: OK, out-dev-id: 1}
  - vfio: {op: group-set-container, group: vf0, container: c}
    expect: EBUSY
`);
    expect(results.map((x) => x.expectation)).toEqual([undefined, undefined, true, true, true]);
    expect(r.machine.components('backend').map((c) => c.id)).toEqual(['vfio0', 'iommufd0']);
  });

  test("iommufd's VFIO compatibility keeps its own rules: an empty-range unmap is ENOENT in 2024, success with size 0 in 2025", () => {
    const steps = (kernel: string) => `name: compat
kernel: '${kernel}'
${HOST}steps:
  - vfio: {op: container-open, out: c}
  - vfio: {op: group-set-container, group: vf1, container: c}
  - vfio: {op: set-iommu, container: c, type: type1v2}
  - vfio: {op: unmap-dma, container: c, iova: 0x100000, size: 0x1000}
`;
    expect(run(steps('2024')).results[3]).toMatchObject({ errno: 'ENOENT', outputs: { size: '0x0' } });
    expect(run(steps('2025')).results[3]).toMatchObject({ errno: 'OK', outputs: { size: '0x0' } });
  });
});

describe('expect names an out binding for an object-ID output', () => {
  test('pt-id / out-hwpt-id / out-dev-id / container compare against the ID bound to the name; a mismatch says which name and value', () => {
    const { results } = run(`name: ids
${HOST}steps:
  - iommufd: {op: ioas-alloc, out: ioas1}
  - iommufd: {op: device-bind, device: vf0, out: dev0}
  - iommufd: {op: device-attach, dev: dev0, pt: ioas1, out: hwpt0}
  - iommufd: {op: device-attach, dev: dev0, pt: ioas1}
    expect: {errno: OK, pt-id: hwpt0}
  - iommufd: {op: hwpt-alloc, dev: dev0, pt: ioas1, out: hwpt1}
    expect: {out-hwpt-id: 4}
  - iommufd: {op: device-replace, dev: dev0, pt: hwpt1}
    expect: {pt-id: hwpt1}
  - iommufd: {op: device-replace, dev: dev0, pt: hwpt1}
    expect: {pt-id: hwpt0}
  - iommufd: {op: device-bind, device: vf1, out: dev1}
    expect: {out-dev-id: dev0}
  - vfio: {op: container-open, out: c0}
  - vfio: {op: container-open}
    expect: {container: c0}
`);
    expect(results.map((r) => r.expectation)).toEqual([undefined, undefined, undefined, true, true, true, false, false, undefined, false]);
    expect(results[3].message).toBe('OK pt-id=hwpt0 (0x3) as expected');
    expect(results[6].message).toBe('pt-id: expected hwpt0 (0x3), got "0x4"');
    expect(results[7].message).toBe('out-dev-id: expected dev0 (0x2), got "0x3"');
    expect(results[9].message).toBe('container: expected c0 (0x1), got "0x2"');
  });

  test('a name rebound by the step itself compares against its earlier value; a name bound by a failed step is ID 0', () => {
    const { results } = run(`name: rebind
${HOST}steps:
  - iommufd: {op: ioas-alloc, out: a}
  - iommufd: {op: ioas-alloc, out: a}
    expect: {out-ioas-id: a}
  - iommufd: {op: ioas-alloc, out: b}
  - iommufd: {op: device-bind, device: vf0, out: d}
  - iommufd: {op: device-bind, device: vf0, out: d2}
    expect: EINVAL
  - iommufd: {op: device-attach, dev: d, pt: b}
    expect: {pt-id: d2}
`);
    expect(results.map((r) => r.expectation)).toEqual([undefined, false, undefined, undefined, true, false]);
    expect(results[1].message).toBe('out-ioas-id: expected a (0x1), got "0x2"');
    expect(results[5].message).toBe('pt-id: expected d2 (0x0), got "0x5"');
  });
});

describe('VFIO group path vs cdev path (drivers/vfio/group.c cdev_device_open_cnt, commit 270bf4c019b9)', () => {
  test.each(['iommufd', 'vfio-type1'])('backend %s: a cdev-bound member makes group-set-container EBUSY; unbind frees it; the open group file makes device-bind EBUSY; unset frees it', (backend) => {
    const { results } = run(`name: exclusion
${HOST}backend: ${backend}
steps:
  - iommufd: {op: device-bind, device: vf0, out: dev0}
    expect: OK
  - vfio: {op: container-open, out: c0}
  - vfio: {op: group-set-container, group: vf0, container: c0}
    expect: EBUSY
  - iommufd: {op: device-unbind, dev: dev0}
  - vfio: {op: group-set-container, group: vf0, container: c0}
    expect: OK
  - iommufd: {op: device-bind, device: vf0}
    expect: EBUSY
  - vfio: {op: group-unset-container, group: vf0}
  - iommufd: {op: device-bind, device: vf0}
    expect: {errno: OK, out-dev-id: 1}
`);
    expect(results.map((r) => r.errno)).toEqual(['OK', 'OK', 'EBUSY', 'OK', 'OK', 'EBUSY', 'OK', 'OK']);
    expect(results.filter((r) => r.expectation === false)).toEqual([]);
  });
});

describe('the backend components as QEMU drives them (HostBackend)', () => {
  const platform = () => {
    const r = resolveHost({ iommus: [{ name: 'dmar0', model: 'intel-vtd', 'aw-bits': 39 }], devices: [{ name: 'vf0', bdf: '0000:3b:00.0', type: 'vfio-pci', iommu: 'dmar0' }] });
    if (!r.ok) throw new Error('platform');
    return r.host;
  };

  test('iommufd: attach = bind, IOAS, attach, IOVA ranges twice (EMSGSIZE first), GET_HW_INFO; unmap ENOENT counts as success', () => {
    const log = new EventLog();
    const m = new Machine(log);
    const c = m.add(new IommufdBackendComponent(hostBackends(platform())));
    expect(m.realize()).toBeNull();
    const r = c.attachDevice('vf0', 'viommu0-as');
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.attachment).toMatchObject({ backend: 'iommufd', devId: 1, container: 2, hwptId: 3, pgsizes: 0x1000n });
    expect(r.attachment.iovaRanges.at(-1)!.end).toBe(0x7fffffffffn);
    expect(c.dmaMap('viommu0-as', 0x10000n, 0x1000n, 0x7f0000010000n, false, 42)).toBe(0);
    expect(c.dmaUnmap('viommu0-as', 0x80000n, 0x1000n, 43)).toBe(0);
    const calls = log.take().filter((e) => e.kind === 'host-call');
    expect(calls.map((e) => formatEvent('host-call', e as never).split(' ')[0])).toEqual([
      'VFIO_DEVICE_BIND_IOMMUFD',
      'IOMMU_IOAS_ALLOC',
      'VFIO_DEVICE_ATTACH_IOMMUFD_PT',
      'IOMMU_IOAS_IOVA_RANGES',
      'IOMMU_IOAS_IOVA_RANGES',
      'IOMMU_GET_HW_INFO',
      'IOMMU_IOAS_MAP',
      'IOMMU_IOAS_UNMAP',
    ]);
    expect(calls.slice(-2).map((e) => (e.kind === 'host-call' ? [e.errno, e.cause] : []))).toEqual([
      [0, 42n],
      [2, 43n],
    ]);
  });

  test('type1: attach opens a container (type1v2), a map over an existing one gets EBUSY…: the legacy helper unmaps and retries once', () => {
    const log = new EventLog();
    const m = new Machine(log);
    const c = m.add(new VfioType1BackendComponent(hostBackends(platform())));
    m.realize();
    const r = c.attachDevice('vf0', 'memory');
    expect(r.ok && r.attachment).toMatchObject({ backend: 'vfio-type1', container: 1, pgsizes: 0x40201000n });
    expect(c.dmaMap('memory', 0x10000n, 0x1000n, 0x10000n, false)).toBe(0);
    expect(c.dmaMap('memory', 0x10000n, 0x1000n, 0x20000n, true)).toBe(17); // EEXIST: type1 gives no EBUSY here, no retry
    expect(c.dmaUnmap('memory', 0x10000n, 0x1000n)).toBe(0);
    const ioctls = log.take().filter((e) => e.kind === 'host-call').map((e) => formatEvent('host-call', e as never).split(' ')[0]);
    expect(ioctls).toEqual(['open(/dev/vfio/vfio)', 'VFIO_CHECK_EXTENSION', 'VFIO_GROUP_SET_CONTAINER', 'VFIO_SET_IOMMU', 'VFIO_GROUP_GET_DEVICE_FD', 'VFIO_IOMMU_GET_INFO', 'VFIO_IOMMU_MAP_DMA', 'VFIO_IOMMU_MAP_DMA', 'VFIO_IOMMU_UNMAP_DMA']);
  });
});
