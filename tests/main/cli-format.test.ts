/**
 * The CLI's text output as pure functions: aligned tables at any width (events at seq widths 1 to
 * 7 digits), a run report of hundreds of thousands of steps (§5.7: Math.max(...array) overflowed
 * the stack at ~126 K), terminal escaping, and CSV quoting.
 */
import { describe, expect, it, test } from 'vitest';
import type { EventRow, RunDetail, StepResult } from '../../core/contract/index.ts';
import { escapeJsonOutput, escapeLines, escapeTerminal } from '../../main/cli/escape.ts';
import { CSV_FIELDS, csvField, csvHeader, csvLine, jsonLine } from '../../main/cli/export.ts';
import { formatEventLines } from '../../main/cli/inspect.ts';
import { formatRunReport } from '../../main/cli/report.ts';
import { formatTable } from '../../main/cli/table.ts';

const row = (seq: number, step: number, text: string, problem = false): EventRow => ({ seq, step, kind: 'map', fields: {}, text, problem });

/** Start offset of each column in `line`, given the header's layout: the columns are aligned when every line matches. */
function assertAligned(lines: string[]): void {
  const head = lines[0];
  const seqEnd = head.indexOf('seq') + 3;
  const stepEnd = head.indexOf('step') + 4;
  const textAt = head.indexOf('event');
  for (const l of lines.slice(1)) {
    expect(l.slice(0, seqEnd)).toMatch(/^ *\d+$/); // seq right-aligned under "seq"
    expect(l.slice(seqEnd, stepEnd)).toMatch(/^ +-?\d+$/); // step right-aligned under "step"
    expect(l.slice(stepEnd, textAt)).toMatch(/^ +[! ] +$/);
    expect(l[textAt]).not.toBe(' ');
    expect(l[textAt - 1]).toBe(' ');
  }
}

describe('events table', () => {
  test.each([1, 2, 3, 4, 5, 6, 7])('is aligned with a header when seq has %i digits', (digits) => {
    const first = digits === 1 ? 0 : 10 ** (digits - 1) - 2;
    const rows = [0, 1, 2, 3].map((i) => row(first + i, i === 0 ? -1 : 12345, `MAP domain=${i}`, i === 2));
    const lines = formatEventLines(rows);
    expect(lines).toHaveLength(5);
    expect(lines[0]).toMatch(/^ *seq +step +event$/);
    assertAligned(lines);
    expect(lines[3]).toContain('!');
  });

  it('is aligned when one page mixes every width from 1 to 7 digits', () => {
    const rows = [0, 9, 10, 99, 100, 999, 1000, 99999, 100000, 999999, 1000000, 9999999].map((s) => row(s, s % 7, `E${s}`));
    const lines = formatEventLines(rows);
    assertAligned(lines);
    expect(new Set(lines.slice(1).map((l) => l.indexOf('E'))).size).toBe(1);
  });
});

describe('formatTable', () => {
  it('pads to the widest cell of each column, right-aligns numbers, no trailing spaces', () => {
    expect(formatTable([['1', 'a'], ['100', 'bbb']], { head: ['id', 'name'], align: ['right', 'left'] })).toEqual([' id  name', '  1  a', '100  bbb']);
  });
});

describe('run report', () => {
  it('prints 300 000 steps (Math.max(...steps) overflowed the stack from ~126 K)', () => {
    const steps: StepResult[] = [];
    for (let i = 0; i < 300_000; i++) steps.push({ index: i, op: i % 2 ? 'map' : 'read-config', line: 6 + i, status: i % 2 ? 'OK' : undefined });
    steps.push({ index: 300_000, op: 'dma', line: 300_006, outcome: { fault: { reason: 'MAPPING' } }, expectation: false, message: 'expected {"translated":"0x1000"}' });
    const run: RunDetail = {
      id: 7,
      name: 'huge',
      file: 'huge.yaml',
      status: 'done',
      startedAt: '2026-12-01T00:00:00.000Z',
      finishedAt: '2026-12-01T00:00:09.000Z',
      steps: steps.length,
      events: 0,
      failedExpectations: 1,
      error: null,
      config: { machine: 'q35', model: 'virtio-iommu', conformance: 'qemu', granule: '4k', awBits: 48, devices: [{ name: 'nic0', bdf: '00:03.0', endpoint: 24 }] },
      scenarioText: '',
      metrics: null,
      stepResults: steps,
    };
    const lines = formatRunReport(run).split('\n');
    expect(lines[0]).toBe('run 7: huge (huge.yaml)');
    expect(lines).toContain('config        machine q35 · virtio-iommu · conformance qemu · granule 4k · aw-bits 48');
    expect(lines).toContain('devices       nic0 00:03.0');
    const table = lines.filter((l) => /^ {2}[✔✘ ] /.test(l));
    expect(table).toHaveLength(300_002); // header + steps
    expect(table[1]).toBe('          0       6  read-config');
    expect(table[2]).toBe('          1       7  map          OK');
    expect(table.at(-1)).toBe(`  ✘  300000  300006  dma                  fault MAPPING; expected {"translated":"0x1000"}`);
    expect(lines.at(-2)).toBe('FAILED: 1 expectation(s) failed (0 events)');
  });
});

describe('terminal escaping', () => {
  it('escapes C0, DEL, C1, separators and bidi controls, keeping text and (for lines) LF', () => {
    const evil = 'a\x1b]0;pwned\x07\x1b[2J\rb\tc\x7f\x9bd\u2028e\u202ef\u2066g';
    expect(escapeTerminal(evil)).toBe('a\\x1b]0;pwned\\x07\\x1b[2J\\rb\\tc\\x7f\\x9bd\\u{2028}e\\u{202e}f\\u{2066}g');
    expect(escapeTerminal('x\ny')).toBe('x\\ny');
    expect(escapeLines('x\x1b[31m\ny\n')).toBe('x\\x1b[31m\ny\n');
    expect(escapeTerminal('plain ✔ ünïcode → 0xffffffffffffffff')).toBe('plain ✔ ünïcode → 0xffffffffffffffff');
    // eslint-disable-next-line no-control-regex
    expect(escapeTerminal(String.fromCharCode(...Array.from({ length: 0xa0 }, (_, i) => i)))).not.toMatch(/[\x00-\x1f\x7f-\x9f]/);
  });

  it('keeps JSON valid and equal while escaping what JSON.stringify leaves raw', () => {
    const value = { name: 'a\x1b[2J\x9b\u202e\u2028z', n: 1 };
    const text = escapeJsonOutput(JSON.stringify(value));
    // eslint-disable-next-line no-control-regex
    expect(text).not.toMatch(/[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/);
    expect(JSON.parse(text)).toEqual(value);
  });
});

/** A small RFC 4180 reader (CRLF records, quoted fields with "" escapes) to read the export back. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let field = '';
  let rec: string[] = [];
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c !== '"') field += c;
      else if (text[i + 1] === '"') {
        field += '"';
        i++;
      } else quoted = false;
    } else if (c === '"' && field === '') {
      quoted = true;
    } else if (c === ',') {
      rec.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      rec.push(field);
      records.push(rec);
      rec = [];
      field = '';
      i++;
    } else if (c === '"' || c === '\r' || c === '\n') {
      throw new Error(`unquoted ${JSON.stringify(c)} at ${i}`);
    } else field += c;
  }
  if (field !== '' || rec.length) throw new Error('last record without CRLF');
  return records;
}

describe('export lines', () => {
  it('quotes CSV fields as RFC 4180 says', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField('cr\r')).toBe('"cr\r"');
    expect(csvField(' lead')).toBe('" lead"');
    expect(csvField('')).toBe('');
  });

  it('writes a header and rows that read back to the same values, u64 exact', () => {
    const rows: EventRow[] = [
      { seq: 0, step: 0, kind: 'map', fields: { domain: 1, virtStart: '0xfffffffffffff000', virtEnd: '0xffffffffffffffff', physStart: '0x0', flags: 3 }, text: 'MAP domain=1 [0xfffffffffffff000-0xffffffffffffffff] -> 0x0 RW', problem: false },
      { seq: 1, step: 1, kind: 'expectation', fields: { held: 0, detail: { expected: 'OK', actual: 'RANGE', message: 'expected status OK, got "RANGE", sadly\r\nreally' } }, text: 'EXPECT FAILED: x, "y"', problem: true },
      { seq: 2, step: 2, kind: 'probe', fields: { endpoint: 24, status: 0, regions: [{ subtype: 1, start: '0xfee00000', end: '0xfeefffff' }] }, text: 'PROBE', problem: false },
    ];
    const text = csvHeader() + rows.map(csvLine).join('');
    const [head, ...recs] = parseCsv(text);
    expect(head).toEqual(['seq', 'step', 'kind', 'problem', ...CSV_FIELDS, 'text']);
    expect(recs).toHaveLength(3);
    const col = (name: string) => head.indexOf(name);
    expect(recs[0][col('virtEnd')]).toBe('0xffffffffffffffff');
    expect(recs[0][col('virtStart')]).toBe('0xfffffffffffff000');
    expect(recs[0][col('domain')]).toBe('1');
    expect(recs[0][col('held')]).toBe('');
    expect(recs[1][col('problem')]).toBe('1');
    expect(JSON.parse(recs[1][col('detail')])).toEqual(rows[1].fields.detail);
    expect(recs[1][col('text')]).toBe('EXPECT FAILED: x, "y"');
    expect(JSON.parse(recs[2][col('regions')])).toEqual(rows[2].fields.regions);
    for (const [i, r] of recs.entries()) {
      expect(r).toHaveLength(head.length);
      expect(r[col('seq')]).toBe(String(i));
    }

    const back = rows.map((r) => JSON.parse(jsonLine(r)));
    expect(back).toEqual(rows);
    expect(jsonLine(rows[0]).endsWith('}\n')).toBe(true);
    expect(jsonLine(rows[0]).indexOf('\n')).toBe(jsonLine(rows[0]).length - 1);
  });
});
