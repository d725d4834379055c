/**
 * core/source — what drives a machine: the Source contract (budgeted advance, progress, results)
 * and the scenario source. Imported traces and replays join here in later issues.
 */
export type { Source, SourceKind } from './source.ts';
export { scenarioSource } from './scenario.ts';
