/**
 * compareRuns on hand-built stored runs: rows merged across runs (a request type only one run has
 * sits with its type), 0 where a run has the component and null where it has not, deltas and
 * `differs`, the cost rows, and the CSV export's quoting.
 */
import { describe, expect, it } from 'vitest';
import type { ComponentMetrics, RunDetail, RunMetrics } from '../../../core/contract/index.ts';
import { compareRuns, comparisonCsv, costCountsOf, type CompareInput } from '../../../core/compare/compare.ts';
import { costModel } from '../../../core/compare/cost.ts';

function metrics(requests: RunMetrics['requests'], over: Partial<RunMetrics> = {}): RunMetrics {
  return {
    events: 10, byKind: { request: 3, map: 2 }, requests, faultsByReason: {}, translations: 4, liveMappings: 1, peakMappings: 2,
    liveBytes: '4096', peakBytes: '8192', expectations: { held: 0, failed: 0 }, ...over,
  };
}
function input(id: number, m: RunMetrics | null, over: Partial<RunDetail> = {}, extra: Partial<CompareInput> = {}): CompareInput {
  return {
    run: { id, name: `run ${id}`, file: 'x.yaml', status: 'done', startedAt: '', finishedAt: null, steps: 0, events: m?.events ?? 0, failedExpectations: 0, error: null, config: null, scenarioText: 'name: x\n', metrics: m, stepResults: [], ...over },
    durationNs: 1000 * id,
    hostMapPages: 0,
    ...extra,
  };
}
const model = costModel();
const row = (c: ReturnType<typeof compareRuns>, id: string) => c.rows.find((r) => r.id === id);

describe('compareRuns', () => {
  it('merges rows across runs, 0 for a part one run lacks, deltas against the first', () => {
    const a = input(1, metrics({ ATTACH: { OK: 1 }, MAP: { OK: 2 } }));
    const b = input(2, metrics({ ATTACH: { OK: 1 }, MAP: { OK: 1, RANGE: 1 }, UNMAP: { OK: 1 } }, { faultsByReason: { MAPPING: 2 } }));
    const c = compareRuns([a, b], model);
    expect(row(c, 'requests')).toMatchObject({ values: [3, 4], deltas: [0, 1], differs: true, group: 'requests', unit: 'count' });
    expect(row(c, 'requests.notOk')?.values).toEqual([0, 1]);
    expect(row(c, 'requests.MAP.RANGE')).toMatchObject({ label: 'MAP requests: RANGE', values: [0, 1], deltas: [0, 1] });
    expect(row(c, 'requests.ATTACH.OK')).toMatchObject({ values: [1, 1], differs: false });
    expect(row(c, 'faults.MAPPING')?.values).toEqual([0, 2]);
    // A part only the second run has sits with its kin, not at the end of the group.
    const ids = c.rows.map((r) => r.id);
    expect(ids.indexOf('requests.MAP.RANGE')).toBe(ids.indexOf('requests.MAP.OK') + 1);
    expect(ids.indexOf('requests.UNMAP')).toBeLessThan(ids.indexOf('maps'));
    expect(row(c, 'mappings.peakBytes')).toMatchObject({ unit: 'bytes', values: [8192, 8192] });
    expect(row(c, 'duration')).toMatchObject({ unit: 'ns', values: [1000, 2000] });
    // No guest layer and no host backend: those rows do not apply (null), they are not 0.
    expect(row(c, 'guest.syncs')).toMatchObject({ values: [null, null], deltas: [null, null], differs: false });
    expect(row(c, 'host.calls')?.values).toEqual([null, null]);
    expect(c.divergences).toHaveLength(1);
    expect(c.divergences[0].reason).toBe('run 1 has no stored step results');
    expect(c.costModel).toEqual(model);
    expect(c.sides.map((s) => s.configText)).toEqual(['name: x\n', 'name: x\n']);
  });

  it('charges a VM exit per request without a guest layer, per kick with one; host maps per call and page', () => {
    const guest: ComponentMetrics = {
      component: 'guest0', kind: 'linux', layer: 'guest',
      metrics: [
        { id: 'dmaUnmaps', label: '', unit: 'count', value: 3, parts: { strict: 1, queued: 2 } },
        { id: 'fqFlushes', label: '', unit: 'count', value: 1, parts: { 'queue full': 0, timeout: 1 } },
      ],
    };
    const host: ComponentMetrics = {
      component: 'iommufd0', kind: 'iommufd', layer: 'backend',
      metrics: [{ id: 'hostCalls', label: '', unit: 'count', value: 4, parts: { IOMMU_IOAS_MAP: { OK: 1, EINVAL: 1 }, IOMMU_IOAS_UNMAP: { OK: 1 }, IOMMU_IOAS_ALLOC: { OK: 1 } } }],
    };
    const base = metrics({ MAP: { OK: 5 } });
    const plain = input(1, base);
    const withAll = input(2, { ...base, byKind: { ...base.byKind, 'guest-sync': 2 }, components: [{ component: 'viommu0', kind: 'virtio-iommu', layer: 'viommu', metrics: [{ id: 'requests', label: '', unit: 'count', value: 5, parts: { MAP: { OK: 5 } } }] }, guest, host] }, {}, { hostMapPages: 3 });
    expect(costCountsOf(plain)).toEqual({ vmExits: 5, requests: 5, hostMaps: null, hostMapPages: null, hostUnmaps: null, invalidations: null, faults: 0 });
    expect(costCountsOf(withAll)).toEqual({ vmExits: 2, requests: 5, hostMaps: 2, hostMapPages: 3, hostUnmaps: 1, invalidations: 1 + 1, faults: 0 });
    const c = compareRuns([plain, withAll], model);
    expect(row(c, 'cost.vmexit')?.values).toEqual([5 * model.vmExitNs, 2 * model.vmExitNs]);
    expect(row(c, 'cost.hostMap')?.values).toEqual([null, 2 * model.hostMapNs + 3 * model.hostMapPageNs]);
    expect(row(c, 'host.failures.IOMMU_IOAS_MAP.EINVAL')?.values).toEqual([null, 1]);
    expect(row(c, 'host.failures')?.values).toEqual([null, 1]);
    expect(row(c, 'invalidations.strict')?.values).toEqual([null, 1]);
    const total = row(c, 'cost.total')!;
    expect(total.values[0]).toBe(5 * model.vmExitNs + 5 * model.requestNs);
    expect(total.deltas[1]).toBe(total.values[1]! - total.values[0]!);
  });

  it('needs two runs', () => {
    expect(() => compareRuns([input(1, null)], model)).toThrow('a comparison needs at least 2 runs, got 1');
  });
});

describe('comparisonCsv', () => {
  it('quotes names with commas and quotes, leaves null cells empty, ends lines with CRLF', () => {
    const a = input(1, metrics({}), { name: 'strict, "a"' });
    const b = input(2, null, { name: 'b' });
    const csv = comparisonCsv(compareRuns([a, b], model));
    const lines = csv.split('\r\n');
    expect(lines[0]).toBe('group,id,label,unit,"run 1: strict, ""a""",run 2: b,Δ run 2,differs');
    // Run 2 has no metrics at all: its requests do not apply.
    expect(lines).toContain('requests,requests,Requests,count,0,,,no');
    expect(lines).toContain('events,duration,Virtual time,ns,1000,2000,1000,yes');
    expect(csv.endsWith('\r\n')).toBe(true);
  });
});
