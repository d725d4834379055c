/**
 * core/scenario — the scenario format: one TypeBox schema (schema.ts) that yields the validator
 * with source positions (validate.ts, parse.ts), the TypeScript types, the JSON Schema for Monaco
 * (json-schema.ts) and the README reference (reference.ts); and the resolved model the runner
 * executes (model.ts).
 */
export { parseScenario, formatDiagnostic, type ParseResult } from './parse.ts';
export { EXPECT_IN, MAX_VARIANTS, type ScenarioVariant } from './variants.ts';
export { scenarioJsonSchema, toJsonSchema, type JsonSchema } from './json-schema.ts';
export { scenarioReferenceMarkdown } from './reference.ts';
export {
  FEATURE_BITS,
  HOST_BRIDGE_ENDPOINT,
  parseHexBytes,
  type Scenario,
  type ScenarioDevice,
  type ScenarioStep,
  type StatusExpectation,
  type ProbeExpectation,
  type DmaExpectation,
  type ConfigExpectation,
  type WorkloadExpectation,
  type DmaDir,
  type DmaMapExpectation,
  type DmaUnmapExpectation,
  type DmaStreamExpectation,
  type GuestConfig,
  type GuestDeviceFields,
  type GuestStep,
} from './model.ts';
export { DMA_DIR, isGuestDmaOp, isGuestStepOp } from './guest-model.ts';
export { DMA_DIRS, GUEST_STEP_OPS, HZ_CHOICES, MAX_DMA_SIZE, MAX_GUEST_CPUS, type DmaDirName, type GuestStepOp } from './guest-schema.ts';
export {
  ScenarioSchema,
  StepSchema,
  STEP_ARGS,
  STEP_EXPECT,
  STEP_OPS,
  STATUS_NAMES,
  FEATURE_NAMES,
  type ScenarioDoc,
  type ViommuDoc,
  type GuestDoc,
  type StepDoc,
  type StepArgs,
  type StepExpectDoc,
  type StepOp,
  type StatusName,
  type FeatureName,
} from './schema.ts';
export { U64, UInt, U64_MAX, type TU64, type TUInt } from './kinds.ts';
