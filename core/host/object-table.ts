/**
 * The id-keyed object table of iommufd (drivers/iommu/iommufd/main.c), generic over the object
 * kinds so the machine can reuse it for its components (DESIGN.md §2).
 *
 * Semantics (reference iommufd-vfio-hostiommu.md §1.1, §1.3):
 *  - one ID space for every kind; IDs are u32 from 1 (`XA_FLAGS_ALLOC1`), the lowest free ID is
 *    handed out (xa_alloc), so a destroyed object's ID is reused; ID 0 is never valid;
 *  - creation is allocate → finalize (the object becomes visible to lookups) or abort (the ID is
 *    released, as if the call never happened);
 *  - a typed lookup of a missing, unfinalized or other-kind ID fails (the caller returns ENOENT);
 *  - `users` counts references other objects (or a kernel driver) hold on an object; destroy of an
 *    object with users > 0 gives EBUSY (`refcount_dec_if_one` fails), of an absent ID ENOENT;
 *  - a leaked ID (an object force-destroyed while its ID must stay taken, uapi comment on vDEVICE)
 *    is occupied but invisible until close;
 *  - close destroys leaf-first: objects nobody references, repeatedly, until the table is empty.
 */
import { ERRNO, type Errno } from './errno.ts';

/** Largest object ID: iommufd allocates with `xa_limit_31b` (IDs 1 .. INT_MAX). */
export const OBJECT_ID_MAX = 0x7fffffff;

/** An object the table can hold: it names its kind; the table fills `id` on allocation. */
export interface TableObject<K extends string> {
  /** The object kind (IOMMUFD_OBJ_* in iommufd). */
  readonly kind: K;
  /** The ID, set by {@link ObjectTable.alloc}. */
  id: number;
}

const PENDING = 0;
const LIVE = 1;
const LEAKED = 2;

interface Slot<O> {
  obj: O;
  state: number;
  users: number;
}

/**
 * One ID space of objects. `destroyHook` runs when an object is destroyed (by {@link destroy} or
 * {@link close}): it must drop the references the object holds on others ({@link unref}).
 */
export class ObjectTable<K extends string, O extends TableObject<K>> {
  private readonly slots = new Map<number, Slot<O>>();
  // Freed IDs below `next`, as a min-heap, so alloc hands out the lowest free ID.
  private readonly freeIds: number[] = [];
  private next = 1;
  /**
   * The last slot {@link get} found, and its ID: the hot paths (IOAS_MAP / IOAS_UNMAP of one IOAS,
   * a device's lookups) ask for the same ID over and over, and a Map lookup is a hash probe and a
   * builtin call. Cleared when that ID is released.
   */
  private lastId = 0;
  private lastSlot: Slot<O> | undefined = undefined;

  constructor(private readonly destroyHook: (obj: O) => void) {}

  /** Live (finalized) objects, leaked IDs and pending allocations. */
  get size(): number {
    return this.slots.size;
  }

  /**
   * Reserves the lowest free ID for `obj` (sets `obj.id`) and returns it; the object is invisible
   * until {@link finalize}. Returns 0 when the ID space is full (xa_alloc's -EBUSY; the caller
   * decides the errno).
   */
  alloc(obj: O): number {
    let id: number;
    if (this.freeIds.length > 0) id = this.popFree();
    else if (this.next <= OBJECT_ID_MAX) id = this.next++;
    else return 0;
    obj.id = id;
    this.slots.set(id, { obj, state: PENDING, users: 0 });
    return id;
  }

  /** Makes an allocated object visible (iommufd_object_finalize). */
  finalize(id: number): void {
    const s = this.slots.get(id);
    if (s === undefined || s.state !== PENDING) throw new Error(`object-table: finalize of ${id}, which is not pending`);
    s.state = LIVE;
  }

  /** Drops an allocated, unfinalized object and releases its ID (iommufd_object_abort). */
  abort(id: number): void {
    const s = this.slots.get(id);
    if (s === undefined || s.state !== PENDING) throw new Error(`object-table: abort of ${id}, which is not pending`);
    this.release(id);
  }

  /** The live object `id` if it is of `kind` (any kind when omitted), else undefined (→ ENOENT). */
  get(id: number, kind?: K): O | undefined {
    let s = this.lastSlot;
    if (id !== this.lastId || s === undefined) {
      s = this.slots.get(id);
      if (s === undefined) return undefined;
      this.lastId = id;
      this.lastSlot = s;
    }
    if (s.state !== LIVE) return undefined;
    if (kind !== undefined && s.obj.kind !== kind) return undefined;
    return s.obj;
  }

  /** References held on object `id` by others. */
  users(id: number): number {
    return this.slots.get(id)?.users ?? 0;
  }

  /** Takes a reference on `obj` (another object now points at it). */
  ref(obj: O): void {
    const s = this.slots.get(obj.id);
    if (s === undefined) throw new Error(`object-table: ref of absent ${obj.id}`);
    s.users++;
  }

  /** Drops a reference taken by {@link ref}. */
  unref(obj: O): void {
    const s = this.slots.get(obj.id);
    if (s === undefined || s.users === 0) throw new Error(`object-table: unref of ${obj.id} without a reference`);
    s.users--;
  }

  /**
   * IOMMU_DESTROY: ENOENT when `id` is not a live object (or `kind` given and different), EBUSY
   * while it has users; otherwise runs the destroy hook and frees the ID. Returns 0 or the errno.
   */
  destroy(id: number, kind?: K): Errno {
    const s = this.slots.get(id);
    if (s === undefined || s.state !== LIVE || (kind !== undefined && s.obj.kind !== kind)) return ERRNO.ENOENT;
    if (s.users !== 0) return ERRNO.EBUSY;
    this.destroyHook(s.obj);
    this.release(id);
    return ERRNO.OK;
  }

  /**
   * Destroys a live object regardless of its users (a kernel-forced destroy); with `leakId` its ID
   * stays taken and invisible until {@link close}. The caller drops references others hold on it.
   */
  forceDestroy(id: number, leakId: boolean): void {
    const s = this.slots.get(id);
    if (s === undefined || s.state !== LIVE) throw new Error(`object-table: forceDestroy of ${id}, which is not live`);
    this.destroyHook(s.obj);
    if (leakId) s.state = LEAKED;
    else this.release(id);
  }

  /** Live objects in ID order, optionally of one kind. */
  list(kind?: K): O[] {
    const out: O[] = [];
    for (const s of this.slots.values()) if (s.state === LIVE && (kind === undefined || s.obj.kind === kind)) out.push(s.obj);
    return out.sort((a, b) => a.id - b.id);
  }

  /**
   * Close of the fd (iommufd_fops_release): destroys objects with no users, lowest ID first,
   * repeatedly (each destroy may drop the last reference on another), until none is left; leaked
   * IDs are released. A cycle of references would be a bug and throws.
   */
  close(): void {
    for (;;) {
      let progressed = false;
      for (const id of [...this.slots.keys()].sort((a, b) => a - b)) {
        const s = this.slots.get(id);
        if (s === undefined || s.state !== LIVE || s.users !== 0) continue;
        this.destroyHook(s.obj);
        this.release(id);
        progressed = true;
      }
      let live = 0;
      for (const s of this.slots.values()) if (s.state === LIVE) live++;
      if (live === 0) break;
      if (!progressed) throw new Error('object-table: close found objects that reference each other');
    }
    this.slots.clear();
    this.lastSlot = undefined;
    this.freeIds.length = 0;
    this.next = 1;
  }

  private release(id: number): void {
    // Every free ID below `next` is in the heap, so its minimum (or `next`) is the lowest free ID.
    this.slots.delete(id);
    if (id === this.lastId) this.lastSlot = undefined;
    this.pushFree(id);
  }

  private pushFree(id: number): void {
    const h = this.freeIds;
    let i = h.length;
    h.push(id);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p] <= h[i]) break;
      [h[p], h[i]] = [h[i], h[p]];
      i = p;
    }
  }

  private popFree(): number {
    const h = this.freeIds;
    const top = h[0];
    const last = h.pop() as number;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && h[l] < h[m]) m = l;
        if (r < h.length && h[r] < h[m]) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i], h[m]];
        i = m;
      }
    }
    return top;
  }
}
