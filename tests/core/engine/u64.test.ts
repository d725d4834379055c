/**
 * The u64 helpers (core/engine/u64.ts): bigints built from 32-bit halves through a DataView must be
 * exactly the values the bigint arithmetic gives, at every edge of the halves and of 2^53.
 */
import { describe, expect, it } from 'vitest';
import { hi32, lo32, leanU64, leanU64Of, u64, u64Of, TWO32 } from '../../../core/engine/u64.ts';

const HALVES = [0, 1, 0x7fffffff, 0x80000000, 0xfffff000, 0xffffffff, 0x1fffff, 0x200000];

describe('u64', () => {
  it('is (hi << 32) | lo for every pair of edge halves, and splits back into them', () => {
    for (const hi of HALVES) {
      for (const lo of HALVES) {
        const v = u64(hi, lo);
        expect(v).toBe((BigInt(hi) << 32n) | BigInt(lo));
        expect([hi32(v), lo32(v)]).toEqual([hi, lo]);
      }
    }
    expect(u64(0xffffffff, 0xffffffff)).toBe(0xffffffffffffffffn);
  });

  it('takes each half ToUint32, as x >>> 0 does', () => {
    expect(u64(-1, -1)).toBe(0xffffffffffffffffn);
    expect(u64(2 ** 32 + 5, 2 ** 32 + 7)).toBe((5n << 32n) | 7n);
    expect(u64(1.9, 2.9)).toBe((1n << 32n) | 2n);
    expect(u64(Number.NaN, 3)).toBe(3n);
  });

  it('u64Of is BigInt(v) for integers below 2^53', () => {
    for (const v of [0, 1, 4095, 4096, TWO32 - 1, TWO32, TWO32 + 1, 0xfffff000, 2 ** 52 + 3, Number.MAX_SAFE_INTEGER]) expect(u64Of(v)).toBe(BigInt(v));
    for (let i = 1n; i <= 1000n; i++) {
      const v = (i * 0x9e3779b97f4a7c15n) % 2n ** 53n; // spread over [0, 2^53), deterministic
      expect(u64Of(Number(v))).toBe(v);
    }
  });

  it('gives a lean sink numbers below 2^53 and every other sink bigints', () => {
    const lean = { lean: true };
    expect(leanU64(lean, 0x1fffff, 0xffffffff)).toBe(Number.MAX_SAFE_INTEGER);
    expect(leanU64(lean, 0x200000, 0)).toBe(2n ** 53n);
    expect(leanU64({}, 1, 2)).toBe((1n << 32n) | 2n);
    expect(leanU64Of(lean, 4096)).toBe(4096);
    expect(leanU64Of({ lean: false }, 4096)).toBe(4096n);
  });
});
