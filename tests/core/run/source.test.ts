// The scenario source: the Source contract over a ScenarioRun (kind, name, its machine, budgeted
// advance, progress and results), with the same event stream as the run it wraps.
import { describe, expect, it } from 'vitest';
import { scenarioSource, type Source } from '../../../core/source/index.ts';
import { ScenarioRun } from '../../../core/run/index.ts';
import { parseScenario } from '../../../core/scenario/index.ts';
import type { SeqEvent } from '../../../core/events/sink.ts';

const TEXT = `name: src
viommu: {model: virtio-iommu}
devices:
  - {name: nic0, bdf: "00:03.0"}
steps:
  - attach: {domain: 1, endpoint: nic0}
  - map: {domain: 1, virt-start: 0x1000, virt-end: 0x2fff, phys-start: 0x80000, flags: [read, write]}
  - dma: {endpoint: nic0, addr: 0x1000, size: 0x2000, access: read}
    expect: {translated: 0x80000}
  - workload: {domain: 1, endpoint: nic0, count: 5, size: 4096, iova-base: 0x100000, phys-base: 0x200000}
`;

describe('scenarioSource', () => {
  it('drives the scenario machine through the Source contract, event for event as ScenarioRun', () => {
    const { scenario } = parseScenario(TEXT, 'src.yaml');
    const events: Array<{ kind: string; step: number }> = [];
    const components = new Set<string>();
    const src: Source = scenarioSource(scenario!, {
      onEvent: (kind, step, _payload, component) => {
        events.push({ kind, step });
        components.add(`${kind === 'expectation' ? 'expectation' : 'device'} ${component}`);
      },
    });
    expect([src.kind, src.name, src.doneUnits]).toEqual(['scenario', 'src', 0]);
    expect(src.machine.components().map((c) => c.id)).toEqual(['viommu0']);
    let slices = 0;
    while (src.advance(1)) slices++;
    expect(src.doneUnits).toBe(src.totalUnits);
    expect(slices).toBeGreaterThan(3);
    expect(src.stepResults().map((r) => r.op)).toEqual(['attach', 'map', 'dma', 'workload']);
    expect(src.stepResults()[2].expectation).toBe(true);

    const ref = new ScenarioRun(scenario!);
    const all: SeqEvent[] = [];
    while (ref.advance(1000)) all.push(...ref.takeEvents());
    all.push(...ref.takeEvents());
    expect(events).toEqual(all.map((e) => ({ kind: e.kind, step: e.step })));
    expect(src.metrics()).toEqual(ref.metrics());
    // Each event names its emitting component: the vIOMMU's, or none for the runner's expectations.
    expect([...components].sort()).toEqual(['device viommu0', 'expectation ']);
  });
});
