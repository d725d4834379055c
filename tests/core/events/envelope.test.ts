import { describe, expect, test } from 'vitest';
import { EVENT_CATALOG, type KindSpec } from '../../../core/events/catalog.ts';
import { formatEvent } from '../../../core/events/format.ts';
import { KINDS_BY_FAMILY, KIND_FAMILY, familyOf } from '../../../core/events/problems.ts';
import { EventLog } from '../../../core/events/sink.ts';
import { EVENT_COST_NS, VirtualClock, eventCost } from '../../../core/engine/clock.ts';
import { runScenarioText } from '../../../core/run/index.ts';

const SCENARIO = `name: envelope
viommu: {model: virtio-iommu}
devices: [{name: nic0, bdf: "00:03.0"}]
steps:
  - attach: {domain: 1, endpoint: nic0}
  - map: {domain: 1, virt-start: 0x0, virt-end: 0xfff, phys-start: 0x1000, flags: [read, write]}
    expect: OK
  - dma: {endpoint: nic0, addr: 0x10, size: 4, access: read}
`;

describe('kinds declared once: family and format', () => {
  test('every kind declares a family and a format, and formatEvent uses that format', () => {
    for (const [kind, spec] of Object.entries(EVENT_CATALOG) as [string, KindSpec][]) {
      expect(typeof spec.family).toBe('string');
      expect(familyOf(kind)).toBe(spec.family);
      expect(formatEvent(kind, {})).toBe(spec.format({}));
    }
    expect(KIND_FAMILY.expectation).toBe('run');
    expect(KIND_FAMILY.map).toBe('virtio-iommu');
    expect(familyOf('no-such-kind')).toBeUndefined();
    expect([...KINDS_BY_FAMILY.keys()]).toEqual(['virtio-iommu', 'run', 'host-backend', 'host-iommu', 'host-iommu-device', 'guest', 'trace']);
    expect(KINDS_BY_FAMILY.get('run')).toEqual(['expectation']);
  });

  test('an undeclared kind is formatted as "kind key=value …"', () => {
    expect(formatEvent('unknown-300', { a: 1n, b: { c: 2 } })).toBe('unknown-300 a=0x1 b={"c":2}');
  });
});

describe('the envelope: component and virtual time', () => {
  test('the clock advances by each kind\'s declared cost; an event\'s time is the clock after its cost', () => {
    const c = new VirtualClock();
    expect(c.tick('request')).toBe(EVENT_COST_NS.request);
    expect(c.tick('map')).toBe(EVENT_COST_NS.request + EVENT_COST_NS.map);
    expect(c.tick('expectation')).toBe(c.now);
    expect(eventCost('not-a-kind')).toBe(0);
    for (const kind of Object.keys(EVENT_CATALOG)) expect(Number.isInteger(eventCost(kind)) && eventCost(kind) >= 0).toBe(true);
  });

  test('EventLog stamps the component when one is set and the time when it has a clock', () => {
    const log = new EventLog(undefined, new VirtualClock());
    log.component = 'viommu0';
    log.emit('endpoint-alloc', { endpoint: 8 });
    log.component = '';
    log.emit('expectation', { held: 1, detail: {} });
    expect(log.take()).toEqual([
      { kind: 'endpoint-alloc', step: 0, seq: 0, endpoint: 8, component: 'viommu0', time: 100 },
      { kind: 'expectation', step: 0, seq: 1, held: 1, detail: {}, time: 100 },
    ]);
    const bare = new EventLog();
    bare.emit('endpoint-alloc', { endpoint: 8 });
    expect(bare.take()[0]).toEqual({ kind: 'endpoint-alloc', step: 0, seq: 0, endpoint: 8 });
  });

  test('a run stamps the vIOMMU\'s id and increasing times; the same input gives the same times, recorded or handed over', () => {
    const recorded = () => {
      const { run } = runScenarioText(SCENARIO, 'e.yaml');
      while (run!.advance(1000));
      return run!.takeEvents();
    };
    const a = recorded();
    expect(a.map((e) => [e.kind, e.time, e.component])).toEqual(recorded().map((e) => [e.kind, e.time, e.component]));
    expect(a.filter((e) => e.kind !== 'expectation').every((e) => e.component === 'viommu0')).toBe(true);
    expect(a.find((e) => e.kind === 'expectation')!.component).toBeUndefined();
    for (let i = 1; i < a.length; i++) expect(a[i].time!).toBeGreaterThanOrEqual(a[i - 1].time!);
    // Handed over one by one (the run worker's path): the same components, and times by the same costs.
    const handed: [string, string][] = [];
    const { run } = runScenarioText(SCENARIO, 'e.yaml', { onEvent: (kind, _step, _payload, component) => void handed.push([kind, component]) });
    while (run!.advance(1000));
    expect(handed).toEqual(a.map((e) => [e.kind, e.component ?? '']));
    let t = 0;
    expect(a.map((e) => e.time)).toEqual(a.map((e) => (t += eventCost(e.kind))));
  });
});
