/**
 * The host side's scenario syntax (issue 7 §2-§4, core/scenario/host-schema.ts and host-model.ts):
 * the issue's examples parse; resolveHost's problems, unknown ops, mistyped args, unbound `out`
 * names, unknown host devices and expect keys an op does not output are diagnostics with positions.
 */
import { describe, expect, test } from 'vitest';
import { formatDiagnostic, parseScenario } from '../../../core/scenario/index.ts';

function parse(text: string) {
  const r = parseScenario(text, 'h.yaml');
  return { scenario: r.scenario, lines: r.diagnostics.map(formatDiagnostic) };
}

const HOST = `name: host
host:
  iommus:
    - {name: dmar0, model: intel-vtd, aw-bits: 39}
  devices:
    - {name: rp0, bdf: "0000:00:1c.0", type: root-port, iommu: dmar0, acs: false}
    - {name: vf0, bdf: "0000:3b:00.0", type: vfio-pci, iommu: dmar0, behind: rp0}
    - {name: vf1, bdf: "0000:3c:00.0", type: vfio-pci, iommu: dmar0}
    - {name: mdev0, type: mdev, parent: vf1}
backend: iommufd
`;

/** Groups Linux computes for HOST: rp0 without ACS shares vf0's group; an mdev has its own emulated group. */
const GROUPS = [['rp0', 'vf0'], ['vf1'], ['mdev0']];

const ISSUE_STEPS = `steps:
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
    expect: {fault: {reason: unmapped}}
  - host-dma: {device: vf0, iova: buf, size: 8, access: read}
    expect: {translated: 0x7f0000000000}
`;

describe('host syntax: the issue examples', () => {
  test('parse into resolved host steps with refs, flags as written and expectations', () => {
    const { scenario, lines } = parse(HOST + ISSUE_STEPS);
    expect(lines).toEqual([]);
    const s = scenario!;
    expect(s.host.backend).toBe('iommufd');
    expect(s.host.kernel).toBe('2025');
    expect(s.host.platform.groups.map((g) => g.members)).toEqual(GROUPS);
    expect(s.viommuModel).toBe('virtio-iommu');
    const map = s.steps[2];
    expect(map).toMatchObject({ op: 'iommufd', call: { op: 'ioas-map', args: { ioas: { ref: 'ioas1' }, length: 0x4000n, flags: ['readable'] } }, out: 'buf', expect: { errno: 'OK', outputs: { iova: 0x4000n } } });
    expect(s.steps[4]).toMatchObject({ expect: { errno: 'EMSGSIZE', outputs: { 'num-iovas': 1 } } });
    expect(s.steps[9]).toMatchObject({ op: 'vfio', call: { op: 'group-set-container', args: { group: 'vf1', container: { ref: 'c0' } } } });
    expect(s.steps[13]).toMatchObject({ op: 'host-dma', device: 'vf0', iova: 0x10000n, size: 8n, access: 2, expect: { kind: 'fault', reason: 'unmapped' } });
    expect(s.steps[14]).toMatchObject({ op: 'host-dma', iova: { ref: 'buf' }, expect: { kind: 'translated', addr: 0x7f0000000000n } });
  });

  test('kernel era, backend default, and a scenario without viommu', () => {
    const { scenario, lines } = parse(`name: k\nkernel: 2024\nsteps:\n  - iommufd: {op: ioas-alloc}\n`);
    expect(lines).toEqual([]);
    expect(scenario!.host).toMatchObject({ backend: 'iommufd', kernel: '2024', declared: false });
  });
});

describe('host syntax: diagnostics with positions', () => {
  test("resolveHost's problems at the node they name", () => {
    const { lines } = parse(`name: h
host:
  iommus:
    - {name: dmar0, model: intel-vtd}
  devices:
    - {name: vf0, bdf: "0000:3b:00.0", type: vfio-pci, iommu: dmar9}
steps: []
`);
    expect(lines.length).toBe(1);
    expect(lines[0]).toMatch(/^h\.yaml:6:\d+: host\.devices\.0\.iommu: .*dmar9/);
  });

  test('an unknown op lists the ops; a mistyped or unknown argument points at it', () => {
    expect(parse(`name: h\nsteps:\n  - iommufd: {op: ioas-mapp}\n`).lines).toEqual([
      expect.stringMatching(/^h\.yaml:3:19: steps\.0\.iommufd\.op: expected one of ioas-alloc, ioas-map, .*destroy; got the string "ioas-mapp"$/),
    ]);
    expect(parse(`name: h\nsteps:\n  - iommufd: {op: ioas-alloc, out: a}\n  - iommufd: {op: ioas-map, ioas: a, length: -1, flags: [readable]}\n`).lines).toEqual([
      expect.stringMatching(/^h\.yaml:4:46: steps\.1\.iommufd\.length: .*negative/),
    ]);
    expect(parse(`name: h\nsteps:\n  - iommufd: {op: ioas-alloc, out: a}\n  - iommufd: {op: ioas-map, ioas: a, length: 1, flags: [readable], lenght: 2}\n`).lines).toEqual([
      'h.yaml:4:68: steps.1.iommufd: unknown key "lenght"; allowed: op, ioas, iova, length, user-va, flags, out',
    ]);
    expect(parse(`name: h\nsteps:\n  - vfio: {op: map-dma, container: 1, iova: 0, size: 0x1000, flags: [read, exec]}\n`).lines[0]).toMatch(/^h\.yaml:3:\d+: steps\.0\.vfio\.flags\.1: /);
  });

  test('an out name must be bound by an earlier step; host devices and groups must exist', () => {
    expect(parse(`name: h\nsteps:\n  - iommufd: {op: ioas-map, ioas: ioas1, length: 0x1000, flags: [readable]}\n  - iommufd: {op: ioas-alloc, out: ioas1}\n`).lines).toEqual([
      'h.yaml:3:35: steps.0.iommufd.ioas: "ioas1" is not bound by an earlier step\'s `out` (no step has bound a name with `out` yet); write an out name or a numeric ID',
    ]);
    const { lines } = parse(HOST + `steps:\n  - iommufd: {op: device-bind, device: vf9}\n  - vfio: {op: group-set-container, group: nic, container: 1}\n  - host-dma: {device: vf7, iova: 0, access: read}\n`);
    expect(lines).toEqual([
      'h.yaml:12:40: steps.0.iommufd.device: unknown host device "vf9"; host.devices: rp0, vf0, vf1, mdev0',
      'h.yaml:13:44: steps.1.vfio.group: unknown host device "nic"; host.devices: rp0, vf0, vf1, mdev0',
      'h.yaml:14:24: steps.2.host-dma.device: unknown host device "vf7"; host.devices: rp0, vf0, vf1, mdev0',
    ]);
  });

  test("an expect key the op does not output, and an errno name that does not exist", () => {
    expect(parse(`name: h\nsteps:\n  - iommufd: {op: ioas-alloc}\n    expect: {errno: OK, iova: 0}\n`).lines).toEqual([
      'h.yaml:4:31: steps.0.expect.iova: iommufd ioas-alloc has no output "iova"; its outputs: out-ioas-id',
    ]);
    expect(parse(`name: h\nsteps:\n  - iommufd: {op: ioas-alloc}\n    expect: ENOTANERRNO\n`).lines[0]).toMatch(/^h\.yaml:4:13: steps\.0\.expect: /);
  });

  test('an object-ID output in expect may name an earlier out (checked like an argument); u64 outputs stay numbers', () => {
    const ok = parse(`name: h\nsteps:\n  - iommufd: {op: ioas-alloc, out: a}\n  - iommufd: {op: hwpt-alloc, dev: 1, pt: a, out: h}\n  - iommufd: {op: device-attach, dev: 1, pt: a}\n    expect: {pt-id: h}\n`);
    expect(ok.lines).toEqual([]);
    expect(parse(`name: h\nsteps:\n  - iommufd: {op: ioas-alloc, out: a}\n  - iommufd: {op: device-attach, dev: 1, pt: a, out: h}\n    expect: {errno: OK, pt-id: hwpt9}\n`).lines).toEqual([
      'h.yaml:5:32: steps.1.expect.pt-id: "hwpt9" is not bound by an earlier step\'s `out` (bound so far: a); write an out name or a numeric ID',
    ]);
    // The step's own out is not bound yet in its expect.
    expect(parse(`name: h\nsteps:\n  - iommufd: {op: ioas-alloc, out: a}\n    expect: {out-ioas-id: a}\n`).lines).toEqual([
      'h.yaml:4:27: steps.0.expect.out-ioas-id: "a" is not bound by an earlier step\'s `out` (no step has bound a name with `out` yet); write an out name or a numeric ID',
    ]);
    expect(parse(`name: h\nsteps:\n  - iommufd: {op: ioas-alloc, out: a}\n  - iommufd: {op: ioas-map, ioas: a, length: 0x1000, flags: [readable], out: v}\n  - iommufd: {op: ioas-unmap, ioas: a, iova: v, length: 0x1000}\n    expect: {length: v}\n`).lines[0]).toMatch(/^h\.yaml:6:\d+: steps\.2\.expect\.length: /);
  });

  test('§4 syntax: guest devices backed by host devices, device-add, intel-iommu', () => {
    const { scenario, lines } = parse(
      HOST +
        `viommu: {model: intel-iommu, aw-bits: 48, caching-mode: true}\ndevices:\n  - {name: nic0, bdf: "00:03.0", host: vf0}\nsteps:\n  - device-add: {device: nic0}\n    expect: {error: "aw-bits"}\n`,
    );
    expect(lines).toEqual([]);
    expect(scenario!.viommuModel).toBe('intel-iommu');
    expect(scenario!.intelIommu).toEqual({ awBits: 48, cachingMode: true, scalableMode: false, xFlts: false });
    expect(scenario!.devices[0].host).toBe('vf0');
    expect(scenario!.steps[0]).toMatchObject({ op: 'device-add', device: 'nic0', expect: { kind: 'error', error: 'aw-bits' } });
    expect(parse(HOST + `devices:\n  - {name: nic0, bdf: "00:03.0", host: rp0}\nsteps:\n  - device-add: {device: nic1}\n`).lines).toEqual([
      'h.yaml:12:40: devices.0.host: host device "rp0" is a root-port; only a vfio-pci function or an mdev can be assigned',
      'h.yaml:14:26: steps.0.device-add.device: unknown device "nic1"; devices: nic0',
    ]);
    expect(parse(`name: h\nviommu: {model: smmuv3}\nsteps: []\n`).lines[0]).toMatch(/^h\.yaml:2:17: viommu\.model: expected one of virtio-iommu, intel-iommu; got the string "smmuv3"$/);
  });
});
