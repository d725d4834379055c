/**
 * The in-place fast path of the ftrace importer (Importer.parseRange, CodeUnitsBuffer) and the
 * driver's use of it: a line parsed inside a larger text gives exactly what the line alone gives,
 * never reading its neighbours; ASCII and non-ASCII chunks (bytes or 16-bit code units) and every
 * chunking give the same events and statistics.
 */
import { describe, expect, it } from 'vitest';
import { ImportDriver } from '../../../core/import/driver.ts';
import { FtraceImporter } from '../../../core/import/ftrace.ts';
import { createImporters } from '../../../core/import/index.ts';
import { CodeUnitsBuffer, type TraceEvent } from '../../../core/import/types.ts';

const P = '     ksoftirqd/0-15     [000] ..s1. 1000.000100: ';
const LINES = [
  P + 'map: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 paddr=0x0000000100004000 size=4096',
  P + 'unmap: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 size=4096 unmapped_size=4096',
  P + 'dma_map_phys: 0000:3b:00.0 dir=FROM_DEVICE dma_addr=fffff000 size=4096 phys_addr=1f000 attrs=',
  P + 'map: IOMMU: iova=0xffffffffffff0000 - 0x0000000000000000 paddr=0xfffffffffffff000 size=65536',
  P + 'map: IOMMU: iova=0x1000 paddr=0x2000 size=18446744073709551615',
  P + 'map: IOMMU: iova=0x1000 paddr=0x2000 size=',
  P + 'io_page_fault: IOMMU:AMD-Vi 0000:3b:00.0 iova=0x00000000fffff000 flags=0x0020',
  '   Web Content-4242   [001] d..2. 1000.000200: dma_unmap_phys: 0000:3b:00.0 dir=TO_DEVICE dma_addr=1000 size=64 attrs=',
  '  kworker/ü:1-77      [002] ..... 1000.000300: map: IOMMU: iova=0x1000 paddr=0x2000 size=4096',
  '  qemu-kvm-9     [003] ..... 1000.000400: mapś: IOMMU: iova=0x1000 paddr=0x2000 size=4096',
  '# tracer: nop',
  'CPU 3 is empty',
  'cpus=4',
  '',
  'no prefix at all',
];

/** Events as comparable text (bigints spelled out). */
function text(x: unknown): string {
  return JSON.stringify(x, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
}

describe('parseRange', () => {
  it('parses a line inside a larger text exactly as the line alone, whatever its neighbours hold', () => {
    const imp = new FtraceImporter();
    // Neighbours that would change the result if a scan ran past the line's bounds.
    const neighbours = ['4096 unmapped_size=4096', '[001] 12.5: x', '0123456789abcdef', 'é'];
    for (const line of LINES) {
      const alone = text(imp.parse(line));
      for (const before of neighbours) {
        for (const after of neighbours) {
          const t = before + line + after;
          expect(text(imp.parseRange(t, before.length, before.length + line.length)), `${line} in ${before}…${after}`).toBe(alone);
          expect(text(imp.parseRange(t, before.length, before.length + line.length, new CodeUnitsBuffer().of(t)))).toBe(alone);
        }
      }
    }
  });

  it('gives the code units of ASCII text as bytes and of any other text as 16-bit units', () => {
    const buf = new CodeUnitsBuffer();
    const a = buf.of('map: 0x1');
    expect(a).toBeInstanceOf(Uint8Array);
    expect([...a.subarray(0, 8)]).toEqual([...'map: 0x1'].map((c) => c.charCodeAt(0)));
    const u = buf.of('kworker/ü ś');
    expect(u).toBeInstanceOf(Uint16Array);
    expect([...u]).toEqual([...'kworker/ü ś'].map((c) => c.charCodeAt(0)));
  });
});

describe('the driver on chunks', () => {
  function importText(t: string, chunk: number) {
    const d = new ImportDriver(createImporters(), 'ftrace');
    const events: [number, TraceEvent][] = [];
    const on = (e: TraceEvent, line: number) => events.push([line, e]);
    for (let i = 0; i < t.length; i += chunk) d.push(t.slice(i, i + chunk), on);
    const stats = d.end(on);
    return text({ stats, events });
  }

  it('gives the same events and statistics for every chunking, with ASCII and non-ASCII chunks and CRLF', () => {
    const ascii = LINES.filter((l) => [...l].every((c) => c.charCodeAt(0) < 128));
    for (const lines of [ascii, LINES]) {
      for (const eol of ['\n', '\r\n']) {
        const t = Array.from({ length: 20 }, (_, i) => lines[i % lines.length]).join(eol);
        const whole = importText(t, t.length);
        expect(JSON.parse(whole).stats.lines).toBe(20);
        for (const chunk of [1, 7, 64, 1000]) expect(importText(t, chunk), `chunk ${chunk}`).toBe(whole);
      }
    }
  });

  it('parses lines without a "[" after lines that have one, and the reverse, in one chunk', () => {
    const t = ['# a', '# b', LINES[0], '# c', 'no prefix', LINES[1], '#'].join('\n');
    const r = JSON.parse(importText(t, t.length)) as { stats: { events: number; headers: number; unknown: { lines: number[] } } };
    expect(r.stats.events).toBe(2);
    expect(r.stats.headers).toBe(4);
    expect(r.stats.unknown.lines).toEqual([5]);
  });
});
