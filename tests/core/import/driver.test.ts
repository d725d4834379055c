/**
 * The import driver (core/import/driver.ts) with two toy importers: line splitting across chunks,
 * detection (best score, tie, too low, forced), wrapped-line rejoin only when unambiguous, and
 * the per-line accounting of unknown lines and errors by number.
 */
import { describe, expect, it } from 'vitest';
import { ImportDriver, ImportError, UNKNOWN_LIST } from '../../../core/import/driver.ts';
import type { Importer, LineResult, TraceEvent, TraceFormat } from '../../../core/import/types.ts';

/** Lines "<tag> map <hex> <size>" are events; "# …" and blank are headers; "<tag> skip" ignored; "<tag> map …" otherwise an error. */
function toy(format: TraceFormat, tag: string): Importer {
  const parse = (line: string): LineResult => {
    if (line.trim() === '' || line.startsWith('#')) return { t: 'header' };
    if (!line.startsWith(tag + ' ')) return { t: 'unknown' };
    const body = line.slice(tag.length + 1);
    if (body === 'skip') return { t: 'ignored' };
    if (!body.startsWith('map')) return { t: 'unknown' };
    const m = /^map 0x([0-9a-f]+) (\d+)$/.exec(body);
    if (!m) return { t: 'error', message: `map: expected "map 0x<iova> <size>", got "${body}"` };
    return { t: 'event', events: [{ kind: 'trace-map', iova: BigInt('0x' + m[1]), size: BigInt(m[2]), data: { event: 'toy:map' } }] };
  };
  return {
    format,
    component: tag,
    detect: (lines) => lines.filter((l) => ['event', 'header'].includes(parse(l).t)).length / lines.length,
    isLineStart: (line) => line.startsWith(tag + ' ') || line.startsWith('#'),
    parse,
    reset: () => {},
  };
}
const IMPORTERS = [toy('ftrace', 'ft'), toy('kmsg', 'km'), toy('qemu', 'qe')];

function run(text: string, chunk = 7, forced?: TraceFormat) {
  const d = new ImportDriver(IMPORTERS, forced);
  const events: [number, TraceEvent][] = [];
  for (let i = 0; i < text.length; i += chunk) d.push(text.slice(i, i + chunk), (e, line) => events.push([line, e]));
  const stats = d.end((e, line) => events.push([line, e]));
  return { stats, events, lines: events.map(([l, e]) => [l, e.kind === 'trace-map' ? e.iova : null]) };
}

describe('lines and accounting', () => {
  it('splits lines across chunks (LF and CRLF, no final newline) and counts every line by what it is', () => {
    const text = '# header\r\nkm map 0x1000 4096\r\nkm skip\nkm what\n\nkm map 0xzz 1\nkm map 0x2000 8192';
    for (const chunk of [1, 3, 7, 1000]) {
      const { stats, lines } = run(text, chunk);
      expect(lines).toEqual([
        [2, 0x1000n],
        [7, 0x2000n],
      ]);
      expect(stats).toMatchObject({ format: 'kmsg', lines: 7, events: 2, headers: 2, ignored: 1, byKind: { 'trace-map': 2 } });
      expect(stats.unknown).toEqual({ count: 1, lines: [4] });
      expect(stats.errors).toEqual({ count: 1, list: [{ line: 6, message: 'map: expected "map 0x<iova> <size>", got "map 0xzz 1"' }] });
    }
  });

  it('lists the first unknown lines by number and counts them all', () => {
    const text = ['qe map 0x1 1', ...Array.from({ length: 150 }, () => 'qe mystery'), 'qe map 0x2 1'].join('\n');
    const { stats } = run(text, 64, 'qemu');
    expect(stats.unknown.count).toBe(150);
    expect(stats.unknown.lines).toEqual(Array.from({ length: UNKNOWN_LIST }, (_, i) => i + 2));
  });
});

describe('format detection', () => {
  it('picks the importer that recognises the most of the first lines, and a forced format skips detection', () => {
    expect(run('ft map 0x1 1\nft map 0x2 1\nkm map 0x3 1\n').stats).toMatchObject({ format: 'ftrace', detected: { forced: false, scores: { ftrace: 0.667, kmsg: 0.333, qemu: 0 } } });
    const forced = run('ft map 0x1 1\nkm map 0x3 1\n', 7, 'kmsg');
    expect(forced.stats).toMatchObject({ format: 'kmsg', detected: { forced: true, scores: {} }, events: 1 });
    expect(forced.stats.unknown.lines).toEqual([1]);
  });

  it('refuses a file no importer recognises, a tie, an empty file, and an unknown forced format', () => {
    expect(() => run('hello\nworld\n')).toThrow(/cannot tell the trace format: no importer recognises enough of the first 2 lines \(scores: ftrace 0, kmsg 0, qemu 0\); use --format/);
    expect(() => run('ft map 0x1 1\nkm map 0x2 1\n')).toThrow(/two importers score the first 2 lines alike/);
    expect(() => run('\n\n')).toThrow(ImportError);
    expect(() => run('', 7, 'pcap' as TraceFormat)).toThrow(/unknown format "pcap"/);
  });
});

describe('wrapped lines', () => {
  it('rejoins a line wrapped after a space or inside a token, keeping the first line number', () => {
    const { stats, lines } = run('ft map 0x1000\n4096\nft map 0x20\n00 4096\nft map 0x3000 4096\n');
    expect(lines).toEqual([
      [1, 0x1000n],
      [3, 0x2000n],
      [5, 0x3000n],
    ]);
    expect(stats).toMatchObject({ lines: 5, rejoined: 2, events: 3 });
    expect(stats.errors.count).toBe(0);
  });

  it('keeps both lines as they are when the join is ambiguous or does not parse, or the next line starts a record', () => {
    // An importer where "A" alone is an error and both "AB" and "A B" parse: the join is ambiguous.
    const amb: Importer = {
      format: 'ftrace',
      component: 'amb',
      detect: () => 1,
      isLineStart: (l) => l.startsWith('A'),
      parse: (l) => (l === 'A' ? { t: 'error', message: 'A alone' } : /^A ?B$/.test(l) ? { t: 'event', events: [{ kind: 'trace-note', data: { event: 'amb', text: l } }] } : { t: 'unknown' }),
      reset: () => {},
    };
    const d = new ImportDriver([amb], 'ftrace');
    d.push('A\nB\n', () => {});
    const st = d.end(() => {});
    expect([st.events, st.rejoined, st.errors.list, st.unknown.lines]).toEqual([0, 0, [{ line: 1, message: 'A alone' }], [2]]);

    const nextStarts = run('ft map 0x1\nft map 0x2 1\n', 7, 'ftrace');
    expect(nextStarts.lines).toEqual([[2, 0x2n]]);
    expect(nextStarts.stats.errors.list.map((e) => e.line)).toEqual([1]);
    const noJoin = run('ft map 0x1\nzzz\nft map 0x2 1\n', 7, 'ftrace');
    expect(noJoin.stats.errors.list.map((e) => e.line)).toEqual([1]);
    expect(noJoin.stats.unknown.lines).toEqual([2]);
    expect(noJoin.stats.rejoined).toBe(0);
  });

  it("counts a record an importer still holds at the end of the file (finish) at the file's last line", () => {
    let held = false;
    const twoLine: Importer = {
      format: 'kmsg',
      component: 'k',
      detect: () => 1,
      isLineStart: () => true,
      parse: (l) => {
        if (l === 'first half') {
          held = true;
          return { t: 'header' };
        }
        return { t: 'unknown' };
      },
      reset: () => {
        held = false;
      },
      finish: () => (held ? { t: 'error', message: 'the second half never came' } : null),
    };
    const d = new ImportDriver([twoLine], 'kmsg');
    d.push('x\nfirst half\n', () => {});
    const st = d.end(() => {});
    expect(st.errors.list).toEqual([{ line: 2, message: 'the second half never came' }]);
    expect(st.unknown.lines).toEqual([1]);
  });
});
