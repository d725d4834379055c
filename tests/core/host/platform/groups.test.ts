import { describe, expect, it } from 'vitest';
import { parseBdf, resolveHost, type DeviceDesc, type HostDesc } from '../../../../core/host/platform/host.ts';

const IOMMUS = [
  { name: 'dmar0', model: 'intel-vtd', 'aw-bits': 39 },
  { name: 'dmar1', model: 'intel-vtd' },
];

function groups(devices: DeviceDesc[]) {
  const r = resolveHost({ iommus: IOMMUS, devices });
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.host;
}
const members = (h: ReturnType<typeof groups>) => h.groups.map((g) => [g.id, g.members]);

describe('IOMMU groups (Linux pci_device_group rules)', () => {
  it('issue 7 §2 example: a root port without ACS shares its group with what is below it; an mdev gets an emulated group', () => {
    const h = groups([
      { name: 'rp0', bdf: '0000:00:1c.0', type: 'root-port', iommu: 'dmar0', acs: false },
      { name: 'vf0', bdf: '0000:3b:00.0', type: 'vfio-pci', iommu: 'dmar0', behind: 'rp0' },
      { name: 'vf1', bdf: '0000:3b:00.1', type: 'vfio-pci', behind: 'rp0' },
      { name: 'mdev0', type: 'mdev', parent: 'vf1' },
    ]);
    expect(members(h)).toEqual([
      [0, ['rp0', 'vf0', 'vf1']],
      [1, ['mdev0']],
    ]);
    expect(h.groupById.get(1)).toMatchObject({ iommu: null, emulated: true });
    const vf1 = h.deviceByName.get('vf1')!;
    expect(vf1.iommu).toBe('dmar0'); // inherited through behind
    const m = h.deviceByName.get('mdev0')!;
    expect(m).toMatchObject({ iommu: null, bdf: null, parent: 'vf1', aperture: null, usableRanges: [], reservedRegions: [], pgsizeBitmap: 0n });
  });

  it('ACS on every port: every function its own group', () => {
    const h = groups([
      { name: 'rp0', bdf: '00:1c.0', type: 'root-port', iommu: 'dmar0' },
      { name: 'sw0', bdf: '01:00.0', type: 'switch-port', behind: 'rp0', acs: true },
      { name: 'a', bdf: '02:00.0', type: 'vfio-pci', behind: 'sw0' },
      { name: 'b', bdf: '02:00.1', type: 'vfio-pci', behind: 'sw0' },
    ]);
    expect(members(h)).toEqual([
      [0, ['rp0']],
      [1, ['sw0']],
      [2, ['a']],
      [3, ['b']],
    ]);
  });

  it('a switch port without ACS under an ACS root port: the switch port and what is below it share a group', () => {
    const h = groups([
      { name: 'rp0', bdf: '00:1c.0', type: 'root-port', iommu: 'dmar0', acs: true },
      { name: 'sw0', bdf: '01:00.0', type: 'switch-port', behind: 'rp0', acs: false },
      { name: 'a', bdf: '02:00.0', type: 'vfio-pci', behind: 'sw0' },
      { name: 'b', bdf: '02:00.1', type: 'endpoint', behind: 'sw0' },
    ]);
    expect(members(h)).toEqual([
      [0, ['rp0']],
      [1, ['sw0', 'a', 'b']],
    ]);
  });

  it('a root port without ACS above an ACS switch port still takes everything below (path ACS fails upstream)', () => {
    const h = groups([
      { name: 'rp0', bdf: '00:1c.0', type: 'root-port', iommu: 'dmar0', acs: false },
      { name: 'sw0', bdf: '01:00.0', type: 'switch-port', behind: 'rp0', acs: true },
      { name: 'a', bdf: '02:00.0', type: 'vfio-pci', behind: 'sw0' },
    ]);
    expect(members(h)).toEqual([[0, ['rp0', 'sw0', 'a']]]);
  });

  it('devices behind a PCIe-to-PCI bridge share the bridge group even under ACS ports, and are marked behindPciBridge', () => {
    const h = groups([
      { name: 'rp0', bdf: '00:1c.0', type: 'root-port', iommu: 'dmar0' },
      { name: 'br0', bdf: '01:00.0', type: 'pcie-to-pci-bridge', behind: 'rp0' },
      { name: 'a', bdf: '02:01.0', type: 'vfio-pci', behind: 'br0' },
      { name: 'b', bdf: '02:02.0', type: 'vfio-pci', behind: 'br0' },
      { name: 'c', bdf: '00:02.0', type: 'vfio-pci', iommu: 'dmar0' },
    ]);
    expect(members(h)).toEqual([
      [0, ['c']],
      [1, ['rp0']],
      [2, ['br0', 'a', 'b']],
    ]);
    expect(h.deviceByName.get('a')!.behindPciBridge).toBe(true);
    expect(h.deviceByName.get('c')!.behindPciBridge).toBe(false);
  });

  it('numbering is by BDF, not by description order', () => {
    const devs: DeviceDesc[] = [
      { name: 'z', bdf: '0000:80:00.0', type: 'vfio-pci', iommu: 'dmar1' },
      { name: 'y', bdf: '0000:3b:00.0', type: 'vfio-pci', iommu: 'dmar0' },
      { name: 'x', bdf: '0001:00:00.0', type: 'vfio-pci', iommu: 'dmar1' },
    ];
    const a = members(groups(devs));
    const b = members(groups([...devs].reverse()));
    expect(a).toEqual([
      [0, ['y']],
      [1, ['z']],
      [2, ['x']],
    ]);
    expect(b).toEqual(a);
  });

  it('explicit group: N overrides the rule; automatic numbers skip N; those joining an explicit owner take N', () => {
    const h = groups([
      { name: 'rp0', bdf: '00:1c.0', type: 'root-port', iommu: 'dmar0', acs: false, group: 0 },
      { name: 'a', bdf: '02:00.0', type: 'vfio-pci', behind: 'rp0' },
      { name: 'b', bdf: '02:00.1', type: 'vfio-pci', behind: 'rp0', group: 7 },
      { name: 'c', bdf: '00:02.0', type: 'vfio-pci', iommu: 'dmar0' },
      { name: 'd', bdf: '00:03.0', type: 'vfio-pci', iommu: 'dmar0', group: 7 },
    ]);
    expect(members(h)).toEqual([
      [0, ['rp0', 'a']],
      [1, ['c']],
      [7, ['d', 'b']],
    ]);
  });

  it('per device: usable ranges, reserved regions and page sizes of its IOMMU', () => {
    const h = groups([
      { name: 'a', bdf: '00:02.0', type: 'vfio-pci', iommu: 'dmar0' },
      { name: 'b', bdf: '00:03.0', type: 'vfio-pci', iommu: 'dmar1' },
    ]);
    expect(h.deviceByName.get('a')!.usableRanges.at(-1)).toEqual({ start: 0xfef00000n, end: 0x7fffffffffn });
    expect(h.deviceByName.get('b')!.usableRanges.at(-1)).toEqual({ start: 0xfef00000n, end: 0xffffffffffffn });
    expect(h.deviceByName.get('b')!.pgsizeBitmap).toBe(0x40201000n);
    expect(h.deviceByName.get('a')!.bdf).toBe('0000:00:02.0');
  });
});

describe('description problems come back as values with the field path', () => {
  const problems = (desc: HostDesc) => {
    const r = resolveHost(desc);
    expect(r.ok).toBe(false);
    return r.ok ? [] : r.problems;
  };

  it('unknown iommu, unknown behind, behind an endpoint, missing iommu', () => {
    const p = problems({
      iommus: IOMMUS,
      devices: [
        { name: 'a', bdf: '00:02.0', type: 'vfio-pci', iommu: 'dmar9' },
        { name: 'b', bdf: '00:03.0', type: 'vfio-pci', iommu: 'dmar0', behind: 'nope' },
        { name: 'c', bdf: '00:04.0', type: 'vfio-pci', iommu: 'dmar0', behind: 'a' },
        { name: 'd', bdf: '00:05.0', type: 'endpoint' },
      ],
    });
    expect(p).toEqual([
      { path: 'devices.1.behind', message: 'unknown device "nope"' },
      { path: 'devices.2.behind', message: '"a" is a vfio-pci, not a root port, switch port or PCIe-to-PCI bridge' },
      { path: 'devices.0.iommu', message: 'unknown IOMMU "dmar9"' },
      { path: 'devices.3.iommu', message: 'no iommu for "d" (give one, or place it behind a port that has one)' },
    ]);
  });

  it('a cycle through behind is reported once, naming the cycle', () => {
    const p = problems({
      iommus: IOMMUS,
      devices: [
        { name: 'p', bdf: '00:1c.0', type: 'root-port', iommu: 'dmar0', behind: 'q' },
        { name: 'q', bdf: '01:00.0', type: 'switch-port', behind: 'r' },
        { name: 'r', bdf: '02:00.0', type: 'switch-port', behind: 'p' },
        { name: 'e', bdf: '03:00.0', type: 'vfio-pci', behind: 'r' },
      ],
    });
    expect(p).toEqual([{ path: 'devices.0.behind', message: 'cycle through behind: p → q → r → p' }]);
  });

  it('duplicate and malformed BDFs, duplicate names, unknown types', () => {
    const p = problems({
      iommus: IOMMUS,
      devices: [
        { name: 'a', bdf: '0000:00:02.0', type: 'vfio-pci', iommu: 'dmar0' },
        { name: 'b', bdf: '00:02.0', type: 'vfio-pci', iommu: 'dmar0' },
        { name: 'a', bdf: '00:20.0', type: 'vfio-pci', iommu: 'dmar0' },
        { name: 'c', bdf: '00:03.0', type: 'gpu', iommu: 'dmar0' },
        { name: 'e', type: 'vfio-pci', iommu: 'dmar0' },
      ],
    });
    expect(p.map((x) => x.path)).toEqual(['devices.1.bdf', 'devices.2.name', 'devices.2.bdf', 'devices.3.type', 'devices.4.bdf']);
    expect(p[0].message).toBe('duplicate BDF 0000:00:02.0 (also devices.0)');
  });

  it('an mdev without a parent, with an unknown or mdev parent, or with PCI fields', () => {
    const p = problems({
      iommus: IOMMUS,
      devices: [
        { name: 'vf', bdf: '00:02.0', type: 'vfio-pci', iommu: 'dmar0' },
        { name: 'm0', type: 'mdev' },
        { name: 'm1', type: 'mdev', parent: 'ghost' },
        { name: 'm2', type: 'mdev', parent: 'm3' },
        { name: 'm3', type: 'mdev', parent: 'vf', iommu: 'dmar0' },
        { name: 'x', bdf: '00:03.0', type: 'vfio-pci', iommu: 'dmar0', parent: 'vf' },
      ],
    });
    expect(p.map((x) => x.path)).toEqual(['devices.4.iommu', 'devices.5.parent', 'devices.1.parent', 'devices.2.parent', 'devices.3.parent']);
    expect(p[2].message).toBe('an mdev needs a parent device');
  });

  it('an explicit group mixing two IOMMUs', () => {
    const p = problems({
      iommus: IOMMUS,
      devices: [
        { name: 'a', bdf: '00:02.0', type: 'vfio-pci', iommu: 'dmar0', group: 3 },
        { name: 'b', bdf: '00:03.0', type: 'vfio-pci', iommu: 'dmar1', group: 3 },
      ],
    });
    expect(p).toEqual([{ path: 'devices.1.group', message: 'group 3 would mix devices of dmar0 and dmar1 (a group belongs to one IOMMU)' }]);
  });

  it('an invalid IOMMU is reported once, not again by each device using it', () => {
    const p = problems({ iommus: [{ name: 'x', model: 'intel-vtd', 'aw-bits': 20 }], devices: [{ name: 'a', bdf: '00:02.0', type: 'vfio-pci', iommu: 'x' }] });
    expect(p.map((x) => x.path)).toEqual(['iommus.0.aw-bits']);
  });

  it('parseBdf: canonical text, domain default 0, device at most 0x1f', () => {
    expect(parseBdf('3b:00.1')?.text).toBe('0000:3b:00.1');
    expect(parseBdf('0000:00:1f.7')?.key).toBe(0xff);
    expect(parseBdf('00:20.0')).toBeUndefined();
    expect(parseBdf('00:1f.8')).toBeUndefined();
    expect(parseBdf('garbage')).toBeUndefined();
  });
});
