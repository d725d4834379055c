/**
 * core/run — the scenario runner: a resolved Scenario → device requests and DMA → events, step
 * results and metrics, in resumable slices (`advance`).
 */
export { ScenarioRun, runScenarioText, SETUP_STEP, type EventCallback, type ScenarioRunOptions } from './runner.ts';
export type { ExpectationCheck, ConfigValue, DmaValue, RegionValue } from './expect.ts';
