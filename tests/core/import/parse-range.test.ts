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

  it('reads every field alike from bytes (the 4-byte and pair-table paths) and from 16-bit units (a unit at a time)', () => {
    // Bodies around the fast paths' edges: %016llx fields (16 digits exactly, a 17th digit, a hex
    // letter or the line's end after 16), short and upper-case hex, values across 2^53 and at 2^64 - 1,
    // sizes of 4 / 5 / 20 / 21 digits, the dma fast path's exact layout and every way off it.
    const hex16 = ['0000000000000000', '00000000fffff000', '001fffffffffffff', '0020000000000000', 'ffffffffffffffff', 'FFFFFFFF0000ABCD'];
    const bodies: string[] = [];
    for (const a of hex16) {
      for (const e of [...hex16, '1000', '00000000000000000', '000000000000000g']) {
        bodies.push(`map: IOMMU: iova=0x${a} - 0x${e} paddr=0x${a} size=4096`);
        bodies.push(`unmap: IOMMU: iova=0x${a} - 0x${e} size=4096 unmapped_size=4096`);
      }
    }
    for (const size of ['1', '4096', '65536', '18446744073709551615', '18446744073709551616', '123456789012345678901', '', 'x']) {
      bodies.push(`map: IOMMU: iova=0x1000 paddr=0x2000 size=${size}`, `unmap: IOMMU: iova=0x1000 size=${size} unmapped_size=${size}`);
      bodies.push(`dma_map_phys: 0000:3b:00.0 dir=TO_DEVICE dma_addr=fffff000 size=${size} phys_addr=1f000 attrs=`);
    }
    bodies.push(
      'map: IOMMU: iova=0x00000000fffff000 - 0x00000000fffff000a paddr=0x1 size=1',
      'map: IOMMU: iova=0x00000000fffff000',
      'map: IOMMU: iova=0x00000000fffff00',
      'map: IOMMU: dev=0000:3b:00.0 iova=0x00000000fffff000 - 0x0000000100000000 paddr=0x0000000100004000 size=4096',
      'dma_map_phys: 0000:3b:00.0 dir=BIDIRECTIONAL dma_addr=ffffffffffffffff size=4096 phys_addr=ffffffffffffffff attrs=WEAK_ORDERING',
      'dma_map_phys: 0000:3b:00.0 dir=NONE dma_addr=0 size=0 phys_addr=0 attrs=',
      'dma_map_phys: 0000:3b:00.0 dir=SIDEWAYS dma_addr=1000 size=4096 phys_addr=2000 attrs=',
      'dma_map_phys: 0000:3b:00.0 dir=0x7 dma_addr=1000 size=4096 phys_addr=2000 attrs=',
      'dma_map_phys: 0000:3b:00.0 dir=TO_DEVICE dma_addr=1000 size=4096 phys_addr=2000 attrs=A B',
      'dma_map_phys: 0000:3b:00.0 dir=TO_DEVICE dma_addr=1000 size=4096 phys_addr=2000 attrs=A [TRUNCATED]',
      'dma_map_phys: 0000:3b:00.0 dir=TO_DEVICE dma_addr=1000 size=4096 phys_addr=2000',
      'dma_map_phys: 0000:3b:00.0 dir=TO_DEVICE dma_addr=1000 size=4096 phys_addr=2000 attrs=1 extra=2',
      'dma_map_phys: 0000:3b:00.0 dir=TO_DEVICE dma_addr=10000000000000000 size=4096 phys_addr=2000 attrs=',
      'dma_map_phys: 0000:3b:00.0 dir=TO_DEVICE dma_addr=1000 size=4096 phys_addr=2000 attrs=  ',
      'dma_map_phys: 0000:3b:00.0 dma_addr=1000 size=4096 phys_addr=2000 attrs=',
      'dma_map_phys: 0000:3b:00.0 dir=TO_DEVICE  dma_addr=1000 size=4096 attrs=',
      'dma_unmap_phys: 0000:3b:00.0 dir=FROM_DEVICE dma_addr=1000 size=4096 attrs=',
      'dma_unmap_phys: 0000:3b:00.0 dir=FROM_DEVICE dma_addr=1000 size=4096 attrs=SKIP_CPU_SYNC',
      'dma_unmap_phys: 0000:3b:00.0 dir=FROM_DEVICE dma_addr=1000 size=4096 attrs=',
      'dma_unmap_phys: 0000:3b:00.0 dir=FROM_DEVICE dma_addr=1000',
      'dma:dma_unmap_phys: 0000:3b:00.0 dir=FROM_DEVICE dma_addr=1000 size=4096 attrs=',
      'dma_map_page: 0000:3b:00.0 dir=FROM_DEVICE dma_addr=1000 size=4096 phys_addr=2000 attrs=',
      'dma_map_physx: 0000:3b:00.0 dir=FROM_DEVICE dma_addr=1000 size=4096 attrs=',
    );
    const prefixes = [P, '  qemu-kvm-9     [003] ..... 12345.000000001: ', '  kworker/1:2-77 (   77) [002] 1000.5: '];
    const imp = new FtraceImporter();
    let events = 0;
    for (const p of prefixes) {
      for (const body of bodies) {
        const line = p + body;
        const units = Uint16Array.from(line, (c) => c.charCodeAt(0));
        const bytes = imp.parse(line);
        if (bytes.t === 'event') events++;
        expect(text(imp.parseRange(line, 0, line.length, units)), line).toBe(text(bytes));
      }
    }
    expect(events).toBeGreaterThan(bodies.length); // most of the bodies are events: the paths were taken
  });

  it('reads the dma layout of today\'s kernels in one pass and leaves every other layout to the key=value loop', () => {
    const imp = new FtraceImporter();
    const dma = (body: string) => imp.parse(P + body);
    const head = { event: 'dma:dma_map_phys', comm: 'ksoftirqd/0', pid: 15, cpu: 0, device: '0000:3b:00.0' };
    const time = 1000000100000;
    // The fast path: empty attrs are dropped, others kept; phys_addr is optional (dma_unmap_phys).
    expect(dma('dma_map_phys: 0000:3b:00.0 dir=TO_DEVICE dma_addr=1000 size=4096 phys_addr=2000 attrs=')).toStrictEqual({ t: 'event', events: [{ kind: 'trace-dma', data: head, dir: 1, addr: 0x1000n, size: 4096n, phys: 0x2000n, time }] });
    expect(dma('dma_unmap_phys: 0000:3b:00.0 dir=FROM_DEVICE dma_addr=1000 size=4096 attrs=SKIP_CPU_SYNC')).toStrictEqual({ t: 'event', events: [{ kind: 'trace-dma', data: { ...head, event: 'dma:dma_unmap_phys', attrs: 'SKIP_CPU_SYNC' }, dir: 2, addr: 0x1000n, size: 4096n, time }] });
    // Off the layout: a second token after attrs, [TRUNCATED], an unknown direction, no attrs, extra keys.
    expect(dma('dma_map_phys: 0000:3b:00.0 dir=TO_DEVICE dma_addr=1000 size=4096 phys_addr=2000 attrs=A B')).toStrictEqual({ t: 'error', message: expect.stringContaining("unexpected 'B'") as string });
    expect(dma('dma_map_phys: 0000:3b:00.0 dir=TO_DEVICE dma_addr=1000 size=4096 phys_addr=2000 attrs=A [TRUNCATED]')).toStrictEqual({ t: 'event', events: [{ kind: 'trace-dma', data: { ...head, attrs: 'A', truncated: true }, dir: 1, addr: 0x1000n, size: 4096n, phys: 0x2000n, time }] });
    expect(dma('dma_map_phys: 0000:3b:00.0 dir=SIDEWAYS dma_addr=1000 size=4096 phys_addr=2000 attrs=')).toStrictEqual({ t: 'event', events: [{ kind: 'trace-dma', data: { ...head, dir: 'SIDEWAYS' }, addr: 0x1000n, size: 4096n, phys: 0x2000n, time }] });
    expect(dma('dma_map_phys: 0000:3b:00.0 dir=TO_DEVICE dma_addr=1000 size=4096 phys_addr=2000')).toStrictEqual({ t: 'event', events: [{ kind: 'trace-dma', data: head, dir: 1, addr: 0x1000n, size: 4096n, phys: 0x2000n, time }] });
    expect(dma('dma_map_phys: 0000:3b:00.0 dir=TO_DEVICE dma_addr=1000 size=4096 phys_addr=2000 attrs=1 extra=2')).toStrictEqual({ t: 'event', events: [{ kind: 'trace-dma', data: { ...head, attrs: '1', extra: '2' }, dir: 1, addr: 0x1000n, size: 4096n, phys: 0x2000n, time }] });
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

  it('keeps stats.byKind current after every chunk, in the order the kinds first appeared', () => {
    const d = new ImportDriver(createImporters(), 'ftrace');
    const on = () => {};
    d.push(LINES[2] + '\n' + LINES[0] + '\n', on);
    expect(d.stats.byKind).toEqual({ 'trace-dma': 1, 'trace-map': 1 });
    expect(Object.keys(d.stats.byKind)).toEqual(['trace-dma', 'trace-map']);
    d.push(LINES[0] + '\n' + LINES[1] + '\n' + LINES[6], on);
    expect(d.stats.byKind).toEqual({ 'trace-dma': 1, 'trace-map': 2, 'trace-unmap': 1 });
    const s = d.end(on);
    expect(s.byKind).toEqual({ 'trace-dma': 1, 'trace-map': 2, 'trace-unmap': 1, 'trace-fault': 1 });
    expect(s.events).toBe(5);
  });

  it('parses lines without a "[" after lines that have one, and the reverse, in one chunk', () => {
    const t = ['# a', '# b', LINES[0], '# c', 'no prefix', LINES[1], '#'].join('\n');
    const r = JSON.parse(importText(t, t.length)) as { stats: { events: number; headers: number; unknown: { lines: number[] } } };
    expect(r.stats.events).toBe(2);
    expect(r.stats.headers).toBe(4);
    expect(r.stats.unknown.lines).toEqual([5]);
  });
});
