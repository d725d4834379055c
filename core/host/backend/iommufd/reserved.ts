/**
 * An IOAS's reserved ranges (io_pagetable.c `reserved_itree`; reference
 * iommufd-vfio-hostiommu.md §2.4): inclusive IOVA ranges, each with an owner (a domain for its
 * aperture, a device for its reserved regions, a test). Like the kernel's tree the list may hold
 * overlapping entries of different owners. A handful of entries per IOAS (apertures, MSI windows,
 * RMRRs), so a sorted array; mirrored as u32 halves for the IOAS hot path's overlap test.
 */
import { hi32, lo32 } from '../../../engine/u64.ts';
import type { IovaRange } from './iova-alloc.ts';
import { ULONG_MAX } from './uapi.ts';

/** One reserved range and its owner. */
export interface Reservation {
  start: bigint;
  last: bigint;
  owner: object;
}

/** The reserved ranges of one IOAS, sorted by start. */
export class Reservations {
  private list: Reservation[] = [];
  // Halves of every start / last, parallel to `list`.
  private sHi: number[] = [];
  private sLo: number[] = [];
  private lHi: number[] = [];
  private lLo: number[] = [];

  /** Number of entries. */
  get size(): number {
    return this.list.length;
  }

  /** The entries in start order (copies, for views and tests). */
  entries(): Reservation[] {
    return this.list.map((r) => ({ ...r }));
  }

  /** Adds [start, last] for `owner` (the caller has checked areas and the allowed list). */
  add(start: bigint, last: bigint, owner: object): void {
    let i = this.list.length;
    while (i > 0 && this.list[i - 1].start > start) i--;
    this.list.splice(i, 0, { start, last, owner });
    this.sync();
  }

  /** Drops every entry of `owner`; true when some were dropped. */
  removeOwner(owner: object): boolean {
    const before = this.list.length;
    this.list = this.list.filter((r) => r.owner !== owner);
    if (this.list.length === before) return false;
    this.sync();
    return true;
  }

  private sync(): void {
    const r = this.list;
    this.sHi = r.map((x) => hi32(x.start));
    this.sLo = r.map((x) => lo32(x.start));
    this.lHi = r.map((x) => hi32(x.last));
    this.lLo = r.map((x) => lo32(x.last));
  }

  /** Whether an entry overlaps [start, last]. */
  overlaps(start: bigint, last: bigint): boolean {
    for (const r of this.list) if (r.start <= last && r.last >= start) return true;
    return false;
  }

  /** Whether an entry overlaps [s, e] given as u32 halves (no allocation). */
  overlaps32(sHi: number, sLo: number, eHi: number, eLo: number): boolean {
    const n = this.sHi.length;
    for (let i = 0; i < n; i++) {
      // r.start <= e && r.last >= s
      const rsh = this.sHi[i];
      const rlh = this.lHi[i];
      if ((rsh < eHi || (rsh === eHi && this.sLo[i] <= eLo)) && (rlh > sHi || (rlh === sHi && this.lLo[i] >= sLo))) return true;
    }
    return false;
  }

  /** The lowest entry overlapping [from, to] (as a range), or undefined. */
  lowestIn(from: bigint, to: bigint): IovaRange | undefined {
    let best: IovaRange | undefined;
    for (const r of this.list) {
      if (r.last < from || r.start > to) continue;
      if (best === undefined || r.start < best.start) best = { start: r.start, last: r.last };
    }
    return best;
  }

  /** 1 + the highest `last` below `iova` (0 when none): where a free run ending at iova - 1 may start. */
  endBelow(iova: bigint): bigint {
    let s = 0n;
    for (const r of this.list) if (r.last < iova && r.last + 1n > s) s = r.last + 1n;
    return s;
  }

  /** The holes over [0, ULONG_MAX] (IOMMU_IOAS_IOVA_RANGES). */
  holes(): IovaRange[] {
    const out: IovaRange[] = [];
    let cur = 0n;
    let done = false;
    for (const r of this.list) {
      if (done) break;
      if (r.last < cur) continue;
      if (r.start > cur) out.push({ start: cur, last: r.start - 1n });
      if (r.last === ULONG_MAX) done = true;
      else if (r.last + 1n > cur) cur = r.last + 1n;
    }
    if (!done) out.push({ start: cur, last: ULONG_MAX });
    return out;
  }
}
