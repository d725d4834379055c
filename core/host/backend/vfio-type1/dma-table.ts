/**
 * A container's vfio_dma entries (vfio_iommu_type1.c `iommu->dma_list`, an rb-tree there): disjoint
 * IOVA intervals [iova, iova + size - 1], each with the user VA it maps and its protection. Held in
 * the engine's MappingStore (core/engine/mapping-store.ts: page runs hashed, the rest in a B+tree),
 * so find, insert and remove are O(log n) and a range walk O(log n + k) at any number of entries.
 */
import { MappingStore, hi32, lo32, u64 } from '../../../engine/mapping-store.ts';

/** Entry flag bits kept with each interval. */
export const DMA_READ = 1; // IOMMU_READ
export const DMA_WRITE = 2; // IOMMU_WRITE
export const DMA_VADDR_INVALID = 4; // vfio_dma.vaddr_invalid (UNMAP_DMA with FLAG_VADDR)

/** One vfio_dma: [iova, iova + size) → vaddr. */
export interface VfioDma {
  iova: bigint;
  size: bigint;
  vaddr: bigint;
  /** DMA_READ | DMA_WRITE | DMA_VADDR_INVALID. */
  flags: number;
}

/** The dma entries of one container. */
export class DmaTable {
  private readonly store = new MappingStore(12);
  private n = 0;

  /** Number of entries. */
  count(): number {
    return this.n;
  }

  /** Removes every entry. */
  clear(): void {
    this.store.clear();
    this.n = 0;
  }

  private result(): VfioDma {
    const s = this.store;
    const iova = u64(s.rStartHi, s.rStartLo);
    return { iova, size: u64(s.rEndHi, s.rEndLo) - iova + 1n, vaddr: u64(s.rPhysHi, s.rPhysLo), flags: s.rFlags };
  }

  /** vfio_find_dma: an entry overlapping [start, last] (the lowest), or undefined. Requires start <= last. */
  findOverlap(start: bigint, last: bigint): VfioDma | undefined {
    let found: VfioDma | undefined;
    this.store.forEachOverlap(hi32(start), lo32(start), hi32(last), lo32(last), (sh, sl, eh, el, ph, pl, f) => {
      const iova = u64(sh, sl);
      found = { iova, size: u64(eh, el) - iova + 1n, vaddr: u64(ph, pl), flags: f };
      return false;
    });
    return found;
  }

  /** The entry containing `addr`, or undefined. */
  at(addr: bigint): VfioDma | undefined {
    return this.store.lookup(hi32(addr), lo32(addr)) ? this.result() : undefined;
  }

  /** Adds an entry; the caller has checked that it overlaps none. */
  insert(d: VfioDma): void {
    const last = d.iova + d.size - 1n;
    if (!this.store.insert(hi32(d.iova), lo32(d.iova), hi32(last), lo32(last), hi32(d.vaddr), lo32(d.vaddr), d.flags)) throw new Error('vfio-type1: insert over an existing vfio_dma');
    this.n++;
  }

  /** Replaces the entry starting at d.iova (same range) with d's vaddr and flags. */
  update(d: VfioDma): void {
    if (!this.store.remove(hi32(d.iova), lo32(d.iova))) throw new Error('vfio-type1: update of a missing vfio_dma');
    this.n--;
    this.insert(d);
  }

  /** Entries overlapping [start, last] in ascending IOVA order. O(log n + k). */
  overlapping(start: bigint, last: bigint): VfioDma[] {
    const out: VfioDma[] = [];
    this.store.forEachOverlap(hi32(start), lo32(start), hi32(last), lo32(last), (sh, sl, eh, el, ph, pl, f) => {
      const iova = u64(sh, sl);
      out.push({ iova, size: u64(eh, el) - iova + 1n, vaddr: u64(ph, pl), flags: f });
    });
    return out;
  }

  /** Removes every entry starting in [start, last]; returns how many. */
  removeStarts(start: bigint, last: bigint): number {
    const k = this.store.removeStarts(hi32(start), lo32(start), hi32(last), lo32(last));
    this.n -= k;
    return k;
  }

  /** Every entry, ascending (tests, the object view). */
  entries(): VfioDma[] {
    return this.n === 0 ? [] : this.overlapping(0n, 0xffffffffffffffffn);
  }
}
