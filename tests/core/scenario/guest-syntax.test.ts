/**
 * The guest DMA layer's scenario syntax (issue 8 §1 "Scenario syntax (a contract)";
 * core/scenario/guest-schema.ts and guest-model.ts): the issue's example parses to the exact model,
 * defaults apply, and every rule is a diagnostic at its YAML node with its message.
 */
import { describe, expect, test } from 'vitest';
import { formatDiagnostic, parseScenario, scenarioJsonSchema, type Scenario } from '../../../core/scenario/index.ts';
import { yamlLanguageService } from './yaml-language-server.ts';

function parse(text: string) {
  const r = parseScenario(text, 'g.yaml');
  return { scenario: r.scenario, lines: r.diagnostics.map(formatDiagnostic) };
}

/** The scenario, failing the test with its diagnostics when it does not parse. */
function ok(text: string): Scenario {
  const { scenario, lines } = parse(text);
  expect(lines).toEqual([]);
  return scenario!;
}

/** The diagnostics of a scenario with DEVICES and `steps` (one step per line, already indented). */
const DEVICES = `name: g
devices:
  - {name: rp1, bdf: "00:1c.0", type: root-port, acs: false}
  - {name: nic0, bdf: "01:00.0", dma-mask: 48, behind: rp1}
steps:
`;
const stepLines = (...steps: string[]) => parse(DEVICES + steps.map((s) => `  - ${s}\n`).join('')).lines;

const EXAMPLE = `name: guest
guest: {iommu-dma: lazy, cpus: 4, forcedac: false, single-flush-queue: false, hz: 1000, pci-windows: [{start: 0xc0000000, end: 0xfebfffff}]}
viommu: {model: virtio-iommu, host-geometry: listener}
host:
  iommus:
    - {name: dmar0, model: intel-vtd, aw-bits: 39}
  devices:
    - {name: vf0, bdf: "0000:3b:00.0", type: vfio-pci, iommu: dmar0}
    - {name: vf1, bdf: "0000:3c:00.0", type: vfio-pci, iommu: dmar0}
devices:
  - {name: rp1, bdf: "00:1c.0", type: root-port, acs: false}
  - {name: nic0, bdf: "01:00.0", host: vf0, dma-mask: 64, behind: rp1}
  - {name: nic1, bdf: "02:00.0", host: vf1}
steps:
  - device-add: {device: nic1}
  - dma-map: {device: nic0, size: 0x1000, dir: to-device, out: b0, cpu: 0, phys: 0x40000000, offset: 0}
    expect: {iova: 0xfffff000}
  - dma-map: {device: "02:00.0", size: 1500, dir: bidirectional, cpu: 3}
    expect: {error: DMA_MAPPING_ERROR, host: none}
  - dma-unmap: {handle: b0}
    expect: {host: unmapped}
  - dma-unmap: {device: nic1, iova: 0xffffe000, size: 0x800, dir: from-device, cpu: 1}
  - dma-stream: {device: nic0, buffers: 256, size: 1500, dir: from-device, iterations: 100000, access: true, cpu: 0}
    expect: {failed-maps: 0, failed-host-maps: 0, stale: 0, faults: 0}
  - dma: {endpoint: nic0, addr: 0xfffff000, size: 64, access: write}
    expect: {translated: 0x40000000, stale: true}
  - host-dma: {device: vf0, iova: 0xfffff000, size: 8, access: read}
    expect: {translated: 0x7f0000000000, stale: false}
  - wait: {ms: 20}
  - wait: {us: 7}
  - wait: {ns: 3}
`;

describe('guest syntax: the issue example', () => {
  test('parses to the exact model', () => {
    const s = ok(EXAMPLE);
    expect(s.guest).toEqual({ iommuDma: 'lazy', cpus: 4, forcedac: false, singleFlushQueue: false, hz: 1000, pciWindows: [{ start: 0xc0000000n, end: 0xfebfffffn }] });
    expect(s.props.hostGeometry).toBe('listener');
    expect(s.devices).toEqual([
      { name: 'rp1', bdf: '00:1c.0', endpoint: 0xe0, line: 11, type: 'root-port', acs: false, dmaMask: 32 },
      { name: 'nic0', bdf: '01:00.0', endpoint: 0x100, line: 12, host: 'vf0', type: 'endpoint', behind: 'rp1', acs: true, dmaMask: 64 },
      { name: 'nic1', bdf: '02:00.0', endpoint: 0x200, line: 13, host: 'vf1', type: 'endpoint', acs: true, dmaMask: 64 },
    ]);
    expect(s.steps.slice(1)).toEqual([
      { index: 1, line: 16, op: 'dma-map', device: 'nic0', endpoint: 0x100, size: 0x1000n, dir: 1, phys: 0x40000000n, offset: 0, cpu: 0, out: 'b0', expect: { iova: 0xfffff000n } },
      { index: 2, line: 18, op: 'dma-map', device: 'nic1', endpoint: 0x200, size: 1500n, dir: 3, offset: 0, cpu: 3, expect: { error: 'DMA_MAPPING_ERROR', host: 'none' } },
      { index: 3, line: 20, op: 'dma-unmap', handle: 'b0', device: 'nic0', endpoint: 0x100, cpu: 0, expect: { host: 'unmapped' } },
      { index: 4, line: 22, op: 'dma-unmap', device: 'nic1', endpoint: 0x200, iova: 0xffffe000n, size: 0x800n, dir: 2, cpu: 1 },
      { index: 5, line: 23, op: 'dma-stream', device: 'nic0', endpoint: 0x100, buffers: 256, size: 1500n, dir: 2, iterations: 100000, access: true, cpu: 0, expect: { failedMaps: 0, failedHostMaps: 0, stale: 0, faults: 0 } },
      { index: 6, line: 25, op: 'dma', endpoint: 0x100, addr: 0xfffff000n, size: 64n, access: 2, expect: { kind: 'translated', phys: 0x40000000n, stale: true } },
      { index: 7, line: 27, op: 'host-dma', device: 'vf0', iova: 0xfffff000n, size: 8n, access: 1, expect: { kind: 'translated', addr: 0x7f0000000000n, stale: false } },
      { index: 8, line: 29, op: 'wait', ns: 20_000_000 },
      { index: 9, line: 30, op: 'wait', ns: 7000 },
      { index: 10, line: 31, op: 'wait', ns: 3 },
    ]);
  });
});

describe('guest syntax: defaults and when the guest layer exists', () => {
  test('no guest block and no dma-map/-unmap/-stream step: no guest layer; device and vIOMMU defaults', () => {
    const s = ok('name: g\ndevices:\n  - {name: nic0, bdf: "00:03.0"}\nsteps:\n  - wait: {ms: 1}\n');
    expect(s.guest).toBeNull();
    expect(s.devices[0]).toEqual({ name: 'nic0', bdf: '00:03.0', endpoint: 0x18, line: 3, type: 'endpoint', acs: true, dmaMask: 64 });
    expect(s.props.hostGeometry).toBe('realize');
  });

  test('a dma step alone creates the guest layer with the defaults (lazy: CONFIG_IOMMU_DEFAULT_DMA_LAZY=y)', () => {
    const s = ok('name: g\ndevices:\n  - {name: nic0, bdf: "00:03.0"}\nsteps:\n  - dma-stream: {device: nic0, buffers: 1, size: 1, dir: to-device, iterations: 1}\n');
    expect(s.guest).toEqual({ iommuDma: 'lazy', cpus: 1, forcedac: false, singleFlushQueue: false, hz: 1000, pciWindows: [] });
    expect(s.steps[0]).toEqual({ index: 0, line: 5, op: 'dma-stream', device: 'nic0', endpoint: 0x18, buffers: 1, size: 1n, dir: 1, iterations: 1, access: true, cpu: 0 });
    const m = ok('name: g\ndevices:\n  - {name: nic0, bdf: "00:03.0"}\nsteps:\n  - dma-map: {device: nic0, size: 1, dir: from-device}\n');
    expect(m.steps[0]).toEqual({ index: 0, line: 5, op: 'dma-map', device: 'nic0', endpoint: 0x18, size: 1n, dir: 2, offset: 0, cpu: 0 });
  });

  test('an empty guest block is the defaults; every key set', () => {
    expect(ok('name: g\nguest: {}\nsteps: []\n').guest).toEqual({ iommuDma: 'lazy', cpus: 1, forcedac: false, singleFlushQueue: false, hz: 1000, pciWindows: [] });
    expect(ok('name: g\nguest: {iommu-dma: strict, cpus: 256, forcedac: true, single-flush-queue: true, hz: 250, pci-windows: []}\nsteps: []\n').guest).toEqual({
      iommuDma: 'strict',
      cpus: 256,
      forcedac: true,
      singleFlushQueue: true,
      hz: 250,
      pciWindows: [],
    });
  });
});

describe('guest syntax: the guest block', () => {
  test('cpus 1..256, hz a CONFIG_HZ choice, iommu-dma strict | lazy, windows start <= end', () => {
    expect(parse('name: g\nguest: {cpus: 0}\nsteps: []\n').lines).toEqual(['g.yaml:2:15: guest.cpus: 0 is out of range; expected an integer from 1 to 256']);
    expect(parse('name: g\nguest: {cpus: 257}\nsteps: []\n').lines).toEqual(['g.yaml:2:15: guest.cpus: 257 is out of range; expected an integer from 1 to 256']);
    expect(parse('name: g\nguest: {hz: 200}\nsteps: []\n').lines).toEqual(['g.yaml:2:13: guest.hz: 200 is not a CONFIG_HZ choice; one of 100, 250, 300, 1000 (kernel/Kconfig.hz)']);
    expect(ok('name: g\nguest: {hz: 300}\nsteps: []\n').guest!.hz).toBe(300);
    expect(parse('name: g\nguest: {iommu-dma: relaxed}\nsteps: []\n').lines).toEqual(['g.yaml:2:20: guest.iommu-dma: expected one of strict, lazy; got the string "relaxed"']);
    expect(parse('name: g\nguest: {pci-windows: [{start: 0x2000, end: 0x1fff}]}\nsteps: []\n').lines).toEqual([
      'g.yaml:2:44: guest.pci-windows.0.end: end 0x1fff is below start 0x2000 (end is the window\'s last address, inclusive)',
    ]);
    expect(parse('name: g\nguest: {strict: true}\nsteps: []\n').lines).toEqual(['g.yaml:2:9: guest: unknown key "strict"; allowed: iommu-dma, cpus, forcedac, single-flush-queue, hz, pci-windows']);
  });

  test('host-geometry is realize | listener | none', () => {
    expect(parse('name: g\nviommu: {model: virtio-iommu, host-geometry: probe}\nsteps: []\n').lines).toEqual([
      'g.yaml:2:46: viommu.host-geometry: expected one of realize, listener, none; got the string "probe"',
    ]);
  });

  test('intel-iommu: the guest block and the guest steps are refused (its DMA remapping is not modelled yet)', () => {
    const text = 'name: g\nviommu: {model: intel-iommu}\nguest: {cpus: 2}\ndevices:\n  - {name: nic0, bdf: "00:03.0"}\nsteps:\n  - dma-map: {device: nic0, size: 1, dir: to-device}\n  - wait: {ms: 1}\n';
    expect(parse(text).lines).toEqual([
      'g.yaml:3:8: guest: the guest DMA layer: it needs viommu model virtio-iommu (intel-iommu DMA remapping is not modelled yet)',
      'g.yaml:7:14: steps.0.dma-map: dma-map is a guest DMA step; it needs viommu model virtio-iommu (intel-iommu DMA remapping is not modelled yet)',
      'g.yaml:8:11: steps.1.wait: wait is a guest DMA step; it needs viommu model virtio-iommu (intel-iommu DMA remapping is not modelled yet)',
    ]);
  });
});

describe('guest syntax: devices', () => {
  const devs = (...lines: string[]) => parse(`name: g\ndevices:\n${lines.map((l) => `  - ${l}\n`).join('')}steps: []\n`).lines;

  test('type endpoint | root-port; dma-mask 12..64 bits', () => {
    expect(devs('{name: a, bdf: "00:03.0", type: bridge}')).toEqual(['g.yaml:3:37: devices.0.type: expected one of endpoint, root-port; got the string "bridge"']);
    expect(devs('{name: a, bdf: "00:03.0", dma-mask: 11}')).toEqual(['g.yaml:3:41: devices.0.dma-mask: 11 is out of range; expected an integer from 12 to 64']);
    expect(devs('{name: a, bdf: "00:03.0", dma-mask: 65}')).toEqual(['g.yaml:3:41: devices.0.dma-mask: 65 is out of range; expected an integer from 12 to 64']);
    expect(parse(`name: g\ndevices:\n  - {name: a, bdf: "00:03.0", dma-mask: 32}\nsteps: []\n`).scenario!.devices[0].dmaMask).toBe(32);
    expect(parse(`name: g\ndevices:\n  - {name: rp, bdf: "00:1c.0", type: root-port, dma-mask: 64}\nsteps: []\n`).scenario!.devices[0].dmaMask).toBe(64);
  });

  test('behind names a root port declared earlier, on another bus', () => {
    expect(devs('{name: nic0, bdf: "01:00.0", behind: rp9}', '{name: rp1, bdf: "00:1c.0", type: root-port}')).toEqual([
      'g.yaml:3:42: devices.0.behind: "rp9" is not a device declared before this one; root ports declared before it: none',
    ]);
    expect(devs('{name: nic0, bdf: "01:00.0", behind: rp1}', '{name: rp1, bdf: "00:1c.0", type: root-port}')).toEqual([
      'g.yaml:3:42: devices.0.behind: "rp1" is not a device declared before this one; root ports declared before it: none ("rp1" is declared later, on line 4: declare the root port first)',
    ]);
    expect(devs('{name: rp1, bdf: "00:1c.0", type: root-port}', '{name: nic0, bdf: "01:00.0"}', '{name: nic1, bdf: "02:00.0", behind: nic0}')).toEqual([
      'g.yaml:5:42: devices.2.behind: "nic0" is an endpoint; `behind` names a root port (type: root-port): rp1',
    ]);
    expect(devs('{name: rp1, bdf: "00:1c.0", type: root-port}', '{name: nic0, bdf: "00:03.0", behind: rp1}')).toEqual([
      'g.yaml:4:23: devices.1.bdf: bus 00 is the bus root port "rp1" (00:1c.0) sits on; a device behind it is on the port\'s secondary bus',
    ]);
    expect(devs('{name: rp1, bdf: "00:1c.0", type: root-port}', '{name: rp2, bdf: "00:1c.1", type: root-port, behind: rp1}')).toEqual([
      'g.yaml:4:58: devices.1.behind: a root port sits on the root complex (QEMU plugs pcie-root-port into the root bus); only an endpoint is `behind` one',
    ]);
  });

  test('acs only on a root port (default true); host only on an endpoint', () => {
    expect(devs('{name: nic0, bdf: "00:03.0", acs: false}')).toEqual([
      "g.yaml:3:39: devices.0.acs: acs applies to a root port (QEMU pcie-root-port's ACS capability, off with disable-acs=on); this device is an endpoint",
    ]);
    expect(parse(`name: g\ndevices:\n  - {name: rp1, bdf: "00:1c.0", type: root-port}\nsteps: []\n`).scenario!.devices[0]).toMatchObject({ type: 'root-port', acs: true, dmaMask: 32 });
    const host = 'host:\n  iommus: [{name: dmar0, model: intel-vtd}]\n  devices: [{name: vf0, bdf: "0000:3b:00.0", type: vfio-pci, iommu: dmar0}]\n';
    expect(parse(`name: g\n${host}devices:\n  - {name: rp1, bdf: "00:1c.0", type: root-port, host: vf0}\nsteps: []\n`).lines).toEqual([
      'g.yaml:6:56: devices.0.host: a root port is emulated by QEMU (pcie-root-port); only an endpoint can be assigned a host device',
    ]);
  });
});

describe('guest syntax: steps', () => {
  test('device: a declared endpoint, by name or PCI address', () => {
    expect(stepLines('dma-map: {device: nic9, size: 1, dir: to-device}')).toEqual([
      'g.yaml:6:23: steps.0.dma-map.device: unknown device "nic9"; devices: rp1 00:1c.0, nic0 01:00.0 (a device name, or a declared device\'s PCI address "bb:dd.f")',
    ]);
    expect(stepLines('dma-stream: {device: "02:00.0", buffers: 1, size: 1, dir: to-device, iterations: 1}')).toEqual([
      'g.yaml:6:26: steps.0.dma-stream.device: no device has PCI address 02:00.0; devices: rp1 00:1c.0, nic0 01:00.0',
    ]);
    expect(stepLines('dma-unmap: {device: rp1, iova: 0x1000, size: 1}')).toEqual(['g.yaml:6:25: steps.0.dma-unmap.device: "rp1" is a root port; only an endpoint does DMA']);
    expect(parse(DEVICES + '  - dma-map: {device: "01:00.0", size: 1, dir: to-device}\n').scenario!.steps[0]).toMatchObject({ device: 'nic0', endpoint: 0x100 });
  });

  test('dir is to-device | from-device | bidirectional', () => {
    expect(stepLines('dma-map: {device: nic0, size: 1, dir: both}')).toEqual([
      'g.yaml:6:43: steps.0.dma-map.dir: expected one of to-device, from-device, bidirectional; got the string "both"',
    ]);
    expect(stepLines('dma-map: {device: nic0, size: 1}')).toEqual(['g.yaml:6:14: steps.0.dma-map: missing required key "dir"']);
  });

  test('size is 1 byte to below 2^52', () => {
    expect(stepLines('dma-map: {device: nic0, size: 0, dir: to-device}')).toEqual(['g.yaml:6:35: steps.0.dma-map.size: size must be at least 1 byte']);
    expect(stepLines('dma-stream: {device: nic0, buffers: 1, size: 0x10000000000000, dir: to-device, iterations: 1}')).toEqual([
      'g.yaml:6:50: steps.0.dma-stream.size: size 0x10000000000000 is too large: a DMA buffer is below 2^52 bytes (0x10000000000000)',
    ]);
    expect(stepLines('dma-unmap: {device: nic0, iova: 0, size: 0x10000000000000}')).toEqual([
      'g.yaml:6:46: steps.0.dma-unmap.size: size 0x10000000000000 is too large: a DMA buffer is below 2^52 bytes (0x10000000000000)',
    ]);
    expect(stepLines('dma-map: {device: nic0, size: 0xfffffffffffff, dir: to-device}')).toEqual([]);
    expect(stepLines('dma-unmap: {device: nic0, iova: 0xfffffffffffff000, size: 0x2000}')).toEqual([
      'g.yaml:6:63: steps.0.dma-unmap.size: the range [0xfffffffffffff000, +0x2000) runs past 0xffffffffffffffff',
    ]);
  });

  test('out handles are unique; a dma-unmap handle is defined by an earlier dma-map', () => {
    expect(stepLines('dma-unmap: {handle: b0}')).toEqual(['g.yaml:6:25: steps.0.dma-unmap.handle: unknown handle "b0"; handles defined before this step: none']);
    expect(stepLines('dma-map: {device: nic0, size: 1, dir: to-device, out: a}', 'dma-map: {device: nic0, size: 1, dir: to-device, out: b}', 'dma-unmap: {handle: b0}', 'dma-map: {device: nic0, size: 1, dir: to-device, out: b0}')).toEqual([
      'g.yaml:8:25: steps.2.dma-unmap.handle: unknown handle "b0"; handles defined before this step: a, b',
    ]);
    expect(stepLines('dma-map: {device: nic0, size: 1, dir: to-device, out: b0}', 'dma-map: {device: nic0, size: 2, dir: to-device, out: b0}')).toEqual([
      'g.yaml:7:59: steps.1.dma-map.out: duplicate handle "b0": step 0 (line 6) already defines it; handles are unique in a scenario',
    ]);
    // A dma-map with a schema error still defines its handle: the unmap is not told off as well.
    expect(stepLines('dma-map: {device: nic0, size: 1, dir: sideways, out: b0}', 'dma-unmap: {handle: b0}')).toEqual([
      'g.yaml:6:43: steps.0.dma-map.dir: expected one of to-device, from-device, bidirectional; got the string "sideways"',
    ]);
    expect(stepLines('dma-map: {device: nic0, size: 1, dir: to-device, out: 0b}')[0]).toMatch(/^g\.yaml:6:59: steps\.0\.dma-map\.out: "0b" is invalid: a handle name starts with a letter/);
  });

  test('dma-unmap: a handle, or all of device, iova and size', () => {
    expect(stepLines('dma-unmap: {device: nic0, size: 1}')).toEqual(['g.yaml:6:16: steps.0.dma-unmap: dma-unmap needs `handle`, or all of device, iova and size (missing: iova)']);
    expect(stepLines('dma-unmap: {}')).toEqual(['g.yaml:6:16: steps.0.dma-unmap: dma-unmap needs `handle`, or all of device, iova and size (missing: device, iova, size)']);
    expect(stepLines('dma-map: {device: nic0, size: 1, dir: to-device, out: b0}', 'dma-unmap: {handle: b0, iova: 0x1000}')).toEqual([
      'g.yaml:7:35: steps.1.dma-unmap.iova: give either handle or device, iova and size, not both: with a handle the unmap takes the device, IOVA, size and direction of the dma-map that defined it',
    ]);
  });

  test('cpu is below guest.cpus', () => {
    expect(stepLines('dma-map: {device: nic0, size: 1, dir: to-device, cpu: 1}')).toEqual(['g.yaml:6:59: steps.0.dma-map.cpu: cpu 1 is out of range: the guest has 1 CPU (cpu 0; raise guest.cpus)']);
    const four = DEVICES.replace('steps:\n', 'guest: {cpus: 4}\nsteps:\n');
    expect(parse(four + '  - dma-stream: {device: nic0, buffers: 1, size: 1, dir: to-device, iterations: 1, cpu: 4}\n  - dma-unmap: {device: nic0, iova: 0, size: 1, cpu: 3}\n').lines).toEqual([
      'g.yaml:7:89: steps.0.dma-stream.cpu: cpu 4 is out of range: guest.cpus is 4 (CPUs 0-3)',
    ]);
    expect(stepLines('dma-map: {device: nic0, size: 1, dir: to-device, cpu: 256}')).toEqual(['g.yaml:6:59: steps.0.dma-map.cpu: 256 is out of range; expected an integer from 0 to 255']);
  });

  test('dma-stream: buffers 1..65536, iterations 1..10,000,000', () => {
    const stream = (b: string, i: string) => stepLines(`dma-stream: {device: nic0, buffers: ${b}, size: 1, dir: to-device, iterations: ${i}}`);
    expect(stream('0', '1')).toEqual(['g.yaml:6:41: steps.0.dma-stream.buffers: 0 is out of range; expected an integer from 1 to 65536']);
    expect(stream('65537', '1')).toEqual(['g.yaml:6:41: steps.0.dma-stream.buffers: 65537 is out of range; expected an integer from 1 to 65536']);
    expect(stream('65536', '10000000')).toEqual([]);
    expect(stream('1', '0')).toEqual(['g.yaml:6:81: steps.0.dma-stream.iterations: 0 is out of range; expected an integer from 1 to 10000000']);
    expect(stream('1', '10000001')).toEqual(['g.yaml:6:81: steps.0.dma-stream.iterations: 10000001 is out of range; expected an integer from 1 to 10000000']);
  });

  test('expectations: dma-map iova or error; only the keys each step has', () => {
    expect(stepLines('dma-map: {device: nic0, size: 1, dir: to-device}\n    expect: {iova: 0x1000, error: DMA_MAPPING_ERROR}')).toEqual([
      'g.yaml:7:35: steps.0.expect.error: expect either iova or error, not both: a failed dma-map returns DMA_MAPPING_ERROR, not an IOVA',
    ]);
    expect(stepLines('dma-map: {device: nic0, size: 1, dir: to-device}\n    expect: {host: unmapped}')).toEqual([
      'g.yaml:7:20: steps.0.expect.host: expected one of mapped, failed, none; got the string "unmapped"',
    ]);
    expect(stepLines('dma-stream: {device: nic0, buffers: 1, size: 1, dir: to-device, iterations: 1}\n    expect: {failed: 0}')[0]).toMatch(/^g\.yaml:7:14: steps\.0\.expect: unknown key "failed"; allowed: failed-maps, failed-host-maps, stale, faults$/);
    expect(stepLines('dma: {endpoint: nic0, addr: 0, access: read}\n    expect: {translated: 0, stale: yes}')).toEqual([
      'g.yaml:7:36: steps.0.expect.stale: expected true or false, got the string "yes"',
    ]);
  });

  test('wait: exactly one of ms, us, ns; at most a day', () => {
    expect(stepLines('wait: {}')).toEqual(['g.yaml:6:11: steps.0.wait: wait needs exactly one of ms, us, ns']);
    expect(stepLines('wait: {ms: 1, us: 2}')).toEqual(['g.yaml:6:23: steps.0.wait.us: give exactly one of ms, us, ns (this wait gives ms and us)']);
    expect(stepLines('wait: {ms: 86400001}')).toEqual(['g.yaml:6:16: steps.0.wait.ms: 86400001 is out of range; expected an integer from 0 to 86400000']);
    expect(ok(DEVICES + '  - wait: {ms: 86400000}\n').steps[0]).toEqual({ index: 0, line: 6, op: 'wait', ns: 86_400_000_000_000 });
  });
});

describe('guest syntax in the editor', () => {
  test('the JSON Schema offers the guest block, the guest steps and their keys', async () => {
    const schema = scenarioJsonSchema();
    const top = schema.properties as Record<string, { properties?: Record<string, unknown> }>;
    expect(Object.keys(top.guest.properties!)).toEqual(['iommu-dma', 'cpus', 'forcedac', 'single-flush-queue', 'hz', 'pci-windows']);
    const ops = (await (await yamlLanguageService('name: g\nsteps:\n  - \n', schema)).complete(2, 4)).map((i) => i.label);
    expect(ops).toEqual(expect.arrayContaining(['dma-map', 'dma-unmap', 'dma-stream', 'wait']));
    const keys = (await (await yamlLanguageService('name: g\nsteps:\n  - dma-map:\n      \n', schema)).complete(3, 6)).map((i) => i.label);
    expect(keys).toEqual(expect.arrayContaining(['device', 'size', 'dir', 'phys', 'offset', 'cpu', 'out']));
  });
});

describe('guest syntax: a reset beside the guest layer', () => {
  test('warns that the guest is not rebooted with the device', () => {
    const text = 'name: g\nguest: {}\ndevices:\n  - {name: nic0, bdf: "00:03.0"}\nsteps:\n  - reset: system\n';
    expect(parse(text).lines).toEqual([
      "g.yaml:6:12: warning: steps.0.reset: the guest DMA layer is not reset or rebooted with the device: its domains and mappings no longer match the device's after this step",
    ]);
  });
});
