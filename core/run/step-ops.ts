/**
 * What a scenario's steps hold, computed once per steps array (a replay's steps run to millions:
 * the run's set-up asks these questions several times and must not scan them each time).
 */
import type { Scenario } from '../scenario/model.ts';

const OPS = new WeakMap<readonly unknown[], ReadonlySet<string>>();
const HOT = new WeakMap<readonly unknown[], ReadonlySet<string>>();

/** The ops the scenario's steps use ('map', 'dma-map', 'device-add', …). */
export function stepOps(scenario: Scenario): ReadonlySet<string> {
  let ops = OPS.get(scenario.steps);
  if (ops === undefined) {
    const s = new Set<string>();
    for (const step of scenario.steps) s.add(step.op);
    OPS.set(scenario.steps, (ops = s));
  }
  return ops;
}

/** The names of the devices a `device-add` step hotplugs (the others are coldplugged). */
export function hotplugged(scenario: Scenario): ReadonlySet<string> {
  let hot = HOT.get(scenario.steps);
  if (hot === undefined) {
    const s = new Set<string>();
    if (stepOps(scenario).has('device-add')) for (const step of scenario.steps) if (step.op === 'device-add') s.add(step.device);
    HOT.set(scenario.steps, (hot = s));
  }
  return hot;
}
