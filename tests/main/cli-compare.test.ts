/**
 * `iommu-lab compare` (main/cli/compare.ts) through the real binary on runs of the shipped seeds:
 * the grouped table with deltas, --changed, the first divergence with both chains and the
 * `iommu-lab events` hints, --json, --csv, --cost, and the exit-2 errors (fewer than 2 runs, an
 * unknown run, an unknown --cost key).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deltaText } from '../../main/cli/compare.ts';
import { runCli, type CliResult } from '../support/cli.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = path.join(ROOT, 'main', 'cli', 'iommu-lab.js');
let dir: string;
let db: string;

const cli = (args: string[]): CliResult => runCli(args, db, ROOT);

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommu-lab-cli-compare-'));
  db = path.join(dir, 'lab.db');
  // Runs 1..4: seed-6 strict, lazy; seed-1 aw-bits 39, 64.
  for (const f of ['seed-6-strict', 'seed-6-lazy', 'seed-1-virtio-iommu-aw-bits-39', 'seed-1-virtio-iommu-aw-bits-64']) {
    const r = cli(['run', `examples/${f}.yaml`]);
    if (r.code !== 0) throw new Error(r.stderr);
  }
}, 60_000);
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('iommu-lab compare', () => {
  it('prints the runs, the grouped table with deltas, the cost model and the first divergence with both chains', () => {
    const r = cli(['compare', '1', '2']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^run 1 {2}base {2}scenario {2}done {2}Seed 6a: strict invalidation$/);
    expect(lines[1]).toMatch(/^run 2 {8}scenario {2}done {2}Seed 6b: lazy invalidation \(flush queue\)$/);
    expect(lines[3]).toMatch(/^\s+run 1\s+run 2\s+Δ$/);
    expect(lines[4]).toBe('requests');
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}Request queue syncs \(kicks\)\s+8\s+7 {2}−1 \(−13%\)$/));
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}Stale translations\s+0\s+2 {2}\+2$/));
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}MAP requests: OK\s+2\s+2$/));
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}Modelled cost \(ns\)\s+[\d,]+\s+[\d,]+ {2}−1,000 \(−\d+(\.\d)?%\)$/));
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}Cost: invalidations \(ns\)\s+2,000\s+2,000$/));
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}Peak mapped bytes\s+8,192\s+8,192$/));
    for (const g of ['mappings', 'invalidations', 'faults', 'host', 'guest', 'cost', 'events']) expect(lines).toContain(g);
    expect(r.stdout).toContain('cost model (ns): vmExitNs=1000 requestNs=2000 hostMapNs=1500 hostMapPageNs=200 hostUnmapNs=3000 invalidationNs=1000 faultNs=5000');
    const at = lines.indexOf('first divergence of run 2 against run 1: step 5 (line 31 / line 37)');
    expect(at).toBeGreaterThan(0);
    expect(lines[at + 1]).toBe('  run 1: fault MAPPING flags=address addr=0xfffff000');
    expect(lines[at + 2]).toBe('  run 2: translated → 0x40000000 STALE (unmapped 350 ns ago, not yet invalidated)');
    expect(lines[at + 3]).toMatch(/^ {2}run 1 from seq (\d+): {2}iommu-lab events 1 --offset \1$/);
    // Both chains: the step's events in each run.
    expect(r.stdout).toMatch(/ {4}\s*\d+\s+5 {2}! {2}FAULT MAPPING ep=00:04\.0 addr=0xfffff000/);
    expect(r.stdout).toMatch(/run 2 from seq \d+: {2}iommu-lab events 2 --offset \d+\n.*\n\s+\d+\s+5\s+TRANSLATE ep=00:04\.0 0xfffff000 -> 0x40000000/);
    // The hint is a command that shows that event first.
    const seq = /run 1 from seq (\d+)/.exec(r.stdout)![1];
    const ev = cli(['events', '1', '--offset', seq, '--limit', '1']);
    expect(ev.stdout).toContain('FAULT MAPPING');
  });

  it('--changed keeps only the rows that differ; aw-bits 39 vs 64: the host map that fails', () => {
    const r = cli(['compare', '3', '4', '--changed']);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('MAP requests');
    expect(r.stdout).not.toContain('\nrequests\n');
    expect(r.stdout).toMatch(/ {2}Host uAPI failures\s+1\s+2 {2}\+1 \(\+100%\)/);
    expect(r.stdout).toMatch(/ {2}IOMMU_IOAS_MAP failed: EINVAL\s+0\s+1 {2}\+1/);
    expect(r.stdout).toMatch(/ {2}Host pages mapped \(4 KiB\)\s+1,048,577\s+1 {2}−1,048,576 \(−100%\)/);
    expect(r.stdout).toContain('first divergence of run 4 against run 3: step 1 (line 24 / line 28)');
    expect(r.stdout).toContain('  run 4: OK · DMA address 0xffffffff00000000 · 1048576 pages (tree) · domain 0 · host failed');
  });

  it('--changed with nothing changed says so', () => {
    // Run 1 against itself is refused (listed twice); seed-6-strict again is the same run.
    expect(cli(['run', 'examples/seed-6-strict.yaml']).code).toBe(0);
    const r = cli(['compare', '1', '5', '--changed']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('\nno row differs (without --changed: every row)\n');
    expect(r.stdout).toContain('first divergence of run 5 against run 1: none (every step ends the same way)');
  });

  it('--json prints the comparison; --csv the table; --cost overrides the model', () => {
    const j = JSON.parse(cli(['compare', '1', '2', '--json', '--cost', 'vmExitNs=0,faultNs=7']).stdout);
    expect(j.sides.map((s: { runId: number }) => s.runId)).toEqual([1, 2]);
    expect(j.costModel).toMatchObject({ vmExitNs: 0, faultNs: 7 });
    expect(j.rows.find((x: { id: string }) => x.id === 'cost.fault').values).toEqual([7, 7]);
    expect(j.divergences[0]).toMatchObject({ step: 5, comparable: true });
    const csv = cli(['compare', '1', '2', '3', '--csv']);
    expect(csv.code).toBe(0);
    const rows = csv.stdout.split('\r\n');
    expect(rows[0]).toBe('group,id,label,unit,run 1: Seed 6a: strict invalidation,run 2: Seed 6b: lazy invalidation (flush queue),run 3: Seed 1d: virtio-iommu aw-bits 39 on a 39-bit host,Δ run 2,Δ run 3,differs');
    expect(rows).toContain('guest,guest.stale,Stale translations,count,0,2,0,2,0,yes');
  });

  it('exits 2 for fewer than 2 runs, an unknown run, a bad id, an unknown --cost key', () => {
    const one = cli(['compare', '1']);
    expect(one.code).toBe(2);
    expect(one.stderr).toContain('compare needs at least 2 runs, got 1');
    const missing = cli(['compare', '1', '99']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('compareRuns: invalid params at /runIds/1: no run 99');
    expect(cli(['compare', '1', 'x']).code).toBe(2);
    const key = cli(['compare', '1', '2', '--cost', 'vmexit=3']);
    expect(key.code).toBe(2);
    expect(key.stderr).toContain('--cost: unknown key "vmexit" (keys: vmExitNs, requestNs, hostMapNs, hostMapPageNs, hostUnmapNs, invalidationNs, faultNs)');
    expect(cli(['compare', '1', '2', '--cost', 'faultNs=-1']).code).toBe(2);
    expect(cli(['compare', '1', '2', '--json', '--csv']).code).toBe(2);
    expect(cli(['compare', ...'1 2 3 4 1 2 3 4 1'.split(' ')]).stderr).toContain('compare takes at most 8 runs, got 9');
  });
});

describe('README', () => {
  it("runs the Compare section's commands as written (on a fresh database)", () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Compare'));
    const block = /```sh\n([\s\S]*?)```/.exec(section)![1];
    const fresh = path.join(dir, 'readme.db');
    const commands = block.split('\n').map((l) => l.replace(/#.*$/, '').replace(/>\s*\S+\s*$/, '').trim()).filter(Boolean);
    expect(commands.length).toBeGreaterThanOrEqual(4);
    for (const c of commands) {
      const args = c.replace(/^npx iommu-lab /, '').replaceAll('/tmp/cmp.db', fresh).split(/\s+/);
      const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8' });
      expect(r.status, `${c}: ${r.stderr}`).toBe(0);
      if (args[0] === 'compare') expect(r.stdout).toMatch(/step 5|guest\.stale|Stale translations/);
    }
  });
});

describe('deltaText', () => {
  it('signs with + and −, a percentage of a non-zero base, a ratio past ten times', () => {
    expect(deltaText(0, 5)).toBe('');
    expect(deltaText(null, 5)).toBe('');
    expect(deltaText(2, 0)).toBe('+2');
    expect(deltaText(-1, 8)).toBe('−1 (−13%)');
    expect(deltaText(1, 200)).toBe('+1 (+0.5%)');
    expect(deltaText(1500, 100)).toBe('+1,500 (×16)');
  });
});
