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
});
