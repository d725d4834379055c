/**
 * The result slots shared by the mapping store's query APIs (interval-store.ts, mapping-store.ts):
 * the interval found by the last lookup, floor or failed insert, as u32 halves, so that a query
 * allocates nothing.
 */

/** Start, end (inclusive), phys as (hi, lo) u32 halves, and the u32 flags of one interval. */
export class IntervalResult {
  rStartHi = 0;
  rStartLo = 0;
  rEndHi = 0;
  rEndLo = 0;
  rPhysHi = 0;
  rPhysLo = 0;
  rFlags = 0;

  /** Copies another result's slots into this one. */
  protected copyResult(o: IntervalResult): void {
    this.rStartHi = o.rStartHi;
    this.rStartLo = o.rStartLo;
    this.rEndHi = o.rEndHi;
    this.rEndLo = o.rEndLo;
    this.rPhysHi = o.rPhysHi;
    this.rPhysLo = o.rPhysLo;
    this.rFlags = o.rFlags;
  }
}
