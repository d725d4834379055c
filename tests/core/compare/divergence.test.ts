/**
 * The first divergence: step by step on stored step results (what counts as a different outcome
 * and what does not), step lists that part, a prefix, traces, and a trace against its own replay
 * (the replay record's first divergence, hand-built as the lead's replays store it).
 */
import { describe, expect, it } from 'vitest';
import type { ReplaySourceInfo, RunDetail, StepResult } from '../../../core/contract/index.ts';
import { firstDivergence, runKind, stepKey, stepText } from '../../../core/compare/divergence.ts';

function run(id: number, steps: StepResult[], over: Partial<RunDetail> = {}): RunDetail {
  return {
    id, name: `run ${id}`, file: 'x.yaml', status: 'done', startedAt: '', finishedAt: null, steps: steps.length, events: 0, failedExpectations: 0,
    error: null, config: null, scenarioText: '', metrics: null, stepResults: steps, ...over,
  };
}
const s = (index: number, op: string, extra: Partial<StepResult> = {}): StepResult => ({ index, op, line: 10 + index, ...extra });

const MAP = s(0, 'dma-map', { status: 'OK', outcome: { iova: '0xfffff000', pages: 1, path: 'tree', host: 'mapped', domain: 0 } });
const UNMAP_STRICT = s(1, 'dma-unmap', { status: 'OK', outcome: { mode: 'strict', host: 'unmapped' } });
const UNMAP_QUEUED = s(1, 'dma-unmap', { status: 'OK', outcome: { mode: 'queued', host: 'none' } });
const FAULT = s(2, 'dma', { outcome: { fault: { reason: 'MAPPING', flags: ['address'], address: '0xfffff000' } } });
const STALE = s(2, 'dma', { outcome: { translated: '0x40000000', stale: true, 'stale-ns': 350 } });

describe('stepKey / stepText', () => {
  it('compares outcomes, not what follows from the configuration', () => {
    expect(stepKey(UNMAP_STRICT)).toBe(stepKey(UNMAP_QUEUED));
    expect(stepKey(FAULT)).not.toBe(stepKey(STALE));
    // Another translated address is the same outcome class; another fault reason is not.
    expect(stepKey(s(2, 'dma', { outcome: { translated: '0x1000' } }))).toBe(stepKey(s(2, 'dma', { outcome: { translated: '0x2000' } })));
    expect(stepKey(s(2, 'dma', { outcome: { fault: { reason: 'DOMAIN' } } }))).not.toBe(stepKey(FAULT));
    // A dma-map: its DMA address and whether the host mapped it.
    expect(stepKey({ ...MAP, outcome: { ...(MAP.outcome as object), host: 'failed' } })).not.toBe(stepKey(MAP));
    expect(stepKey({ ...MAP, outcome: { error: 'DMA_MAPPING_ERROR', why: 'no IOVA' } })).not.toBe(stepKey(MAP));
    // Host uAPI steps: the errno.
    expect(stepKey(s(0, 'ioas-map', { errno: 'OK' }))).not.toBe(stepKey(s(0, 'ioas-map', { errno: 'EINVAL' })));
    // Request steps: the status.
    expect(stepKey(s(0, 'map', { status: 'OK' }))).not.toBe(stepKey(s(0, 'map', { status: 'RANGE' })));
  });

  it('gives one line: status, errno, outcome', () => {
    expect(stepText(MAP)).toBe('OK · DMA address 0xfffff000 · 1 page (tree) · domain 0 · host mapped');
    expect(stepText(FAULT)).toBe('fault MAPPING flags=address addr=0xfffff000');
    expect(stepText(s(0, 'ioas-map', { errno: 'EINVAL' }))).toBe('errno EINVAL');
    expect(stepText(s(0, 'attach', { status: 'OK' }))).toBe('OK');
  });
});

describe('firstDivergence', () => {
  it('names the first step whose outcome differs, with both lines and texts', () => {
    const a = run(1, [MAP, UNMAP_STRICT, FAULT]);
    const b = run(2, [MAP, UNMAP_QUEUED, { ...STALE, line: 40 }]);
    expect(firstDivergence(0, a, 1, b)).toEqual({
      a: 0, b: 1, comparable: true, reason: null, step: 2, line: 12, bLine: 40,
      aText: 'fault MAPPING flags=address addr=0xfffff000',
      bText: 'translated → 0x40000000 STALE (unmapped 350 ns ago, not yet invalidated)',
      aSeq: null, bSeq: null,
    });
  });

  it('agrees everywhere: comparable, no step', () => {
    expect(firstDivergence(0, run(1, [MAP, FAULT]), 3, run(2, [MAP, FAULT]))).toMatchObject({ a: 0, b: 3, comparable: true, step: null, aText: null, bText: null });
  });

  it('step lists that part before any outcome differs are not comparable, with the step named', () => {
    const d = firstDivergence(0, run(1, [MAP, FAULT]), 1, run(2, [MAP, s(1, 'wait', { status: 'OK' })]));
    expect(d).toMatchObject({ comparable: false, step: null });
    expect(d.reason).toBe('the step lists part at step 1: dma (line 12) in run 1, wait (line 11) in run 2');
  });

  it('a prefix that agrees: the first step only the longer run has', () => {
    const d = firstDivergence(0, run(1, [MAP]), 1, run(2, [MAP, FAULT]));
    expect(d).toMatchObject({ comparable: true, step: 1, line: null, bLine: 12, aText: 'no step 1 (the run ended after 1 step)', bText: 'fault MAPPING flags=address addr=0xfffff000' });
  });

  it('a trace has no steps: not comparable; a run without step results neither', () => {
    const trace = run(5, [], { source: { kind: 'trace' } as never });
    expect(runKind(trace)).toBe('trace');
    expect(firstDivergence(0, run(1, [MAP]), 1, trace).reason).toMatch(/^run 5 is an imported trace/);
    expect(firstDivergence(0, run(1, [MAP]), 1, run(2, [])).reason).toBe('run 2 has no stored step results');
  });

  it('a trace against its own replay: the replay record\'s first divergence, in either order', () => {
    const replay: ReplaySourceInfo = {
      kind: 'replay', trace: { runId: 5, name: 'host.txt', format: 'ftrace', sha256: '' }, against: 'lazy.yaml', byOp: { dma: 2 },
      divergenceCount: 2,
      divergences: [
        { step: 4, traceLine: 17, trace: 'line 17: DMAR: [DMA Write NO_PASID] Request device [3b:00.0] fault addr 0xfffff000', replay: null },
        { step: 9, traceLine: 30, trace: null, replay: 'FAULT MAPPING' },
      ],
      notDerived: [], assumptions: [], unattributedFaults: 0,
    };
    const trace = run(5, [], { source: { kind: 'trace' } as never });
    const r = run(6, [], { replay });
    expect(runKind(r)).toBe('replay');
    expect(firstDivergence(0, trace, 1, r)).toMatchObject({
      comparable: true, step: 4, line: 17, aText: replay.divergences[0].trace, bText: 'translated (no fault in the replay)',
    });
    expect(firstDivergence(0, r, 1, trace)).toMatchObject({ step: 4, line: 17, bLine: 17, aText: 'translated (no fault in the replay)', bText: replay.divergences[0].trace });
    // No divergence recorded: they agree.
    expect(firstDivergence(0, trace, 1, run(6, [], { replay: { ...replay, divergenceCount: 0, divergences: [] } }))).toMatchObject({ comparable: true, step: null });
    // A replay of another trace is compared like any other run.
    expect(firstDivergence(0, run(7, [], { source: { kind: 'trace' } as never }), 1, r).comparable).toBe(false);
  });
});

describe('two replays of one trace', () => {
  const rec = (traceRunId: number): ReplaySourceInfo => ({ kind: 'replay', trace: { runId: traceRunId, name: 't', format: 'ftrace', sha256: '' }, against: 'x.yaml', byOp: {}, divergenceCount: 0, divergences: [], notDerived: [], assumptions: [], unattributedFaults: 0 });
  it('pairs the notable step results by index: a failure one side kept is a step that went well on the other', () => {
    const failedMap = s(7, 'dma-map', { status: 'DMA_MAPPING_ERROR', outcome: { error: 'DMA_MAPPING_ERROR', why: 'no IOVA space below the DMA limit' } });
    const a = run(1, [{ ...FAULT, index: 40 }], { replay: rec(9) });
    const b = run(2, [failedMap, { ...FAULT, index: 40 }], { replay: rec(9) });
    expect(firstDivergence(0, a, 1, b)).toMatchObject({ comparable: true, step: 7, line: 17, aText: 'OK (a call that went well: not a notable result)' });
    expect(firstDivergence(0, a, 1, run(3, [{ ...STALE, index: 40 }], { replay: rec(9) }))).toMatchObject({ step: 40, aText: stepText(FAULT) });
    expect(firstDivergence(0, a, 1, run(4, [{ ...FAULT, index: 40 }], { replay: rec(9) }))).toMatchObject({ comparable: true, step: null });
  });
});
