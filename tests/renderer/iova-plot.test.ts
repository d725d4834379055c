// The IOVA space view's geometry (renderer/src/iova-plot.ts): x in linear and log2 up to 2^64,
// binary tick labels, the initial extent (holes to 2^64 − 1 do not stretch it), the range under
// the pointer (narrowest holder, else nearest within the tolerance), hover text; and the locale
// fallback uPlot needs (renderer/src/uplot.ts loads it with one).
import { describe, expect, it } from 'vitest';
import type { IovaDomain, IovaRange } from '../../core/contract/index.ts';
import { bars, fromX, hitTest, initialExtent, rangeText, sizeLabel, tickLabel, tickLabels, ticks, toX, u64, usableLocale } from '../../renderer/src/iova-plot.ts';

const range = (kind: IovaRange['kind'], start: string, end: string, seq: number, extra: Partial<IovaRange> = {}): IovaRange => ({ kind, start, end, seq, ...extra });
const domain = (ranges: IovaRange[], aperture: [string, string] | null = null): IovaDomain => ({
  domain: 1,
  group: 0,
  aperture,
  granule: 4096,
  devices: [],
  holesFrom: 'none',
  ranges,
  truncated: false,
});

describe('IOVA plot geometry', () => {
  it('places byte boundaries on x: linear bytes, log2 exact at 4 GiB and 2^64', () => {
    expect(toX(0n, 'log2')).toBe(0);
    expect(toX(1n, 'log2')).toBe(0);
    expect(toX(1n << 32n, 'log2')).toBe(32);
    expect(fromX(39, 'log2')).toBe(2 ** 39);
    expect(toX(1n << 64n, 'log2')).toBe(64);
    expect(toX(1n << 39n, 'linear')).toBe(2 ** 39);
    expect(u64('0xffffffffffffffff')).toBe((1n << 64n) - 1n);
    expect(u64('nope')).toBe(0n);
    const b = bars(domain([range('failed', '0xfffffffffffff000', '0xffffffffffffffff', 7), range('allocated', '0xffffe000', '0xffffffff', 3)]), 'log2');
    expect(b.map((x) => [x.lane, x.x1])).toEqual([
      [3, 64],
      [2, 32],
    ]);
  });

  it('labels ticks in binary units and powers of two', () => {
    expect([sizeLabel(0), sizeLabel(4096), sizeLabel(1.5 * 2 ** 20), sizeLabel(2 ** 32), sizeLabel(2 ** 39), sizeLabel(2 ** 64)]).toEqual(['0', '4K', '1.50M', '4G', '512G', '16E']);
    expect(ticks(0, 2 ** 32, 'linear', 4)).toEqual([0, 2 ** 30, 2 ** 31, 3 * 2 ** 30, 2 ** 32]);
    expect(ticks(12, 64, 'log2', 6).map((x) => tickLabel(x, 'log2'))).toEqual(['2^18', '2^27', '2^36', '2^45', '2^54', '2^63']);
    expect(tickLabel(2 ** 31, 'linear')).toBe('2G');
    // Zoomed in (ticks closer than 64 GiB): hex addresses.
    expect(tickLabels(ticks(0xfffe0000, 0x100000000, 'linear', 2), 'linear')).toEqual(['0xfffe0000', '0xffff0000', '0x100000000']);
    expect(tickLabels([0, 2 ** 62, 2 ** 63], 'linear')).toEqual(['0', '4E', '8E']);
  });

  it('starts at the aperture or the highest range that is not a host hole, at least 4 GiB', () => {
    const holes = [range('host-hole', '0x8000000000', '0xffffffffffffffff', 1)];
    expect(initialExtent(domain(holes), 'linear')).toEqual([0, 2 ** 32]);
    expect(initialExtent(domain([...holes, range('allocated', '0x7ffffff000', '0x7fffffffff', 2)]), 'linear')).toEqual([0, 2 ** 39]);
    expect(initialExtent(domain(holes, ['0x0', '0xffffffffffffffff']), 'log2')).toEqual([12, 64]);
  });

  it('finds the range under the pointer: the narrowest holding it, else the nearest within the tolerance, on its lane only', () => {
    const list = bars(
      domain([
        range('host-hole', '0x0', '0xffff', 1),
        range('host-hole', '0x1000', '0x1fff', 2),
        range('allocated', '0x1000', '0x1fff', 3),
        range('allocated', '0x10000', '0x10fff', 4),
      ]),
      'linear',
    );
    expect(hitTest(list, 1, 0x1800, 0)?.range.seq).toBe(2);
    expect(hitTest(list, 1, 0x8000, 0)?.range.seq).toBe(1);
    expect(hitTest(list, 2, 0x3000, 0x100)).toBeNull();
    expect(hitTest(list, 2, 0xff80, 0x100)?.range.seq).toBe(4);
    expect(hitTest(list, 0, 0x1800, 0x100)).toBeNull();
    expect(rangeText(range('failed', '0x8000001000', '0x8000001fff', 16, { source: 'host-call', label: 'EINVAL' }))).toBe('failed [0x8000001000-0x8000001fff] 4KB · host-call · EINVAL · event #16');
  });

  it("gives uPlot a locale Intl accepts (a POSIX tag like 'en-US@posix' throws in Intl.NumberFormat)", () => {
    expect(usableLocale('de-DE')).toBe('de-DE');
    expect(usableLocale('en-US@posix')).toBe('en-US');
    expect(usableLocale('@@')).toBe('en-US');
  });
});
