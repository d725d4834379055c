/**
 * Issue 6 §5.3: every step is sliceable by the work budget. A dma step counts one unit per granule
 * page of its access and resumes mid-access; a workload iteration whose access spans more pages
 * than the budget left resumes mid-iteration. The event stream, step results and metrics do not
 * depend on the budget, and a slice of `budget` units emits O(budget) events, whatever the size.
 */
import { describe, expect, test } from 'vitest';
import { ScenarioRun } from '../../../core/run/index.ts';
import { accessPages, iterationUnits, scenarioUnits } from '../../../core/run/dma.ts';
import { formatDiagnostic, parseScenario } from '../../../core/scenario/index.ts';
import type { SeqEvent } from '../../../core/events/sink.ts';

function scenarioOf(text: string) {
  const { scenario, diagnostics } = parseScenario(text, 't.yaml');
  expect(diagnostics.map(formatDiagnostic)).toEqual([]);
  return scenario!;
}

const streamText = (events: SeqEvent[]) => JSON.stringify(events, (_k, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v));

/** Runs to the end with a fixed budget; every slice's events and doneUnits are checked as it goes. */
function runAll(text: string, budget: number) {
  const run = new ScenarioRun(scenarioOf(text));
  const events: SeqEvent[] = [...run.takeEvents()];
  let last = run.doneUnits;
  let maxSlice = 0;
  while (run.advance(budget)) {
    const got = run.takeEvents();
    maxSlice = Math.max(maxSlice, got.length);
    events.push(...got);
    expect(run.doneUnits).toBeGreaterThan(last);
    last = run.doneUnits;
  }
  events.push(...run.takeEvents());
  expect(run.doneUnits).toBe(run.totalUnits);
  return { run, events, maxSlice };
}

const HEAD = `name: t
viommu: {model: virtio-iommu, granule: 4k, aw-bits: 64}
devices:
  - {name: nic0, bdf: "00:03.0"}
steps:
`;

describe('dma steps are sliced per granule page', () => {
  test('a 1 TiB access by a bypassed endpoint advances page by page: progress moves, a slice emits what its budget allows', () => {
    // boot-bypass: endpoint 0 (the host bridge) is in bypass, so every page is an identity 'translate'.
    const run = new ScenarioRun(scenarioOf(HEAD + '  - dma: {endpoint: 0, addr: 0, size: 0x10000000000, access: read}\n'));
    expect(run.totalUnits).toBe(2 ** 28);
    run.takeEvents(); // setup
    expect(run.advance(1000)).toBe(true);
    expect(run.doneUnits).toBe(1000);
    const events = run.takeEvents();
    expect(events.length).toBe(1000);
    expect(events.every((e) => e.kind === 'translate' && e.step === 0)).toBe(true);
    expect(events[999]).toMatchObject({ iova: 999n * 0x1000n, size: 0x1000n, path: 1 });
    expect(run.advance(24)).toBe(true);
    expect(run.doneUnits).toBe(1024);
    expect(run.takeEvents()[0]).toMatchObject({ iova: 1000n * 0x1000n });
    expect(run.stepResults()).toEqual([]); // the step is not finished
  });

  test('the same event stream, results and metrics for budgets 1, 7 and 1e9', () => {
    const text =
      HEAD +
      `  - attach: {domain: 1, endpoint: nic0}
  - map: {domain: 1, virt-start: 0x10000, virt-end: 0x13fff, phys-start: 0x80000, flags: [read, write]}
  # Unaligned, crosses 5 pages, then runs past the mapping into a fault on the 5th page.
  - dma: {endpoint: nic0, addr: 0x10800, size: 0x4000, access: read}
    expect: {fault: {reason: MAPPING, address: 0x14000}}
  - dma: {endpoint: nic0, addr: 0x10010, size: 0x3000, access: write}
    expect: {translated: 0x80010}
  # 2^52 pages, but the first page faults: the step ends at once and is credited all its units.
  - dma: {endpoint: nic0, addr: 0, size: 0xffffffffffffffff, access: read}
    expect: {fault: {reason: MAPPING, address: 0}}
  # Up to 2^64 - 1, the top of the address space (the bypassed host bridge).
  - dma: {endpoint: 0, addr: 0xfffffffffffff800, size: 0x800, access: write}
    expect: bypass
  # Iterations of 3 unaligned pages; every third one faults past the mapping.
  - workload: {domain: 1, endpoint: nic0, count: 12, size: 0x2800, iova-base: 0x200800, phys-base: 0x400000, ops: [map, dma, unmap]}
    expect: {faults: 0}
  - workload: {domain: 1, endpoint: nic0, count: 5, size: 0x3000, iova-base: 0x900000, phys-base: 0, ops: [dma]}
    expect: {faults: 5}
`;
    const whole = runAll(text, 1e9);
    expect(whole.run.totalUnits).toBe(1 + 1 + 5 + 4 + 2 ** 52 + 1 + 12 * 4 + 5 * 3);
    expect(whole.run.stepResults().map((r) => r.expectation)).toEqual([undefined, undefined, true, true, true, true, true, true]);
    for (const budget of [1, 7]) {
      const sliced = runAll(text, budget);
      expect(streamText(sliced.events)).toBe(streamText(whole.events));
      expect(sliced.run.stepResults()).toEqual(whole.run.stepResults());
      expect(sliced.run.metrics()).toEqual(whole.run.metrics());
      // O(budget) events per slice, whatever the sizes: a unit (a page or a step) emits at most
      // 3 (translate or request, fault, expectation), plus a split iteration's MAP and UNMAP.
      expect(sliced.maxSlice).toBeLessThanOrEqual(3 * budget + 2);
    }
  });
});

describe('units', () => {
  test('pages of an access, iteration units of a workload', () => {
    const g = 0x1000n;
    expect(accessPages(0n, 0n, g)).toBe(1);
    expect(accessPages(0n, 1n, g)).toBe(1);
    expect(accessPages(0xfffn, 2n, g)).toBe(2);
    expect(accessPages(0x1000n, 0x1000n, g)).toBe(1);
    expect(accessPages(0xfffffffffffff000n, 0x10000n, g)).toBe(1); // stops at 2^64
    expect(accessPages(0n, 0xffffffffffffffffn, g)).toBe(2 ** 52);
    const wl = (size: bigint, iovaBase: bigint, dma = true) => iterationUnits({ size, iovaBase, ops: { map: true, dma, unmap: true } }, g);
    expect(wl(0x1000n, 0n)).toBe(1);
    expect(wl(0x2000n, 0x800n)).toBe(3); // every iteration starts 0x800 into a page
    expect(wl(0x1800n, 0n)).toBe(3); // offsets vary: the bound over any offset
    expect(wl(1n, 0x123n)).toBe(1);
    expect(wl(0x100000n, 0n, false)).toBe(1); // no dma: one unit per iteration
  });

  test('scenarioUnits is what a run counts', () => {
    const s = scenarioOf(HEAD + '  - dma: {endpoint: 0, addr: 0x800, size: 0x1000, access: read}\n  - read-config: {}\n');
    expect(scenarioUnits(s)).toBe(3);
    expect(new ScenarioRun(s).totalUnits).toBe(3);
  });
});
