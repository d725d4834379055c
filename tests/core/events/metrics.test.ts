import { describe, expect, test } from 'vitest';
import { EVENT_CATALOG, type KindSpec } from '../../../core/events/catalog.ts';
import { METRIC_CATALOG, METRIC_IDS, type MetricSpec } from '../../../core/events/metric-catalog.ts';
import { MetricsReducer, componentMetricsOf, computeMetrics } from '../../../core/events/metrics.ts';

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
      components: expect.any(Array),
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

  test('counts events by kind name in first-seen order, unknown kinds included, up to date at every read', () => {
    const r = new MetricsReducer();
    r.addFields('translate', { endpoint: 0, iova: 0n, phys: 0n, size: 1n, access: 1, path: 0 }, 'viommu0');
    r.addFields('not-a-kind', {});
    r.addFields('request', { reqType: 1, status: 0 });
    r.addFields('translate', { endpoint: 0, iova: 0n, phys: 0n, size: 1n, access: 1, path: 0 });
    const a = r.result();
    expect(Object.entries(a.byKind)).toEqual([
      ['translate', 2],
      ['not-a-kind', 1],
      ['request', 1],
    ]);
    expect(a).toMatchObject({ events: 4, translations: 2 });
    r.addFields('not-a-kind', {});
    for (let i = 0; i < 40; i++) r.addFields(`other-${i}`, {});
    const b = r.result();
    expect(b.events).toBe(45);
    expect(Object.keys(b.byKind)).toHaveLength(43);
    expect(b.byKind['not-a-kind']).toBe(2);
    expect(a.byKind['not-a-kind']).toBe(1);
    const events = r.componentMetrics()[0].metrics.find((m) => m.id === 'events')!;
    expect(events).toMatchObject({ value: 45, parts: b.byKind });
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

describe('per-component metrics (declared labels and units)', () => {
  const stream = [
    { kind: 'request', reqType: 3, status: 0, used: 4 },
    { kind: 'map', domain: 1, virtStart: 0n, virtEnd: 0xfffn, physStart: 0n, flags: 3 },
    { kind: 'fault', reason: 2, flags: 0x100, endpoint: 0, address: 0n },
    { kind: 'expectation', held: 1, detail: {} },
  ];

  test('the run and the vIOMMU, each with the metrics declared for its kind, labels and units from METRIC_CATALOG', () => {
    const { components } = computeMetrics(stream);
    expect(components!.map((c) => [c.component, c.kind, c.layer])).toEqual([
      ['run', 'run', 'run'],
      ['viommu0', 'virtio-iommu', 'viommu'],
    ]);
    const [run, viommu] = components!;
    expect(run.metrics.map((m) => m.id)).toEqual(['events', 'expectations']);
    expect(run.metrics[0]).toEqual({ id: 'events', label: 'Events', unit: 'count', value: 4, parts: { request: 1, map: 1, fault: 1, expectation: 1 } });
    expect(run.metrics[1]).toEqual({ id: 'expectations', label: 'Expectations', unit: 'count', value: 1, parts: { held: 1, failed: 0 } });
    expect(viommu.metrics.map((m) => m.id)).toEqual(['requests', 'translations', 'faults', 'mappings', 'mappedBytes']);
    for (const m of [...run.metrics, ...viommu.metrics]) {
      const spec = METRIC_CATALOG[m.id as keyof typeof METRIC_CATALOG];
      expect([m.label, m.unit]).toEqual([spec.label, spec.unit]);
    }
    expect(viommu.metrics.find((m) => m.id === 'requests')).toMatchObject({ value: 1, parts: { MAP: { OK: 1 } } });
    expect(viommu.metrics.find((m) => m.id === 'mappedBytes')).toMatchObject({ unit: 'bytes', value: '4096', peak: '4096' });
    expect(viommu.metrics.find((m) => m.id === 'faults')).toMatchObject({ value: 1, parts: { MAPPING: 1 } });
  });

  test('events carrying a component are measured on it; run-level metrics stay on the run; the run-wide fields sum components', () => {
    const r = new MetricsReducer();
    r.add({ kind: 'map', component: 'viommu0', domain: 1, virtStart: 0n, virtEnd: 0xfffn });
    r.add({ kind: 'map', component: 'viommu1', domain: 1, virtStart: 0n, virtEnd: 0x1fffn });
    r.add({ kind: 'expectation', component: 'viommu1', held: 0, detail: {} });
    const m = r.result();
    expect(m.components!.map((c) => c.component)).toEqual(['run', 'viommu0', 'viommu1']);
    expect(m.components![2].metrics.find((x) => x.id === 'mappedBytes')).toMatchObject({ value: '8192' });
    expect(m.components![0].metrics.find((x) => x.id === 'expectations')).toMatchObject({ parts: { held: 0, failed: 1 } });
    expect(m).toMatchObject({ liveMappings: 2, liveBytes: '12288', expectations: { held: 0, failed: 1 } });
  });

  test('a run with no events still reports every declared metric at zero', () => {
    const { components } = new MetricsReducer().result();
    expect(components!.flatMap((c) => c.metrics.map((m) => `${m.id}=${String(m.value)}`))).toEqual([
      'events=0',
      'expectations=0',
      'requests=0',
      'translations=0',
      'faults=0',
      'mappings=0',
      'mappedBytes=0',
    ]);
  });

  test('componentMetricsOf: the stored components, or the same shape filled from metrics stored before them', () => {
    const m = computeMetrics(stream);
    expect(componentMetricsOf(m)).toBe(m.components);
    const { components: _c, ...legacy } = m;
    expect(componentMetricsOf(legacy)).toEqual(m.components);
  });
});

describe('feeds are declared by the kinds', () => {
  test('every metric a kind feeds is declared, and every non-run metric is fed by some kind', () => {
    const fed = new Set<string>();
    for (const spec of Object.values(EVENT_CATALOG) as KindSpec[]) for (const feed of spec.feeds ?? []) fed.add(feed.metric);
    for (const id of fed) expect(METRIC_IDS).toContain(id);
    for (const id of METRIC_IDS) if (!(METRIC_CATALOG[id] as MetricSpec).everyEvent) expect(fed).toContain(id);
  });
});

describe('compiled and interpreted feeds', () => {
  test('fold a stream to the same metrics (the interpreted path serves hosts that forbid generated code)', () => {
    const stream = [
      { kind: 'request', reqType: 3, status: 0, used: 4 },
      { kind: 'map', domain: 1, virtStart: 0n, virtEnd: 0xfffn },
      { kind: 'map', domain: 2, virtStart: '0x0', virtEnd: '0xffffffffffffffff' },
      { kind: 'unmap', domain: 1, virtStart: 0n, virtEnd: 0xfffn },
      { kind: 'domain-free', domain: 2, mappings: 1 },
      { kind: 'request', reqType: 0x42 },
      { kind: 'translate', endpoint: 0 },
      { kind: 'fault', reason: 1 },
      { kind: 'expectation', held: 0, detail: {} },
      { kind: 'not-declared', x: 1 },
    ];
    const a = new MetricsReducer();
    const b = new MetricsReducer(undefined, { interpreted: true });
    for (const e of stream) {
      a.add(e);
      b.add(e);
    }
    expect(b.result()).toEqual(a.result());
    expect(a.result()).toMatchObject({ liveMappings: 0, peakMappings: 2, liveBytes: '0', peakBytes: '18446744073709555712', faultsByReason: { DOMAIN: 1 } });
  });

  test('tallies count every key and key pair exactly when events rotate over more keys than the two cells kept, in first-seen order, in both', () => {
    // request: a (type, status) pair; fault: one key. Three pairs rotate (MAP OK, UNMAP OK,
    // UNMAP RANGE), so the two cached cells keep changing; then one pair again after a gap.
    const pattern: [number, number][] = [[3, 0], [4, 0], [4, 5], [3, 0], [3, 0], [4, 5], [4, 0], [4, 0], [3, 0]];
    const stream: Record<string, unknown>[] = [];
    for (let round = 0; round < 7; round++) {
      for (const [t, st] of pattern) stream.push({ kind: 'request', reqType: t, status: st, used: 4 });
      for (const reason of [1, 2, 1, 3, 3, 2, 1]) stream.push({ kind: 'fault', reason, flags: 0, endpoint: 0, address: 0n });
    }
    stream.push({ kind: 'request', reqType: 1, status: 1, used: 4 });
    for (const interpreted of [false, true]) {
      const r = new MetricsReducer(undefined, { interpreted });
      for (const e of stream) r.add(e as { kind: string });
      const m = r.result();
      expect(m.requests).toEqual({ MAP: { OK: 28 }, UNMAP: { OK: 21, RANGE: 14 }, ATTACH: { IOERR: 1 } });
      expect(Object.keys(m.requests)).toEqual(['MAP', 'UNMAP', 'ATTACH']);
      expect(Object.keys(m.requests.UNMAP!)).toEqual(['OK', 'RANGE']);
      expect(m.faultsByReason).toEqual({ DOMAIN: 21, MAPPING: 14, 'REASON(3)': 14 });
      // Reading the metrics does not disturb the counting: more events after a result() add up.
      r.add({ kind: 'request', reqType: 3, status: 0, used: 4 });
      r.add({ kind: 'request', reqType: 4, status: 5, used: 4 });
      expect(r.result().requests).toEqual({ MAP: { OK: 29 }, UNMAP: { OK: 21, RANGE: 15 }, ATTACH: { IOERR: 1 } });
    }
  });

  test('mapped bytes stay exact when a lean sink\'s number fields add up past 2^53 (numbers, then bigints), in both', () => {
    // Two maps of 2^52 + 1 bytes each (fields as numbers: EventSink.lean), then one more byte range
    // as bigints; the total passes 2^53 and must not round.
    const stream = [
      { kind: 'map', domain: 1, virtStart: 0, virtEnd: 2 ** 52 },
      { kind: 'map', domain: 2, virtStart: 0, virtEnd: 2 ** 52 },
      { kind: 'map', domain: 3, virtStart: 0n, virtEnd: 2n },
      { kind: 'unmap', domain: 1, virtStart: 0, virtEnd: 2 ** 52 },
      { kind: 'domain-free', domain: 3, mappings: 1 },
      { kind: 'map', domain: 4, virtStart: 0x1000, virtEnd: 0x1fff },
    ];
    for (const interpreted of [false, true]) {
      const r = new MetricsReducer(undefined, { interpreted });
      for (const e of stream) r.add(e);
      const m = r.result();
      expect(m.peakBytes).toBe(String(2n * (2n ** 52n + 1n) + 3n));
      expect(m.liveBytes).toBe(String(2n ** 52n + 1n + 0x1000n));
      expect(m.peakMappings).toBe(3);
    }
  });
});
