/**
 * The generic object table (core/host/object-table.ts; iommufd main.c semantics, reference §1.1).
 */
import { describe, expect, it } from 'vitest';
import { ERRNO } from '../../../core/host/errno.ts';
import { ObjectTable } from '../../../core/host/object-table.ts';

type Kind = 'a' | 'b';
interface Obj {
  kind: Kind;
  id: number;
  holds?: Obj;
}

function table() {
  const destroyed: number[] = [];
  const t: ObjectTable<Kind, Obj> = new ObjectTable<Kind, Obj>((o) => {
    destroyed.push(o.id);
    if (o.holds !== undefined) t.unref(o.holds);
  });
  const make = (kind: Kind, holds?: Obj): Obj => {
    const o: Obj = { kind, id: 0, holds };
    t.alloc(o);
    if (holds !== undefined) t.ref(holds);
    t.finalize(o.id);
    return o;
  };
  return { t, destroyed, make };
}

describe('ObjectTable', () => {
  it('IDs from 1 in one space; typed lookups; pending objects are invisible; abort releases the ID', () => {
    const { t, make } = table();
    const a = make('a');
    const b = make('b');
    expect([a.id, b.id]).toEqual([1, 2]);
    expect(t.get(1, 'a')).toBe(a);
    expect(t.get(1, 'b')).toBeUndefined();
    expect(t.get(1)).toBe(a);
    expect(t.get(0)).toBeUndefined();
    const p: Obj = { kind: 'a', id: 0 };
    expect(t.alloc(p)).toBe(3);
    expect(t.get(3)).toBeUndefined();
    expect(t.destroy(3)).toBe(ERRNO.ENOENT);
    t.abort(3);
    expect(t.alloc({ kind: 'a', id: 0 })).toBe(3);
    expect(() => t.finalize(1)).toThrow();
  });

  it('destroy: ENOENT absent or wrong kind, EBUSY while referenced; the lowest free ID is reused', () => {
    const { t, make, destroyed } = table();
    const a = make('a');
    const b = make('b', a);
    make('a');
    expect(t.destroy(9)).toBe(ERRNO.ENOENT);
    expect(t.destroy(a.id, 'b')).toBe(ERRNO.ENOENT);
    expect(t.destroy(a.id)).toBe(ERRNO.EBUSY);
    expect(t.destroy(b.id)).toBe(0);
    expect(t.destroy(a.id)).toBe(0);
    expect(destroyed).toEqual([2, 1]);
    expect(t.alloc({ kind: 'a', id: 0 })).toBe(1);
    expect(t.alloc({ kind: 'a', id: 0 })).toBe(2);
    expect(t.alloc({ kind: 'a', id: 0 })).toBe(4);
  });

  it('close destroys leaf-first until empty; a leaked ID stays taken until then', () => {
    const { t, make, destroyed } = table();
    const a = make('a');
    const b = make('b', a);
    make('b', b);
    const leak = make('a');
    t.forceDestroy(leak.id, true);
    expect(t.get(leak.id)).toBeUndefined();
    expect(t.destroy(leak.id)).toBe(ERRNO.ENOENT);
    expect(t.alloc({ kind: 'a', id: 0 })).toBe(5);
    t.abort(5);
    destroyed.length = 0;
    t.close();
    expect(destroyed).toEqual([3, 2, 1]);
    expect(t.size).toBe(0);
    expect(t.alloc({ kind: 'a', id: 0 })).toBe(1);
  });

  it('a lookup never returns an object after its ID is destroyed, leaked, closed or reused (the last-lookup cache)', () => {
    const { t, make } = table();
    const a = make('a');
    // Looked up twice (the second from the cache), then destroyed: the ID is absent.
    expect(t.get(a.id, 'a')).toBe(a);
    expect(t.get(a.id, 'a')).toBe(a);
    expect(t.destroy(a.id)).toBe(0);
    expect(t.get(a.id)).toBeUndefined();
    // The same ID, reused by another object: the lookup finds the new one, pending until finalized.
    const b: Obj = { kind: 'b', id: 0 };
    expect(t.alloc(b)).toBe(a.id);
    expect(t.get(b.id)).toBeUndefined();
    t.finalize(b.id);
    expect(t.get(b.id, 'a')).toBeUndefined();
    expect(t.get(b.id, 'b')).toBe(b);
    // A force-destroyed object with a leaked ID, looked up just before: invisible right after.
    t.forceDestroy(b.id, true);
    expect(t.get(b.id)).toBeUndefined();
    // Aborted while cached as absent-but-pending, then reused.
    const c = make('a');
    const p: Obj = { kind: 'a', id: 0 };
    t.alloc(p);
    expect(t.get(p.id)).toBeUndefined();
    t.abort(p.id);
    const q = make('b');
    expect(q.id).toBe(p.id);
    expect(t.get(q.id)).toBe(q);
    // Close empties the table: the last object looked up is gone, and its ID is handed out anew.
    expect(t.get(c.id)).toBe(c);
    t.close();
    expect(t.get(c.id)).toBeUndefined();
    const d = make('b');
    expect(d.id).toBe(1);
    expect(t.get(1)).toBe(d);
    // A leaked ID looked up last is released by close alone: its next owner is found.
    t.forceDestroy(d.id, true);
    expect(t.get(d.id)).toBeUndefined();
    t.close();
    const e = make('a');
    expect(e.id).toBe(d.id);
    expect(t.get(e.id, 'a')).toBe(e);
  });
});
