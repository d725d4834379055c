import { describe, expect, test } from 'vitest';
import { MetricsReducer, computeMetrics } from '../../../core/events/metrics.ts';

describe('MetricsReducer', () => {
  test('folds a hand-written stream', () => {
    const events = [
      { kind: 'features', offered: 1n, accepted: 1n },
      { kind: 'request', reqType: 1, status: 0, used: 4 },
      { kind: 'request', reqType: 3, status: 0, used: 4 },
      { kind: 'map', domain: 1, virtStart: 0n, virtEnd: 0xfffn, physStart: 0n, flags: 3 },
      { kind: 'request', reqType: 3, status: 0, used: 4 },
      { kind: 'map', domain: 1, virtStart: '0xfffffffffffff000', virtEnd: '0xffffffffffffffff', physStart: '0x0', flags: 3 },
      { kind: 'request', reqType: 4, status: 5, used: 4 },
      { kind: 'request', reqType: 0x42, used: 0 },
      { kind: 'translate', endpoint: 0, iova: 0n, phys: 0n, size: 1n, access: 1, path: 0 },
      { kind: 'fault', reason: 2, flags: 0x100, endpoint: 0, address: 0n },
      { kind: 'fault', reason: 1, flags: 0x100, endpoint: 0, address: 0n },
      { kind: 'unmap', domain: 1, virtStart: 0n, virtEnd: 0xfffn, physStart: 0n, flags: 3 },
      { kind: 'expectation', held: 1, detail: {} },
      { kind: 'expectation', held: 0, detail: {} },
    ];
    const m = computeMetrics(events);
    expect(m).toEqual({
      events: 14,
      byKind: { features: 1, request: 5, map: 2, translate: 1, fault: 2, unmap: 1, expectation: 2 },
      requests: { ATTACH: { OK: 1 }, MAP: { OK: 2 }, UNMAP: { RANGE: 1 }, UNKNOWN: { UNWRITTEN: 1 } },
      faultsByReason: { MAPPING: 1, DOMAIN: 1 },
      translations: 1,
      liveMappings: 1,
      peakMappings: 2,
      liveBytes: '4096',
      peakBytes: '8192',
      expectations: { held: 1, failed: 1 },
    });
  });

  test('byte counts exceed 2^53 exactly', () => {
    const r = new MetricsReducer();
    r.add({ kind: 'map', virtStart: 0n, virtEnd: 0xffffffffffffffffn });
    expect(r.result().liveBytes).toBe('18446744073709551616');
    r.add({ kind: 'unmap', virtStart: 0n, virtEnd: 0xffffffffffffffffn });
    expect(r.result()).toMatchObject({ liveBytes: '0', peakBytes: '18446744073709551616', liveMappings: 0, peakMappings: 1 });
  });

  test('domain-free drops what its domain still holds, with or without unmap events first', () => {
    const maps = [
      { kind: 'map', domain: 1, virtStart: 0n, virtEnd: 0xfffn },
      { kind: 'map', domain: 1, virtStart: 0x1000n, virtEnd: 0x1fffn },
      { kind: 'map', domain: 2, virtStart: 0n, virtEnd: 0xffn },
    ];
    const silent = computeMetrics([...maps, { kind: 'domain-free', domain: 1, mappings: 2 }]);
    const explicit = computeMetrics([
      ...maps,
      { kind: 'unmap', domain: 1, virtStart: 0n, virtEnd: 0xfffn },
      { kind: 'unmap', domain: 1, virtStart: 0x1000n, virtEnd: 0x1fffn },
      { kind: 'domain-free', domain: 1, mappings: 0 },
    ]);
    for (const m of [silent, explicit]) expect(m).toMatchObject({ liveMappings: 1, peakMappings: 3, liveBytes: '256', peakBytes: '8448' });
    // A domain re-created with the same ID starts empty.
    const again = computeMetrics([...maps, { kind: 'domain-free', domain: 1, mappings: 2 }, { kind: 'map', domain: 1, virtStart: 0n, virtEnd: 0n }, { kind: 'domain-free', domain: 1, mappings: 1 }]);
    expect(again).toMatchObject({ liveMappings: 1, liveBytes: '256' });
  });

  test('result() is a snapshot', () => {
    const r = new MetricsReducer();
    r.add({ kind: 'request', reqType: 1, status: 0 });
    const a = r.result();
    r.add({ kind: 'request', reqType: 1, status: 0 });
    expect(a.requests.ATTACH.OK).toBe(1);
    expect(r.result().requests.ATTACH.OK).toBe(2);
  });
});
