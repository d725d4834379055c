/** The cost model: defaults with overrides, each term's arithmetic, null terms and the total. */
import { describe, expect, it } from 'vitest';
import { COST_KEYS, COST_TERMS, DEFAULT_COST_MODEL, costModel, isCostKey, modelledCost, type CostCounts } from '../../../core/compare/cost.ts';

const model = { vmExitNs: 10, requestNs: 100, hostMapNs: 1000, hostMapPageNs: 3, hostUnmapNs: 10000, invalidationNs: 7, faultNs: 100000 };
const counts: CostCounts = { vmExits: 8, requests: 8, hostMaps: 2, hostMapPages: 1048577, hostUnmaps: 1, invalidations: 2, faults: 1 };

describe('cost model', () => {
  it('charges each count its cost per operation; host maps per call and per page', () => {
    const c = modelledCost(counts, model);
    expect(c).toEqual({
      vmexit: 80,
      request: 800,
      hostMap: 2 * 1000 + 1048577 * 3,
      hostUnmap: 10000,
      invalidation: 14,
      fault: 100000,
      total: 80 + 800 + 2000 + 3145731 + 10000 + 14 + 100000,
    });
  });

  it('leaves a term null when its count is, and sums only the others', () => {
    const c = modelledCost({ vmExits: null, requests: null, hostMaps: null, hostMapPages: null, hostUnmaps: null, invalidations: 3, faults: 2 }, model);
    expect(c).toMatchObject({ vmexit: null, request: null, hostMap: null, hostUnmap: null, invalidation: 21, fault: 200000, total: 200021 });
    const none = modelledCost({ vmExits: null, requests: null, hostMaps: null, hostMapPages: null, hostUnmaps: null, invalidations: null, faults: null }, model);
    expect(none.total).toBeNull();
    // Zero counts are a cost of 0, not "does not apply".
    expect(modelledCost({ ...counts, faults: 0 }, model).fault).toBe(0);
  });

  it('applies overrides to the defaults and refuses unknown keys and bad values', () => {
    expect(costModel()).toEqual(DEFAULT_COST_MODEL);
    expect(costModel({ faultNs: 1 })).toEqual({ ...DEFAULT_COST_MODEL, faultNs: 1 });
    expect(() => costModel({ bogus: 1 } as never)).toThrow(/unknown cost model key "bogus"/);
    expect(() => costModel({ vmExitNs: -1 })).toThrow(/vmExitNs must be a finite number of ns ≥ 0, got -1/);
    expect(() => costModel({ vmExitNs: Number.NaN })).toThrow(RangeError);
    expect(Object.isFrozen(DEFAULT_COST_MODEL)).toBe(true);
  });

  it('lists every key and term once', () => {
    expect([...COST_KEYS].sort()).toEqual(Object.keys(DEFAULT_COST_MODEL).sort());
    expect(COST_KEYS.every(isCostKey)).toBe(true);
    expect(isCostKey('toString')).toBe(false);
    expect(COST_TERMS.map((t) => t.term)).toEqual(['vmexit', 'request', 'hostMap', 'hostUnmap', 'invalidation', 'fault']);
  });
});
