/** One printed benchmark figure beside its baseline measured in the same run. */
export interface BenchRow {
  /** What was measured, e.g. "MAP+UNMAP @ 1M live mappings". */
  name: string;
  /** Measured rate of the lab's implementation. */
  value: number;
  /** Unit of value and baselineValue, e.g. "ops/s". */
  unit: string;
  /** What the baseline is, e.g. "sorted-btree BTree". */
  baselineName: string;
  baselineValue: number;
  /** The target for `value`, when one is named (value ≥ target, or ≤ with `atMost`). */
  target?: number;
  /** The target is an upper bound (times, memory): met when value ≤ target. */
  atMost?: boolean;
}
