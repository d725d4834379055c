/**
 * The IOVA space view's geometry (IovaSpaceView.vue draws it with uPlot): one lane per range kind,
 * IOVA on x in a linear or a log2 scale (allocations sit just below 4 GiB while host holes and
 * apertures end near 2^39 / 2^48 / 2^64), binary tick labels, and the range under the pointer.
 * Addresses arrive as "0x…" u64 text (core/contract IovaRange) and are kept as bigint; x values
 * are doubles (a plot position needs no more than 53 bits).
 */
import type { IovaDomain, IovaRange } from '../../core/contract/index.ts';

/** X scale: IOVA bytes, or log2(IOVA) (a byte boundary b at log2(b); 0 at 0, like 1). */
export type IovaScale = 'linear' | 'log2';

/** The lanes, bottom to top in the plot (y = index), with their legend label and colour. */
export const LANES: readonly { kind: IovaRange['kind']; label: string; color: string }[] = [
  { kind: 'reserved', label: 'reserved', color: '#8b93a1' },
  { kind: 'host-hole', label: 'host holes', color: '#c586c0' },
  { kind: 'allocated', label: 'allocated', color: '#4d9bf0' },
  { kind: 'failed', label: 'failed maps', color: '#f14c4c' },
];

/** One range placed on its lane: x0..x1 in the scale's x units. */
export interface IovaBar {
  lane: number;
  x0: number;
  x1: number;
  range: IovaRange;
}

/** A u64 "0x…" text as a bigint (0n when malformed). */
export function u64(text: string): bigint {
  try {
    return BigInt(text);
  } catch {
    return 0n;
  }
}

/** A byte boundary's x in `scale` (a range [start, end] spans toX(start) to toX(end + 1)). */
export function toX(addr: bigint, scale: IovaScale): number {
  const n = Number(addr);
  if (scale === 'linear') return n;
  return addr <= 1n ? 0 : Math.log2(n);
}

/** The address at x in `scale` (approximate above 2^53). */
export function fromX(x: number, scale: IovaScale): number {
  return scale === 'linear' ? x : 2 ** x;
}

const UNITS = ['', 'K', 'M', 'G', 'T', 'P', 'E'];

/** A byte address in binary units: 0, 4K, 1.5M, 4G, 512G, 16E (whole multiples print without decimals). */
export function sizeLabel(bytes: number): string {
  if (!(bytes > 0)) return '0';
  let u = 0;
  let v = bytes;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  const text = Number.isInteger(v) ? String(v) : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
  return `${text}${UNITS[u]}`;
}

/** Tick positions over [min, max]: powers of two times k in linear, whole exponents in log2; about `count` of them. */
export function ticks(min: number, max: number, scale: IovaScale, count = 6): number[] {
  if (!(max > min)) return [min];
  const out: number[] = [];
  if (scale === 'log2') {
    const step = Math.max(1, Math.ceil((max - min) / count));
    for (let e = Math.ceil(min / step) * step; e <= max && out.length < 100; e += step) out.push(e);
    return out;
  }
  const step = 2 ** Math.ceil(Math.log2((max - min) / count));
  for (let x = Math.ceil(min / step) * step; x <= max && out.length < 100; x += step) out.push(x);
  return out;
}

/** A tick's label: the address in binary units (linear), or 2^e (log2). */
export function tickLabel(x: number, scale: IovaScale): string {
  return scale === 'log2' ? `2^${Math.round(x)}` : sizeLabel(x);
}

/** Linear ticks closer than this (bytes) are labelled in hex: a zoom near 4 GiB reads 0xfffe0000, not 4.00G. */
const HEX_TICKS_BELOW = 2 ** 36;

/** Labels of one axis' ticks: tickLabel, or hex addresses when linear ticks are close together. */
export function tickLabels(vals: readonly number[], scale: IovaScale): string[] {
  const step = vals.length > 1 ? vals[1] - vals[0] : Infinity;
  if (scale === 'linear' && step < HEX_TICKS_BELOW) return vals.map((v) => `0x${BigInt(Math.round(v)).toString(16)}`);
  return vals.map((v) => tickLabel(v, scale));
}

/** The domain's ranges as bars, lane by lane. */
export function bars(domain: IovaDomain, scale: IovaScale): IovaBar[] {
  const out: IovaBar[] = [];
  for (const r of domain.ranges) {
    const lane = LANES.findIndex((l) => l.kind === r.kind);
    if (lane < 0) continue;
    out.push({ lane, x0: toX(u64(r.start), scale), x1: toX(u64(r.end) + 1n, scale), range: r });
  }
  return out;
}

/**
 * The x extent shown first: from 0 to the aperture's end, or to the highest range that is not a
 * host hole (holes run to 2^64 − 1), at least 4 GiB; in log2 from 2^12 (one page).
 */
export function initialExtent(domain: IovaDomain, scale: IovaScale): [number, number] {
  let top = 1n << 32n;
  if (domain.aperture) top = u64(domain.aperture[1]) + 1n;
  for (const r of domain.ranges) if (r.kind !== 'host-hole' && u64(r.end) + 1n > top) top = u64(r.end) + 1n;
  const max = toX(top, scale);
  return scale === 'log2' ? [Math.min(12, max - 1), max] : [0, max];
}

/**
 * The range under the pointer: in `lane`, the narrowest bar holding x, else the nearest within
 * `tolerance` x units (a bar thinner than a pixel is drawn a few pixels wide). null when none.
 */
export function hitTest(list: readonly IovaBar[], lane: number, x: number, tolerance: number): IovaBar | null {
  let best: IovaBar | null = null;
  let bestDist = Infinity;
  for (const b of list) {
    if (b.lane !== lane) continue;
    const d = x < b.x0 ? b.x0 - x : x > b.x1 ? x - b.x1 : 0;
    if (d > tolerance) continue;
    if (d < bestDist || (d === bestDist && best && b.x1 - b.x0 < best.x1 - best.x0)) {
      best = b;
      bestDist = d;
    }
  }
  return best;
}

/** A range's hover text: kind, [start-end], size, its source/device/label and the event's seq. */
export function rangeText(r: IovaRange): string {
  const size = u64(r.end) - u64(r.start) + 1n;
  const what = [r.source, r.device, r.label].filter(Boolean).join(' · ');
  return `${r.kind} [${r.start}-${r.end}] ${sizeLabel(Number(size))}B${what ? ` · ${what}` : ''} · event #${r.seq}`;
}

/**
 * A locale tag Intl accepts, from `tag` ("en-US@posix" → "en-US", else "en-US"): uPlot formats
 * numbers with Intl.NumberFormat(navigator.language) when it loads (renderer/src/uplot.ts).
 */
export function usableLocale(tag: string): string {
  for (const t of [tag, tag.split(/[@.]/)[0], 'en-US']) {
    try {
      new Intl.NumberFormat(t);
      return t;
    } catch {
      // next candidate
    }
  }
  return 'en-US';
}
