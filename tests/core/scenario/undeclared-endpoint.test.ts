import { describe, expect, test } from 'vitest';
import { ScenarioRun } from '../../../core/run/index.ts';
import type { SeqEvent } from '../../../core/events/sink.ts';
import { formatDiagnostic, parseScenario } from '../../../core/scenario/index.ts';

const HEAD = `name: t
viommu: {model: virtio-iommu}
devices:
  - {name: nic0, bdf: "00:03.0"}
steps:
`;

function parse(steps: string) {
  const r = parseScenario(HEAD + steps, 's.yaml');
  return { ...r, lines: r.diagnostics.map(formatDiagnostic) };
}

describe('a step endpoint no device declares', () => {
  test('a PCI address no device has is a warning at the field, and the scenario still runs', () => {
    const { scenario, diagnostics, lines } = parse('  - attach: {domain: 1, endpoint: "00:04.0"}\n    expect: NOENT\n');
    expect(lines).toEqual([
      's.yaml:6:35: warning: steps.0.attach.endpoint: no device has PCI address 00:04.0 (devices: nic0 00:03.0; the host bridge is 00:00.0): the vIOMMU does not know this endpoint, so its requests answer NOENT and its DMA faults',
    ]);
    expect(diagnostics[0]).toMatchObject({ severity: 'warning', line: 6, column: 35, endLine: 6, endColumn: 44, path: 'steps.0.attach.endpoint' });
    // Warnings do not stop a run: the step is sent to endpoint 00:04.0 (0x20) and answers NOENT.
    expect(scenario).not.toBeNull();
    expect(scenario!.steps[0]).toMatchObject({ op: 'attach', endpoint: 0x20 });
    const run = new ScenarioRun(scenario!);
    const events: SeqEvent[] = [];
    while (run.advance(1_000_000)) events.push(...run.takeEvents());
    events.push(...run.takeEvents());
    expect(run.stepResults()[0]).toMatchObject({ status: 'NOENT', expectation: true });
  });

  test('every step op that names an endpoint warns, with each location', () => {
    const { scenario, lines } = parse(
      [
        '  - probe: {endpoint: "01:00.0"}',
        '  - dma: {endpoint: "01:00.1", addr: 0x1000, access: read}',
        '  - detach: {domain: 1, endpoint: "01:00.2"}',
        '  - workload: {domain: 1, endpoint: "01:00.3", count: 1, iova-base: 0x10000, phys-base: 0x10000}',
        '',
      ].join('\n'),
    );
    expect(scenario).not.toBeNull();
    expect(lines.map((l) => l.split(': no device')[0])).toEqual([
      's.yaml:6:23: warning: steps.0.probe.endpoint',
      's.yaml:7:21: warning: steps.1.dma.endpoint',
      's.yaml:8:35: warning: steps.2.detach.endpoint',
      's.yaml:9:37: warning: steps.3.workload.endpoint',
    ]);
  });

  test('no devices declared: the warning says so', () => {
    const r = parseScenario('name: t\nviommu: {model: virtio-iommu}\nsteps:\n  - probe: {endpoint: "00:01.0"}\n', 's.yaml');
    expect(r.diagnostics.map(formatDiagnostic)).toEqual([
      's.yaml:4:23: warning: steps.0.probe.endpoint: no device has PCI address 00:01.0 (no devices are declared; the host bridge is 00:00.0): the vIOMMU does not know this endpoint, so its requests answer NOENT and its DMA faults',
    ]);
  });

  test.each([
    ['a declared device name', 'nic0', 0x18],
    ['a declared PCI address', '"00:03.0"', 0x18],
    ['the host bridge, which always exists', '"00:00.0"', 0],
    ['a raw endpoint ID a device has', '24', 0x18],
    ['a raw endpoint ID a device has, as a hex string', '"0x18"', 0x18],
    ['the host bridge as a raw ID', '0', 0],
  ])('%s gives no diagnostic', (_what, ref, endpoint) => {
    const { scenario, lines } = parse(`  - probe: {endpoint: ${ref}}\n`);
    expect(lines).toEqual([]);
    expect(scenario!.steps[0]).toMatchObject({ op: 'probe', endpoint });
  });

  test.each([
    ['a number', '77', 77, 'endpoint ID 77 (0x4d) = PCI address 00:09.5'],
    ['a hex number', '0x20', 0x20, 'endpoint ID 32 (0x20) = PCI address 00:04.0'],
    ['a "0x…" string', '"0x4d"', 77, 'endpoint ID 0x4d = PCI address 00:09.5'],
    ['a u32 beyond any PCI address', '0x10000', 0x10000, 'endpoint ID 65536 (0x10000)'],
  ])('a raw endpoint ID no device has (%s) is allowed, with a warning (the spec error cases are written that way)', (_what, ref, endpoint, named) => {
    const { scenario, lines } = parse(`  - probe: {endpoint: ${ref}}\n`);
    expect(scenario!.steps[0]).toMatchObject({ op: 'probe', endpoint });
    expect(lines).toEqual([
      `s.yaml:6:23: warning: steps.0.probe.endpoint: no device has ${named} (devices: nic0 00:03.0; the host bridge is 00:00.0): the vIOMMU does not know this endpoint, so its requests answer NOENT and its DMA faults`,
    ]);
  });

  test('an undeclared device name stays an error (it names no endpoint at all)', () => {
    const { scenario, diagnostics } = parse('  - probe: {endpoint: nic1}\n');
    expect(scenario).toBeNull();
    expect(diagnostics).toMatchObject([{ severity: 'error', line: 6, column: 23, path: 'steps.0.probe.endpoint' }]);
  });
});
