/**
 * Unsigned 64-bit values as two u32 halves (hi, lo): the representation of every IOVA, physical
 * address and size on the engine's and the device's hot paths (no bigint, no allocation). The
 * bigint helpers here convert at the edges (events, the convenience API, tests).
 */

/** 2^32, the weight of the hi half of a u64 split into (hi, lo) u32 halves. */
export const TWO32 = 4294967296;

/** Largest u64 value, 0xffffffffffffffff. */
export const U64_MAX = 0xffffffffffffffffn;

/** High 32 bits of a u64 bigint, as a number in [0, 2^32). */
export function hi32(v: bigint): number {
  return Number((v >> 32n) & 0xffffffffn);
}

/** Low 32 bits of a u64 bigint, as a number in [0, 2^32). */
export function lo32(v: bigint): number {
  return Number(v & 0xffffffffn);
}

/**
 * The scratch word u64 builds bigints in: V8 makes a bigint from a DataView's 64 bits
 * (getBigUint64) about three times faster than from a number (BigInt(n): a runtime call), and
 * (BigInt(hi) << 32n) | BigInt(lo) costs two of those and two more bigints.
 */
const SCRATCH = new DataView(new ArrayBuffer(8));

/** The u64 bigint (hi << 32) | lo from two u32 halves (each taken ToUint32, as `x >>> 0`). */
export function u64(hi: number, lo: number): bigint {
  SCRATCH.setUint32(0, lo, true);
  SCRATCH.setUint32(4, hi, true);
  return SCRATCH.getBigUint64(0, true);
}

/** The u64 bigint of `v`, an exact integer in [0, 2^53) (equal to BigInt(v), and cheaper: see u64). */
export function u64Of(v: number): bigint {
  return u64(Math.floor(v / TWO32), v >>> 0);
}

/**
 * A u64 event field from its halves for `sink` (core/events/sink.ts EventSink.lean): a number when
 * the sink only folds metrics and the value is below 2^53, else the bigint u64(hi, lo). Typed
 * bigint for the payload types: only a lean sink, whose reducer reads both, ever gets a number.
 */
export function leanU64(sink: { readonly lean?: boolean }, hi: number, lo: number): bigint {
  hi >>>= 0;
  return sink.lean === true && hi < 0x200000 ? ((hi * TWO32 + (lo >>> 0)) as unknown as bigint) : u64(hi, lo);
}

/**
 * A u64 event field from a number known to be an exact integer below 2^53 (a page number times the
 * granule): the number itself for a lean sink (EventSink.lean), else its bigint.
 */
export function leanU64Of(sink: { readonly lean?: boolean }, v: number): bigint {
  return sink.lean === true ? (v as unknown as bigint) : u64Of(v);
}

/** Throws RangeError (`<who>: <what> is not a u64`) unless v is a bigint in [0, U64_MAX]: a caller bug. */
export function checkU64(v: bigint, what: string, who = 'mapping-store'): void {
  if (typeof v !== 'bigint' || v < 0n || v > U64_MAX) throw new RangeError(`${who}: ${what} is not a u64: ${String(v)}`);
}
