import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { ScenarioRun, SETUP_STEP, runScenarioText } from '../../../core/run/index.ts';
import { parseScenario, formatDiagnostic } from '../../../core/scenario/index.ts';
import type { SeqEvent } from '../../../core/events/sink.ts';

/** Parses a scenario that must be valid. */
function scenarioOf(text: string) {
  const { scenario, diagnostics } = parseScenario(text, 't.yaml');
  expect(diagnostics.map(formatDiagnostic)).toEqual([]);
  return scenario!;
}

/** Runs to the end with a fixed budget, returning every event. */
function runAll(text: string, budget = 1_000_000): { run: ScenarioRun; events: SeqEvent[] } {
  const run = new ScenarioRun(scenarioOf(text));
  const events: SeqEvent[] = [];
  while (run.advance(budget)) events.push(...run.takeEvents());
  events.push(...run.takeEvents());
  return { run, events };
}

/** Stable text of an event stream (bigint as 0x…). */
const streamText = (events: SeqEvent[]) => JSON.stringify(events, (_k, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v));

const head = (conformance: 'qemu' | 'spec', extra = '') => `name: t
viommu: {model: virtio-iommu, conformance: ${conformance}, granule: 4k, aw-bits: 64${extra}}
devices:
  - {name: nic0, bdf: "00:03.0"}
steps:
  - attach: {domain: 1, endpoint: nic0}
    expect: OK
`;

describe('ScenarioRun: 64-bit exactness', () => {
  test('0xfffffffffffff000 and 0xffffffffffffffff go through MAP, DMA and events exactly (spec mode)', () => {
    const { run, events } = runAll(
      head('spec') +
        `  - map: {domain: 1, virt-start: 0xfffffffffffff000, virt-end: 0xffffffffffffffff, phys-start: 0xfffffffffffff000, flags: [read, write]}
    expect: OK
  - dma: {endpoint: nic0, addr: 0xffffffffffffffff, access: write}
    expect: {translated: 0xffffffffffffffff}
  - dma: {endpoint: nic0, addr: 0xfffffffffffff000, size: 0x1000, access: read}
    expect: {translated: 0xfffffffffffff000}
  - unmap: {domain: 1, virt-start: 0xfffffffffffff000, virt-end: 0xffffffffffffffff}
    expect: OK
  - dma: {endpoint: nic0, addr: 0xffffffffffffffff, access: read}
    expect: {fault: {reason: MAPPING, flags: [address], address: 0xffffffffffffffff}}
`,
    );
    expect(run.stepResults().filter((r) => r.expectation === false)).toEqual([]);
    const map = events.find((e) => e.kind === 'map')!;
    expect(map).toMatchObject({ virtStart: 0xfffffffffffff000n, virtEnd: 0xffffffffffffffffn, physStart: 0xfffffffffffff000n, flags: 3 });
    const req = events.find((e) => e.kind === 'request' && e.reqType === 3)!;
    expect(req).toMatchObject({ virtStart: 0xfffffffffffff000n, virtEnd: 0xffffffffffffffffn, physStart: 0xfffffffffffff000n, status: 0 });
    const tr = events.filter((e) => e.kind === 'translate');
    expect(tr[0]).toMatchObject({ iova: 0xffffffffffffffffn, phys: 0xffffffffffffffffn, size: 1n, access: 2 });
    expect(tr[1]).toMatchObject({ iova: 0xfffffffffffff000n, phys: 0xfffffffffffff000n, size: 0x1000n, access: 1 });
    expect(events.find((e) => e.kind === 'unmap')).toMatchObject({ virtStart: 0xfffffffffffff000n, virtEnd: 0xffffffffffffffffn });
    expect(events.find((e) => e.kind === 'fault')).toMatchObject({ reason: 2, flags: 0x100, address: 0xffffffffffffffffn });
    expect(run.stepResults()[2].outcome).toEqual({ translated: '0xffffffffffffffff' });
    expect(run.metrics()).toMatchObject({ peakBytes: '4096', liveBytes: '0' });
  });

  test('QEMU mode: an access at 0xffffffffffffffff only matches a mapping of the whole space (addr + 1 wraps)', () => {
    const { run } = runAll(
      head('qemu') +
        `  - map: {domain: 1, virt-start: 0xfffffffffffff000, virt-end: 0xffffffffffffffff, phys-start: 0x1000, flags: [read]}
  - dma: {endpoint: nic0, addr: 0xfffffffffffffffe, access: read}
    expect: {translated: 0x1ffe}
  - dma: {endpoint: nic0, addr: 0xffffffffffffffff, access: read}
    expect: {fault: {reason: MAPPING, address: 0xffffffffffffffff}}
`,
    );
    expect(run.stepResults().filter((r) => r.expectation === false)).toEqual([]);
  });

  test('a workload carries across 2^32 and ends at 2^64 - 1 exactly', () => {
    const { run, events } = runAll(
      head('qemu') +
        `  - workload: {domain: 1, endpoint: nic0, count: 3, iova-base: 0xfffff000, phys-base: 0xffffffffffffd000, ops: [map, dma]}
  - workload: {domain: 1, endpoint: nic0, count: 2, iova-base: 0xffffffffffffe000, phys-base: 0x0, ops: [map]}
    expect: {failed-requests: 0}
`,
    );
    const maps = events.filter((e) => e.kind === 'map').map((e) => e.kind === 'map' && [e.virtStart, e.virtEnd, e.physStart]);
    expect(maps).toEqual([
      [0xfffff000n, 0xffffffffn, 0xffffffffffffd000n],
      [0x100000000n, 0x100000fffn, 0xffffffffffffe000n],
      [0x100001000n, 0x100001fffn, 0xfffffffffffff000n],
      [0xffffffffffffe000n, 0xffffffffffffefffn, 0x0n],
      [0xfffffffffffff000n, 0xffffffffffffffffn, 0x1000n],
    ]);
    const tr = events.filter((e) => e.kind === 'translate').map((e) => e.kind === 'translate' && [e.iova, e.phys, e.size]);
    expect(tr).toEqual([
      [0xfffff000n, 0xffffffffffffd000n, 4096n],
      [0x100000000n, 0xffffffffffffe000n, 4096n],
      [0x100001000n, 0xfffffffffffff000n, 4096n],
    ]);
    expect(run.stepResults()[1]).toMatchObject({ op: 'workload', status: 'OK', outcome: { iterations: 3, requests: { MAP: { OK: 3 } }, translations: 3, faults: 0, failedRequests: 0 } });
  });
});

describe('ScenarioRun: determinism and slicing', () => {
  const text = readFileSync(join(__dirname, '../../../examples/quickstart.yaml'), 'utf8');
  const WL =
    head('qemu') +
    `  - workload: {domain: 1, endpoint: nic0, count: 2000, size: 0x2000, iova-base: 0x7ffff000, phys-base: 0x40000000}
    expect: {faults: 0}
  - workload: {domain: 1, endpoint: nic0, count: 300, iova-base: 0x100000000, phys-base: 0, ops: [dma, unmap], access: write}
    expect: {faults: 300, failed-requests: 0}
  - probe: {endpoint: nic0}
`;

  test('two runs of the same scenario give identical event streams, results and metrics', () => {
    for (const t of [text, WL]) {
      const a = runAll(t);
      const b = runAll(t);
      expect(streamText(a.events)).toBe(streamText(b.events));
      expect(a.run.stepResults()).toEqual(b.run.stepResults());
      expect(a.run.metrics()).toEqual(b.run.metrics());
    }
  });

  test('advance() split anywhere inside a workload gives the same events as one call', () => {
    const whole = runAll(WL);
    // Units: attach 1; the first workload's iterations each decide 2 granule pages (0x2000 bytes,
    // page-aligned), so 2 units each; the second's are 1 page; probe 1 (core/run/dma.ts).
    expect(whole.run.totalUnits).toBe(1 + 2000 * 2 + 300 + 1);
    for (const budget of [1, 7, 999, 2001]) {
      const sliced = runAll(WL, budget);
      expect(streamText(sliced.events)).toBe(streamText(whole.events));
      expect(sliced.run.stepResults()).toEqual(whole.run.stepResults());
    }
    // Irregular budgets, checking progress as it goes.
    const run = new ScenarioRun(scenarioOf(WL));
    const events: SeqEvent[] = [];
    const budgets = [3, 1, 500, 0, 1499, 1, 250, 49, 1, 5];
    let last = 0;
    let i = 0;
    let more = true;
    while (more) {
      more = run.advance(budgets[i++ % budgets.length]);
      expect(run.doneUnits).toBeGreaterThanOrEqual(last);
      last = run.doneUnits;
      events.push(...run.takeEvents());
    }
    expect(run.doneUnits).toBe(run.totalUnits);
    expect(run.advance(10)).toBe(false);
    expect(streamText(events)).toBe(streamText(whole.events));
  });

  test('a workload emits the same events as the equivalent explicit steps', () => {
    const n = 4;
    const wl = runAll(head('qemu') + `  - workload: {domain: 1, endpoint: nic0, count: ${n}, size: 0x1000, iova-base: 0x10000, phys-base: 0x90000, access: write}\n`);
    let steps = '';
    for (let i = 0; i < n; i++) {
      const iova = 0x10000 + i * 0x1000;
      const phys = 0x90000 + i * 0x1000;
      steps += `  - map: {domain: 1, virt-start: ${iova}, virt-end: ${iova + 0xfff}, phys-start: ${phys}, flags: [read, write]}\n`;
      steps += `  - dma: {endpoint: nic0, addr: ${iova}, size: 0x1000, access: write}\n`;
      steps += `  - unmap: {domain: 1, virt-start: ${iova}, virt-end: ${iova + 0xfff}}\n`;
    }
    const explicit = runAll(head('qemu') + steps);
    const strip = (es: SeqEvent[]) => es.map(({ seq: _s, step: _t, ...rest }) => rest);
    expect(streamText(strip(wl.events) as SeqEvent[])).toBe(streamText(strip(explicit.events) as SeqEvent[]));
  });

  test('events are stamped: setup is step -1, then each step index; seq counts from 0', () => {
    const { events, run } = runAll(text);
    expect(events[0]).toMatchObject({ kind: 'features', step: SETUP_STEP, seq: 0 });
    events.forEach((e, i) => expect(e.seq).toBe(i));
    const steps = events.map((e) => e.step);
    expect([...steps].sort((a, b) => a - b)).toEqual(steps);
    expect(new Set(steps.filter((s) => s >= 0)).size).toBe(run.scenario.steps.length);
  });

  test('record: false keeps no events but computes the same metrics', () => {
    const recorded = runAll(WL);
    const run = new ScenarioRun(scenarioOf(WL), { record: false });
    while (run.advance(100));
    expect(run.takeEvents()).toEqual([]);
    expect(run.metrics()).toEqual(recorded.run.metrics());
    expect(run.stepResults()).toEqual(recorded.run.stepResults());
  });

  // record: false folds the events with u64 fields as numbers below 2^53 (EventSink.lean): the
  // metrics must be those of the recorded bigints, for every example (guest calls, host side,
  // faults) and for mappings at the top of the 64-bit space.
  const examples = readdirSync(join(__dirname, '../../../examples')).filter((f) => f.endsWith('.yaml'));
  test.each(examples)('record: false gives the recorded run\'s metrics and step results: %s', (file) => {
    const parsed = parseScenario(readFileSync(join(__dirname, '../../../examples', file), 'utf8'), file);
    const scenarios = parsed.variants ? parsed.variants.map((v) => v.scenario) : [parsed.scenario!];
    for (const scenario of scenarios) {
      const recorded = new ScenarioRun(scenario);
      while (recorded.advance(1000));
      const lean = new ScenarioRun(scenario, { record: false });
      while (lean.advance(1000));
      expect(lean.metrics()).toEqual(recorded.metrics());
      expect(lean.stepResults()).toEqual(recorded.stepResults());
    }
  });

  test('record: false: mappings at the top of the 64-bit space count their exact bytes', () => {
    const text =
      head('spec') +
      `  - map: {domain: 1, virt-start: 0xfffffffffffff000, virt-end: 0xffffffffffffffff, phys-start: 0x1000, flags: [read]}
  - map: {domain: 1, virt-start: 0x1ffffffffff000, virt-end: 0x20000000000fff, phys-start: 0x2000, flags: [read]}
  - map: {domain: 1, virt-start: 0, virt-end: 0xfff, phys-start: 0x3000, flags: [read]}
  - unmap: {domain: 1, virt-start: 0x1ffffffffff000, virt-end: 0x20000000000fff}
`;
    const recorded = runAll(text).run.metrics();
    const run = new ScenarioRun(scenarioOf(text), { record: false });
    while (run.advance(100));
    expect(run.metrics()).toEqual(recorded);
    expect(recorded.peakBytes).toBe(String(0x1000 + 0x2000 + 0x1000));
    expect(recorded.liveBytes).toBe(String(0x2000));
  });
});

describe('ScenarioRun: results, expectations and metrics', () => {
  test('metrics of the quickstart', () => {
    const text = readFileSync(join(__dirname, '../../../examples/quickstart.yaml'), 'utf8');
    const { run } = runAll(text);
    expect(run.metrics()).toEqual({
      events: 31,
      byKind: {
        features: 1,
        'endpoint-alloc': 2,
        'domain-alloc': 2,
        attach: 2,
        request: 6,
        expectation: 6,
        map: 1,
        probe: 1,
        translate: 1,
        'config-read': 1,
        'config-write': 1,
        reset: 1,
        detach: 2,
        'domain-free': 2,
        'endpoint-free': 2,
      },
      requests: { ATTACH: { OK: 2 }, MAP: { OK: 1 }, UNMAP: { RANGE: 1 }, PROBE: { OK: 1 }, UNKNOWN: { UNSUPP: 1 } },
      faultsByReason: {},
      translations: 1,
      // The device reset destroyed domain 1 and its 10-byte mapping.
      liveMappings: 0,
      peakMappings: 1,
      liveBytes: '0',
      peakBytes: '10',
      expectations: { held: 6, failed: 0 },
      components: expect.any(Array),
    });
    expect(run.stepResults().map((r) => [r.op, r.line, r.status, r.expectation])).toEqual([
      ['attach', 15, 'OK', true],
      ['map', 17, 'OK', undefined],
      ['unmap', 18, 'RANGE', true],
      ['probe', 20, 'OK', true],
      ['dma', 22, undefined, true],
      ['request', 24, 'UNSUPP', true],
      ['attach', 26, 'OK', undefined],
      ['read-config', 27, undefined, true],
      ['set-bypass', 29, undefined, undefined],
      ['reset', 30, undefined, undefined],
    ]);
    const r = run.stepResults();
    expect(r[3].outcome).toEqual({ regions: [{ subtype: 'msi', start: '0xfee00000', end: '0xfeefffff' }] });
    expect(r[4].outcome).toEqual({ translated: '0xc1004' });
    expect(r[7].outcome).toEqual({ config: { pageSizeMask: '0xfffffffffffff000', inputRange: ['0x0', '0xffffffffffff'], domainRange: [0, 4294967295], probeSize: 512, bypass: 1 } });
  });

  test('a failed expectation is recorded after the step\'s events and the run goes on', () => {
    const { run, events } = runAll(
      head('qemu') +
        `  - map: {domain: 1, virt-start: 0x1000, virt-end: 0x1fff, phys-start: 0x5000, flags: [read]}
    expect: RANGE
  - dma: {endpoint: nic0, addr: 0x1000, access: write}
    expect: {translated: 0x5000}
  - probe: {endpoint: nic0}
    expect: {resv-mem: []}
  - dma: {endpoint: nic0, addr: 0x1000, access: read}
    expect: {translated: 0x5000}
`,
    );
    const r = run.stepResults();
    expect(r.map((x) => x.expectation)).toEqual([true, false, false, false, true]);
    expect(r[1].message).toBe('expected status RANGE, got OK');
    expect(r[2].message).toBe('expected {"translated":"0x5000"}, got {"fault":{"reason":"MAPPING","flags":["write","address"],"address":"0x1000"}}');
    expect(r[3].message).toBe('expected regions [], got [{"subtype":"msi","start":"0xfee00000","end":"0xfeefffff"}]');
    const step1 = events.filter((e) => e.step === 1).map((e) => e.kind);
    expect(step1).toEqual(['map', 'request', 'expectation']);
    const exp = events.find((e) => e.step === 1 && e.kind === 'expectation')!;
    expect(exp).toMatchObject({ held: 0, detail: { expected: 'RANGE', actual: 'OK', message: 'expected status RANGE, got OK' } });
    expect(run.metrics().expectations).toEqual({ held: 2, failed: 3 });
    expect(run.metrics().faultsByReason).toEqual({ MAPPING: 1 });
  });

  test('raw requests: PROBE gets probe-size + 4 writable bytes by default; short requests are UNWRITTEN', () => {
    const { run } = runAll(
      head('qemu') +
        `  - request: {hex: "05000000 18000000 ${'00'.repeat(64)}"}
    expect: OK
  - request: {hex: "05000000 18000000 ${'00'.repeat(64)}", writable: 4}
    expect: DEVERR
  - request: {hex: "0300"}
    expect: UNWRITTEN
  - attach: {domain: 1, endpoint: nic0}
    expect: UNWRITTEN
  - reset: device
  - attach: {domain: 1, endpoint: nic0}
    expect: OK
`,
    );
    const r = run.stepResults();
    expect(r.filter((x) => x.expectation === false)).toEqual([]);
    expect(r[1].outcome).toEqual({ used: 516 });
    expect(r[2].outcome).toEqual({ used: 4 });
    expect(r[3].outcome).toEqual({ used: 0 });
    expect(run.metrics().byKind['device-error']).toBe(1);
  });

  test('driver features: without BYPASS_CONFIG QEMU refuses a config.bypass change', () => {
    const { run, events } = runAll(`name: t
viommu: {model: virtio-iommu}
driver: {features: [VERSION_1, MAP_UNMAP]}
steps:
  - set-bypass: 0
    expect: {bypass: 1}
`);
    expect(events[0]).toMatchObject({ kind: 'features', accepted: (1n << 32n) | 4n });
    expect(run.stepResults()[0].expectation).toBe(true);
    expect(events.map((e) => e.kind)).toEqual(['features', 'config-write', 'device-error', 'config-read', 'expectation']);
  });

  test('runScenarioText returns diagnostics and no run for an invalid scenario', () => {
    const bad = runScenarioText('name: t\nviommu: {model: virtio-iommu}\nsteps:\n  - reset: now\n', 'bad.yaml');
    expect(bad.run).toBeUndefined();
    expect(bad.diagnostics.map(formatDiagnostic)).toEqual(['bad.yaml:4:12: steps.0.reset: expected one of device, system; got the string "now"']);
    const ok = runScenarioText('name: t\nviommu: {model: virtio-iommu}\nsteps: []\n', 'ok.yaml');
    expect(ok.diagnostics).toEqual([]);
    expect(ok.run!.totalUnits).toBe(0);
    expect(ok.run!.advance(1)).toBe(false);
    expect(ok.run!.takeEvents().map((e) => e.kind)).toEqual(['features']);
  });
});
