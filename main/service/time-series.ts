/**
 * getTimeSeries (issue 9 §3): a run's series over virtual time for the compare view's plots — live
 * mappings, faults so far, IOVA bytes mapped — folded from the events main/store/time-series.ts
 * reads, then downsampled.
 *
 * What each series counts (the same events the run's metrics fold: core/events/catalog.ts feeds):
 *  - live mappings and IOVA bytes: the mappings in the vIOMMU's domains — 'map' adds one mapping of
 *    virtEnd − virtStart + 1 bytes, 'unmap' removes one (QEMU virtio_iommu_map /
 *    virtio_iommu_unmap_done), 'domain-free' releases what is left in its domain
 *    (virtio_iommu_put_domain destroys the domain's mappings). That is the device's view: in a
 *    lazy-mode guest run, a dma_unmap leaves the mapping live until the flush queue delivers the
 *    UNMAP (reference trace-formats-and-guest-dma.md B3), which is what comparing strict and lazy
 *    shows. A run with no vIOMMU mapping events but guest DMA ones counts the guest's instead
 *    ('dma-map' that mapped: + size; 'dma-unmap': − size). An imported trace counts its own
 *    'trace-map' (+ size) and 'trace-unmap' (− the bytes actually unmapped when the line gives them,
 *    iommu:unmap unmapped_size, else − size): mappings made before the trace started are unknown, so
 *    a trace's series are net of what it recorded and may go below zero.
 *  - faults (cumulative): 'fault' (a virtio_iommu_fault on the eventq), 'host-dma' with outcome
 *    fault (the physical IOMMU refused an assigned device's DMA; its 'host-fault' record is the same
 *    fault, not counted twice), 'trace-fault'.
 *  - t: the event's virtual time (ns); a trace's time counts from its first event; an event without
 *    a time keeps the previous one; a run with no time at all (a kernel log without timestamps)
 *    uses the events' seq instead (as the Perfetto export does).
 *
 * Downsampling (`points`, default 2000): with more samples than that, the samples are cut into
 * buckets of consecutive events, and each bucket keeps its first and last sample and the samples
 * where live mappings and IOVA bytes are lowest and highest (M4 aggregation, per series), so every
 * peak and trough of the plot survives (and the series' global extremes); every fault's sample is
 * kept too while faults are at most half of `points` (beyond that they are bucketed like the rest:
 * the cumulative count still shows each bucket's first and last). A sample at the run's first event
 * (all zero) and one at its last (the final values) bound the plot, so runs of different lengths
 * overlay on one axis.
 */
import type { TimeSeries } from '../../core/compare/types.ts';
import { TIME_SERIES_KINDS, kindCode, type TimeSeriesReader, type TimeSeriesRow } from '../store/time-series.ts';

/** Samples returned by default. */
export const DEFAULT_TIME_SERIES_POINTS = 2000;
/** 2^64: the byte size of a mapping over the whole u64 space (its virtEnd − virtStart + 1 wraps to 0). */
const U64_SPAN = 18446744073709551616;

const K = {
  map: kindCode('map'),
  unmap: kindCode('unmap'),
  domainFree: kindCode('domain-free'),
  dmaMap: kindCode('dma-map'),
  dmaUnmap: kindCode('dma-unmap'),
  traceMap: kindCode('trace-map'),
  traceUnmap: kindCode('trace-unmap'),
  fault: kindCode('fault'),
  hostDma: kindCode('host-dma'),
  traceFault: kindCode('trace-fault'),
};
/** Kinds that change the device's (or a trace's) mappings, and the guest's. */
const PRIMARY = new Set([...TIME_SERIES_KINDS.device, ...TIME_SERIES_KINDS.trace].map(kindCode));
const GUEST = new Set(TIME_SERIES_KINDS.guest.map(kindCode));

/** A growable Float64Array. */
class Column {
  a = new Float64Array(1024);
  n = 0;
  push(v: number): void {
    if (this.n === this.a.length) {
      const b = new Float64Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = v;
  }
}

/** Per-domain live count and bytes (domain-free releases them). */
type DomainTally = Map<number, { count: number; bytes: number }>;

function tally(m: DomainTally, domain: number | null, count: number, bytes: number): void {
  const d = domain ?? -1;
  const e = m.get(d);
  if (e) {
    e.count += count;
    e.bytes += bytes;
  } else m.set(d, { count, bytes });
}

/**
 * The samples to keep of `n` (their indices, ascending): all when n ≤ points; else per bucket the
 * first, the last, and each series' lowest and highest sample (the first one of equals), plus every
 * index in `faults` when they are at most points / 2. `series` are the value columns (length ≥ n).
 * The result never exceeds `points` (points ≥ 8).
 */
export function downsample(n: number, points: number, series: readonly Float64Array[], faults: readonly number[]): number[] {
  if (n <= points) return Array.from({ length: n }, (_, i) => i);
  const keep = new Uint8Array(n);
  const keepFaults = faults.length <= points / 2;
  const perBucket = 2 + 2 * series.length;
  const buckets = Math.max(1, Math.floor((points - (keepFaults ? faults.length : 0)) / perBucket));
  for (let b = 0; b < buckets; b++) {
    const lo = Math.floor((b * n) / buckets);
    const hi = Math.floor(((b + 1) * n) / buckets); // exclusive
    if (hi <= lo) continue;
    keep[lo] = 1;
    keep[hi - 1] = 1;
    for (const s of series) {
      let min = lo;
      let max = lo;
      for (let i = lo + 1; i < hi; i++) {
        const v = s[i];
        if (v < s[min]) min = i;
        else if (v > s[max]) max = i;
      }
      keep[min] = 1;
      keep[max] = 1;
    }
  }
  if (keepFaults) for (const i of faults) keep[i] = 1;
  const out: number[] = [];
  for (let i = 0; i < n; i++) if (keep[i]) out.push(i);
  return out;
}

/**
 * The run's TimeSeries with at most `points` samples (every fault kept while faults ≤ points / 2);
 * null for an unknown run; empty arrays for a run with no events.
 */
export function timeSeries(reader: TimeSeriesReader, runId: number, points = DEFAULT_TIME_SERIES_POINTS): TimeSeries | null {
  const run = reader.run(runId);
  if (!run) return null;
  const empty: TimeSeries = { runId, t: [], seq: [], liveMappings: [], faults: [], iovaBytes: [] };
  const last = reader.lastEvent(runId);
  if (!last) return empty;
  const first = reader.firstTime(runId);
  const t0 = run.trace && first !== null ? first : 0;

  const seq = new Column();
  const t = new Column();
  const live = new Column();
  const bytes = new Column();
  const gLive = new Column();
  const gBytes = new Column();
  const faults = new Column();
  const faultAt: number[] = [];
  const domains: DomainTally = new Map();
  let pLive = 0;
  let pBytes = 0;
  let gl = 0;
  let gb = 0;
  let nf = 0;
  // No event carries a time (a kernel log without timestamps): the events' order is the only clock.
  const untimed = first === null;
  let now = first !== null ? first - t0 : 0;
  let sawPrimary = false;
  let sawGuest = false;

  const push = (sq: number): void => {
    seq.push(sq);
    t.push(now);
    live.push(pLive);
    bytes.push(pBytes);
    gLive.push(gl);
    gBytes.push(gb);
    faults.push(nf);
  };
  /** The opening sample: the run's first event (seq 0), nothing mapped, no fault yet. */
  const zeroSample = (): void => {
    seq.push(0);
    t.push(start);
    live.push(0);
    bytes.push(0);
    gLive.push(0);
    gBytes.push(0);
    faults.push(0);
  };
  const start = now;

  reader.scan(runId, (rows: TimeSeriesRow[], count: number) => {
    for (let r = 0; r < count; r++) {
      const row = rows[r];
      const s = row[0];
      const code = row[1];
      const time = row[2];
      const amount = row[3];
      // unpackCode, inline (a million rows).
      const flag = code % 4;
      const q = (code - flag) / 4;
      const kind = q % 64;
      const dom = (q - kind) / 64 - 1;
      const domain = dom < 0 ? null : dom;
      if (untimed) now = s;
      else if (time !== null) now = time - t0;
      let changed = true;
      let isFault = false;
      if (kind === K.map || kind === K.traceMap) {
        const b = kind === K.map && amount !== null && amount <= 0 ? amount + U64_SPAN : (amount ?? 0);
        pLive += 1;
        pBytes += b;
        if (kind === K.map) tally(domains, domain, 1, b);
      } else if (kind === K.unmap || kind === K.traceUnmap) {
        const b = kind === K.unmap && amount !== null && amount <= 0 ? amount + U64_SPAN : (amount ?? 0);
        pLive -= 1;
        pBytes -= b;
        if (kind === K.unmap) tally(domains, domain, -1, -b);
      } else if (kind === K.domainFree) {
        const e = domains.get(domain ?? -1);
        if (e) {
          pLive -= e.count;
          pBytes -= e.bytes;
          domains.delete(domain ?? -1);
        } else changed = false;
      } else if (kind === K.dmaMap) {
        if (flag === 0) {
          gl += 1;
          gb += amount ?? 0;
        } else changed = false;
      } else if (kind === K.dmaUnmap) {
        gl -= 1;
        gb -= amount ?? 0;
      } else if (kind === K.fault || kind === K.traceFault || (kind === K.hostDma && flag === 1)) {
        nf += 1;
        isFault = true;
      } else changed = false;
      if (!changed) continue;
      if (PRIMARY.has(kind)) sawPrimary = true;
      else if (GUEST.has(kind)) sawGuest = true;
      if (seq.n === 0 && s > 0) zeroSample();
      if (isFault) faultAt.push(seq.n);
      push(s);
    }
  });
  if (seq.n === 0) zeroSample();

  // Closing sample: the run's last event, the final values.
  if (seq.a[seq.n - 1] < last.seq) {
    if (untimed) now = last.seq;
    else if (last.time !== null) now = last.time - t0;
    push(last.seq);
  }

  const useGuest = !sawPrimary && sawGuest;
  const L = useGuest ? gLive : live;
  const B = useGuest ? gBytes : bytes;
  const n = seq.n;
  const idx = downsample(n, points, [L.a, B.a], faultAt);
  const pick = (c: Column) => idx.map((i) => c.a[i]);
  return { runId, t: pick(t), seq: pick(seq), liveMappings: pick(L), faults: pick(faults), iovaBytes: pick(B) };
}
