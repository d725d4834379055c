import { describe, expect, test } from 'vitest';
import { formatDiagnostic, parseScenario } from '../../../core/scenario/index.ts';

/** A valid scenario header; tests append steps. */
const HEAD = `name: t
viommu: {model: virtio-iommu}
devices:
  - {name: nic0, bdf: "00:03.0"}
steps:
`;

function diags(text: string) {
  const r = parseScenario(text, 's.yaml');
  return { scenario: r.scenario, lines: r.diagnostics.map(formatDiagnostic), diagnostics: r.diagnostics };
}

describe('parseScenario: the issue example', () => {
  const QUICK = `name: Spec unmap example 4
machine: q35
viommu: {model: virtio-iommu, conformance: qemu, granule: 4k, aw-bits: 48}
devices:
  - {name: nic0, bdf: "00:03.0"}
steps:
  - attach: {domain: 1, endpoint: nic0}          # endpoint: a device name, a "bb:dd.f" BDF or a number
    expect: OK
  - map: {domain: 1, virt-start: 0x0, virt-end: 0x9, phys-start: 0xc1000, flags: [read]}
  - unmap: {domain: 1, virt-start: 0x0, virt-end: 0x4}
    expect: RANGE
  - probe: {endpoint: nic0}
    expect: {status: OK, resv-mem: [{subtype: msi, start: 0xfee00000, end: 0xfeefffff}]}
  - dma: {endpoint: nic0, addr: 0x4, size: 4, access: read}
    expect: {translated: 0xc1004}                # or {fault: {reason: MAPPING}}, or bypass
  - request: {hex: "42000000"}                   # raw device-readable bytes
    expect: {status: UNSUPP}                     # UNWRITTEN when the device writes nothing
  - attach: {domain: 5, endpoint: "00:00.0", flags: [bypass]}
  - read-config: {}
    expect: {input-range: [0x0, 0xffffffffffff], domain-range: [0, 0xffffffff], probe-size: 512, bypass: 1}
  - set-bypass: 0
  - reset: device                                # or system
`;
  test('is accepted and resolved', () => {
    const { scenario, lines } = diags(QUICK);
    expect(lines).toEqual([]);
    expect(scenario).not.toBeNull();
    const s = scenario!;
    expect(s.machine).toBe('q35');
    expect(s.props.awBits).toBe(48);
    expect(s.props.granule).toBe('4k');
    expect(s.endpoints).toEqual([0, 0x18]);
    expect(s.steps.map((x) => [x.op, x.line])).toEqual([
      ['attach', 7],
      ['map', 9],
      ['unmap', 10],
      ['probe', 12],
      ['dma', 14],
      ['request', 16],
      ['attach', 18],
      ['read-config', 19],
      ['set-bypass', 21],
      ['reset', 22],
    ]);
    expect(s.steps[0]).toMatchObject({ op: 'attach', domain: 1, endpoint: 0x18, flags: 0, expect: { status: 'OK' } });
    expect(s.steps[1]).toMatchObject({ op: 'map', virtStart: 0n, virtEnd: 9n, physStart: 0xc1000n, flags: 1 });
    expect(s.steps[3]).toMatchObject({ op: 'probe', expect: { status: 'OK', regions: [{ subtype: 1, start: 0xfee00000n, end: 0xfeefffffn }] } });
    expect(s.steps[4]).toMatchObject({ op: 'dma', addr: 4n, size: 4n, access: 1, expect: { kind: 'translated', phys: 0xc1004n } });
    expect(s.steps[5]).toMatchObject({ op: 'request', writable: 4, expect: { status: 'UNSUPP' } });
    expect(Array.from((s.steps[5] as { bytes: Uint8Array }).bytes)).toEqual([0x42, 0, 0, 0]);
    expect(s.steps[6]).toMatchObject({ op: 'attach', endpoint: 0, flags: 1 });
    expect(s.steps[7]).toMatchObject({ expect: { inputRange: [0n, 0xffffffffffffn], domainRange: [0, 0xffffffff], probeSize: 512, bypass: 1 } });
    expect(s.steps[8]).toMatchObject({ op: 'set-bypass', value: 0 });
    expect(s.steps[9]).toMatchObject({ op: 'reset', system: false });
  });
});

describe('parseScenario: diagnostics point at the offending node', () => {
  test('YAML syntax error', () => {
    const { scenario, lines } = diags(`name: t\nviommu: {model: virtio-iommu\nsteps: []\n`);
    expect(scenario).toBeNull();
    expect(lines.length).toBeGreaterThan(0);
    expect(lines[0]).toMatch(/^s\.yaml:3:1: YAML: /);
  });

  test('YAML error position on a bad flow sequence', () => {
    const { lines } = diags(HEAD + `  - map: {domain: 1, virt-start: [1, 2}\n`);
    expect(lines[0]).toMatch(/^s\.yaml:6:\d+: YAML: /);
  });

  test('unknown key names the key and the allowed ones', () => {
    const { scenario, lines } = diags(HEAD + `  - attach: {domain: 1, endpont: nic0}\n`);
    expect(scenario).toBeNull();
    expect(lines).toEqual([
      's.yaml:6:25: steps.0.attach: unknown key "endpont"; allowed: domain, endpoint, flags, reserved',
      's.yaml:6:13: steps.0.attach: missing required key "endpoint"',
    ].sort((a, b) => a.localeCompare(b, 'en', { numeric: true })));
  });

  test('unknown top-level key', () => {
    const { lines } = diags(`name: t\nviommu: {model: virtio-iommu}\nstep: []\n`);
    expect(lines).toContain('s.yaml:3:1: unknown key "step"; allowed: name, description, machine, gic-version, viommu, host, backend, kernel, guest, driver, devices, steps, variants');
    expect(lines).toContain('s.yaml:1:1: missing required key "steps"');
  });

  test('unknown operation', () => {
    const { lines } = diags(HEAD + `  - mapp: {domain: 1}\n`);
    expect(lines).toEqual(['s.yaml:6:5: steps.0: unknown key "mapp"; expected one of the keys attach, detach, map, unmap, probe, dma, request, read-config, set-bypass, reset, workload, iommufd, vfio, host-dma, device-add, dma-map, dma-unmap, dma-stream, wait']);
  });

  test('wrong type', () => {
    const { lines, diagnostics } = diags(HEAD + `  - attach: {domain: one, endpoint: nic0}\n`);
    expect(lines).toEqual(['s.yaml:6:22: steps.0.attach.domain: expected an integer or a "0x…" hex string, got "one"']);
    expect(diagnostics[0]).toMatchObject({ line: 6, column: 22, endLine: 6, endColumn: 25, severity: 'error', path: 'steps.0.attach.domain' });
  });

  test('wrong type: a map where a list is expected', () => {
    const { lines } = diags(HEAD + `  - map: {domain: 1, virt-start: 0, virt-end: 1, phys-start: 0, flags: {read: 1}}\n`);
    expect(lines).toEqual(['s.yaml:6:72: steps.0.map.flags: expected a list, got a map']);
  });

  test('unknown endpoint name', () => {
    const { scenario, lines } = diags(HEAD + `  - probe: {endpoint: nic1}\n`);
    expect(scenario).toBeNull();
    expect(lines).toEqual(['s.yaml:6:23: steps.0.probe.endpoint: unknown endpoint "nic1"; devices: nic0 (or write a PCI address "bb:dd.f")']);
  });

  test('u64 overflow', () => {
    const { lines, diagnostics } = diags(HEAD + `  - dma: {endpoint: nic0, addr: 0x1ffffffffffffffff, access: read}\n`);
    expect(lines).toEqual(['s.yaml:6:33: steps.0.dma.addr: 0x1ffffffffffffffff does not fit in 64 bits (maximum 0xffffffffffffffff)']);
    expect(diagnostics[0]).toMatchObject({ endLine: 6, endColumn: 52 });
  });

  test('negative u64', () => {
    const { lines } = diags(HEAD + `  - dma: {endpoint: nic0, addr: -1, access: read}\n`);
    expect(lines).toEqual(['s.yaml:6:33: steps.0.dma.addr: -1 is negative; expected a 64-bit unsigned integer']);
  });

  test('bad status name', () => {
    const { lines } = diags(HEAD + `  - attach: {domain: 1, endpoint: nic0}\n    expect: OKAY\n`);
    expect(lines).toEqual(['s.yaml:7:13: steps.0.expect: expected one of OK, IOERR, UNSUPP, DEVERR, INVAL, RANGE, NOENT, FAULT, NOMEM, UNWRITTEN; got the string "OKAY"']);
  });

  test('bad status name inside {status: …}', () => {
    const { lines } = diags(HEAD + `  - request: {hex: "42000000"}\n    expect: {status: UNSUPPORTED}\n`);
    expect(lines).toEqual(['s.yaml:7:22: steps.0.expect.status: expected one of OK, IOERR, UNSUPP, DEVERR, INVAL, RANGE, NOENT, FAULT, NOMEM, UNWRITTEN; got the string "UNSUPPORTED"']);
  });

  test('duplicate PCI address and duplicate name', () => {
    const { lines } = diags(`name: t
viommu: {model: virtio-iommu}
devices:
  - {name: a, bdf: "00:03.0"}
  - {name: b, bdf: "00:03.0"}
  - {name: a, bdf: "00:04.0"}
  - {name: c, bdf: "00:00.0"}
steps: []
`);
    expect(lines).toEqual([
      's.yaml:5:20: devices.1.bdf: duplicate PCI address 00:03.0 (already used by "a")',
      's.yaml:6:12: devices.2.name: duplicate device name "a" (first declared on line 4)',
      's.yaml:7:20: devices.3.bdf: 00:00.0 is the host bridge, which always exists; choose another address',
    ]);
  });

  test('malformed PCI address', () => {
    const { lines } = diags(`name: t\nviommu: {model: virtio-iommu}\ndevices: [{name: a, bdf: "0:3.0"}]\nsteps: []\n`);
    expect(lines).toEqual(['s.yaml:3:26: devices.0.bdf: "0:3.0" is invalid: a PCI address is "bb:dd.f" (hex bus, device 00-1f, function 0-7)']);
  });

  test('bad reserved-region string', () => {
    const { lines } = diags(`name: t\nviommu:\n  model: virtio-iommu\n  reserved-regions: ["0x1000:0x1fff:1", "0x1000-0x2000"]\nsteps: []\n`);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^s\.yaml:4:41: viommu\.reserved-regions\.1: bad reserved region "0x1000-0x2000": /);
  });

  test('bad hex', () => {
    const { lines } = diags(HEAD + `  - request: {hex: "4200z0"}\n  - request: {hex: "420"}\n`);
    expect(lines).toEqual([
      's.yaml:6:20: steps.0.request.hex: not hex: unexpected character "z"',
      's.yaml:7:20: steps.1.request.hex: odd number of hex digits (3); each byte needs two',
    ]);
  });

  test('value out of range (aw-bits)', () => {
    const { lines } = diags(`name: t\nviommu: {model: virtio-iommu, aw-bits: 70}\nsteps: []\n`);
    expect(lines).toEqual(['s.yaml:2:40: viommu.aw-bits: 70 is out of range; expected an integer from 32 to 64']);
  });

  test('missing value is blamed on the key', () => {
    const { lines } = diags(HEAD + `  - reset:\n`);
    expect(lines).toEqual(['s.yaml:6:5: steps.0.reset: expected one of device, system; got nothing (null)']);
  });

  test('semantic errors are reported alongside schema errors', () => {
    const { lines } = diags(HEAD + `  - attach: {domain: 1, endpoint: nic9}\n    expect: OKAY\n  - probe: {endpoint: 12}\n    expect: 3\n`);
    expect(lines).toEqual([
      's.yaml:6:35: steps.0.attach.endpoint: unknown endpoint "nic9"; devices: nic0 (or write a PCI address "bb:dd.f")',
      's.yaml:7:13: steps.0.expect: expected one of OK, IOERR, UNSUPP, DEVERR, INVAL, RANGE, NOENT, FAULT, NOMEM, UNWRITTEN; got the string "OKAY"',
      's.yaml:8:23: warning: steps.1.probe.endpoint: no device has endpoint ID 12 (0xc) = PCI address 00:01.4 (devices: nic0 00:03.0; the host bridge is 00:00.0): the vIOMMU does not know this endpoint, so its requests answer NOENT and its DMA faults',
      's.yaml:9:13: steps.1.expect: expected one of OK, IOERR, UNSUPP, DEVERR, INVAL, RANGE, NOENT, FAULT, NOMEM, UNWRITTEN or a map, got the number 3',
    ]);
  });

  test('empty document', () => {
    expect(diags('').lines).toEqual(['s.yaml:1:1: empty scenario: expected a map with name, viommu and steps']);
    expect(diags('# only a comment\n').lines).toEqual(['s.yaml:1:1: empty scenario: expected a map with name, viommu and steps']);
  });

  test('a document that is not a map', () => {
    expect(diags('- 1\n- 2\n').lines).toEqual(['s.yaml:1:1: document: expected a map, got a list']);
  });

  test('workload that runs past 2^64', () => {
    const { lines } = diags(HEAD + `  - workload: {domain: 1, endpoint: nic0, count: 2, iova-base: 0xfffffffffffff000, phys-base: 0}\n`);
    expect(lines).toEqual(['s.yaml:6:50: steps.0.workload.count: 2 iterations of 4096 bytes from iova-base 0xfffffffffffff000 run past 0xffffffffffffffff']);
  });
});

describe('parseScenario: numbers', () => {
  test('u64 edges are exact (plain, hex, hex string)', () => {
    const { scenario, lines } = diags(
      HEAD +
        `  - map: {domain: 1, virt-start: 0xfffffffffffff000, virt-end: 0xffffffffffffffff, phys-start: "0xFFFFFFFFFFFFF000", flags: [read, write]}\n` +
        `  - dma: {endpoint: nic0, addr: 18446744073709551615, access: write}\n`,
    );
    expect(lines).toEqual([]);
    expect(scenario!.steps[0]).toMatchObject({ virtStart: 0xfffffffffffff000n, virtEnd: 0xffffffffffffffffn, physStart: 0xfffffffffffff000n, flags: 3 });
    expect(scenario!.steps[1]).toMatchObject({ addr: 0xffffffffffffffffn, size: 1n, access: 2 });
  });

  test('hex strings are accepted for u32 fields and raw flags', () => {
    const { scenario, lines } = diags(HEAD + `  - attach: {domain: "0x10", endpoint: 0x18, flags: [bypass, 0x8]}\n`);
    expect(lines).toEqual([]);
    expect(scenario!.steps[0]).toMatchObject({ domain: 16, endpoint: 0x18, flags: 9 });
  });

  test('a float is rejected', () => {
    expect(diags(HEAD + `  - attach: {domain: 1.5, endpoint: nic0}\n`).lines).toEqual(['s.yaml:6:22: steps.0.attach.domain: expected an integer, got 1.5']);
  });
});

describe('parseScenario: defaults and resolution', () => {
  test('machine defaults and overrides', () => {
    const { scenario } = diags(`name: t
machine: virt
viommu:
  model: virtio-iommu
  conformance: spec
  boot-bypass: false
  probe-size: 256
  reserved-regions: ["0x1000:0x1fff:0"]
  offer: {mmio: false}
driver: {features: [MAP_UNMAP, VERSION_1, PROBE]}
steps:
  - request: {hex: "05000000"}
`);
    const s = scenario!;
    expect(s.machine).toBe('virt');
    expect(s.props.conformance).toBe('spec');
    expect(s.props.awBits).toBe(48);
    expect(s.props.bootBypass).toBe(false);
    expect(s.props.probeSize).toBe(256);
    expect(s.props.reservedRegions.at(-1)).toEqual({ start: 0x1000n, end: 0x1fffn, subtype: 0 });
    expect(s.props.offer).toMatchObject({ mmio: false, probe: true, bypassConfig: true, inputRange: true, domainRange: true });
    expect(s.driverFeatures).toBe((1n << 2n) | (1n << 32n) | (1n << 4n));
    expect(s.steps[0]).toMatchObject({ op: 'request', writable: 260 });
  });

  test('workload defaults', () => {
    const { scenario, lines } = diags(HEAD + `  - workload: {domain: 1, endpoint: nic0, count: 3, iova-base: 0x100000, phys-base: 0x200000}\n`);
    expect(lines).toEqual([]);
    expect(scenario!.steps[0]).toMatchObject({ op: 'workload', count: 3, size: 4096n, ops: { map: true, dma: true, unmap: true }, flags: 3, access: 1 });
  });

  test('dma expectations', () => {
    const { scenario, lines } = diags(
      HEAD +
        `  - dma: {endpoint: nic0, addr: 0, access: read}\n    expect: bypass\n` +
        `  - dma: {endpoint: nic0, addr: 0, access: write}\n    expect: {fault: {reason: MAPPING, flags: [write, address], address: 0}}\n` +
        `  - dma: {endpoint: "00:03.0", addr: 0, access: read}\n    expect: {fault: {reason: DOMAIN}}\n`,
    );
    expect(lines).toEqual([]);
    expect(scenario!.steps.map((s) => s.expect)).toEqual([
      { kind: 'bypass' },
      { kind: 'fault', reason: 2, flags: 0x102, address: 0n },
      { kind: 'fault', reason: 1 },
    ]);
  });
});
