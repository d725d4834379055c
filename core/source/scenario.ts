/**
 * The scenario source: a validated Scenario's steps run against the machine it describes
 * (core/run: ScenarioRun builds and realizes the machine and executes the steps).
 */
import { ScenarioRun, type ScenarioRunOptions } from '../run/runner.ts';
import type { Scenario } from '../scenario/model.ts';
import type { Source } from './source.ts';

/**
 * A source running `scenario` (already parsed and valid: parse the text once, on the side that
 * runs it). `opts` says where its events go (ScenarioRunOptions: kept, callback, or metrics only).
 */
export function scenarioSource(scenario: Scenario, opts?: ScenarioRunOptions): Source {
  return new ScenarioRun(scenario, opts);
}
