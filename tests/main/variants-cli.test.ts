/**
 * `iommu-lab run` of a scenario with `variants:` through the real binary: every variant's report in
 * order, then the rows that differ and the `iommu-lab compare` command; exit 1 when one variant's
 * expectation fails; --variant NAME runs that one only (an unknown name: exit 2, nothing stored);
 * --json prints `{runs: [{variant, …}], comparison}`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../support/cli.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
let dir: string;
let db: string;

const cli = (args: string[]): CliResult => runCli(args, db, ROOT);

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommu-lab-cli-variants-'));
  db = path.join(dir, 'lab.db');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('iommu-lab run with variants', () => {
  it('prints each variant\'s report in order, then the rows that differ and the compare command; exit 0', () => {
    const r = cli(['run', 'examples/variants-strict-lazy.yaml']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    const heads = lines.filter((l) => /^run \d+: /.test(l));
    expect(heads).toEqual([
      'run 1: Variants: strict vs lazy invalidation [strict] (examples/variants-strict-lazy.yaml)',
      'run 2: Variants: strict vs lazy invalidation [lazy] (examples/variants-strict-lazy.yaml)',
    ]);
    expect(lines.filter((l) => l.startsWith('guest '))).toEqual(['guest         iommu.strict=1 (strict) · 1 CPU', 'guest         iommu.strict=0 (lazy) · 1 CPU']);
    expect(lines.filter((l) => l.startsWith('done: '))).toEqual(['done: all expectations hold (71 events)', 'done: all expectations hold (73 events)']);
    // The late DMA: a fault in strict, a stale translation in lazy (expect-in).
    expect(r.stdout).toMatch(/✔ {2}5 {4}37 {2}dma {16}fault MAPPING flags=address addr=0xfffff000/);
    expect(r.stdout).toMatch(/✔ {2}5 {4}36 {2}dma {16}translated → 0x40000000 STALE/);
    const at = lines.indexOf('variants compared: run 1 = strict, run 2 = lazy — the rows that differ');
    expect(at).toBeGreaterThan(0);
    const table = lines.slice(at + 2);
    expect(table[0]).toMatch(/^\s+run 1\s+run 2\s+Δ$/);
    expect(table).toContainEqual(expect.stringMatching(/^ {2}Stale translations\s+0\s+2 {2}\+2$/));
    expect(table).toContainEqual(expect.stringMatching(/^ {2}Faults: MAPPING\s+2\s+1 {2}−1 \(−50%\)$/));
    // Only rows that differ.
    expect(table.join('\n')).not.toMatch(/MAP requests: OK/);
    expect(lines).toContain('every row and the first divergences: iommu-lab compare 1 2');
    // Each run stored its own variant's text.
    const show = cli(['runs', '--json']);
    const runs = JSON.parse(show.stdout) as { id: number; variant: { variant: string; index: number; count: number } }[];
    expect(runs.map((x) => [x.id, x.variant.variant, x.variant.index, x.variant.count]).sort()).toEqual([
      [1, 'strict', 0, 2],
      [2, 'lazy', 1, 2],
    ]);
  }, 60_000);

  it('exit 1 when one variant\'s expectation fails, though the others hold', () => {
    const text = fs.readFileSync(path.join(ROOT, 'examples', 'variants-aw-bits.yaml'), 'utf8').replace('aw-39: {translated: 0x7f0040001000}', 'aw-39: {translated: 0x7f0040002000}');
    const file = path.join(dir, 'aw.yaml');
    fs.writeFileSync(file, text);
    const r = cli(['run', file]);
    expect(r.code).toBe(1);
    const done = r.stdout.split('\n').filter((l) => /^(done|FAILED|failed|cancelled)/i.test(l));
    expect(done).toHaveLength(2);
    expect(done[0]).toMatch(/^done: all expectations hold/);
    expect(done[1]).toBe('FAILED: 1 expectation(s) failed (44 events)');
  }, 60_000);

  it('--variant NAME runs that variant only; an unknown name is exit 2 and stores nothing', () => {
    const r = cli(['run', 'examples/variants-strict-lazy.yaml', '--variant', 'lazy', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as { runs: { variant: string; runId: number; status: string; failedExpectations: number }[]; comparison: unknown };
    expect(doc.runs.map((x) => [x.variant, x.runId, x.status, x.failedExpectations])).toEqual([['lazy', 1, 'done', 0]]);
    expect(doc.comparison).toBeNull();
    const bad = cli(['run', 'examples/variants-strict-lazy.yaml', '--variant', 'lazzy']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('examples/variants-strict-lazy.yaml:1:1: no variant named "lazzy"; the variants are strict, lazy\n');
    expect(JSON.parse(cli(['runs', '--json']).stdout)).toHaveLength(1);
    const plain = cli(['run', 'examples/seed-6-strict.yaml', '--variant', 'lazy']);
    expect(plain.code).toBe(2);
    expect(plain.stderr).toBe('examples/seed-6-strict.yaml:1:1: the scenario has no variants: there is no variant "lazy" to run\n');
  }, 60_000);

  it('--json: every variant\'s document and the comparison', () => {
    const r = cli(['run', 'examples/variants-aw-bits.yaml', '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as { runs: { variant: string; config: { awBits: number } }[]; comparison: { sides: { runId: number }[] } };
    expect(doc.runs.map((x) => [x.variant, x.config.awBits])).toEqual([
      ['aw-64', 64],
      ['aw-39', 39],
    ]);
    expect(doc.comparison.sides.map((s) => s.runId)).toEqual([1, 2]);
  }, 60_000);
});
