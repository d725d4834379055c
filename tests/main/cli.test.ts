/**
 * The `iommu-lab` command line, spawned as users run it (`node main/cli/iommu-lab.js …`) against a
 * temporary database: exit codes 0/1/2, --json shapes, diagnostics format, runs and events output.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = path.join(ROOT, 'main', 'cli', 'iommu-lab.js');

let dir: string;
let db: string;

function cli(args: string[], opts: { cwd?: string } = {}): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? dir, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, env: { ...process.env, IOMMU_LAB_DB: path.join(dir, 'env-default.db') } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const PASSING = `name: cli passing
viommu:
  model: virtio-iommu
devices:
  - name: nic0
    bdf: "00:03.0"
steps:
  - attach: {domain: 1, endpoint: nic0}
    expect: OK
  - map: {domain: 1, virt-start: 0x10000, virt-end: 0x1ffff, phys-start: 0xc0000, flags: [read, write]}
    expect: OK
  - dma: {endpoint: nic0, addr: 0x10010, access: read}
    expect: {translated: 0xc0010}
  - dma: {endpoint: nic0, addr: 0x90000, access: write}
    expect: {fault: {reason: MAPPING}}
  - workload: {domain: 1, endpoint: nic0, count: 1000, size: 4096, iova-base: 0x100000000, phys-base: 0x80000000}
`;

const FAILING = `name: cli failing
viommu:
  model: virtio-iommu
devices:
  - name: nic0
    bdf: "00:03.0"
steps:
  - attach: {domain: 1, endpoint: nic0}
    expect: OK
  - map: {domain: 1, virt-start: 0x10000, virt-end: 0x1ffff, phys-start: 0xc0000, flags: [read]}
    expect: RANGE
`;

const BROKEN = `name: cli broken
viommu:
  model: virtio-iommu
steps:
  - map: {domain: 1, virt-start: 0x1000, phys-start: 0x2000, flags: [read]}
  - dma: {endpoint: nosuch, addr: 0x1000, access: sideways}
`;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommu-lab-cli-'));
  db = path.join(dir, 'lab.db');
  fs.writeFileSync(path.join(dir, 'passing.yaml'), PASSING);
  fs.writeFileSync(path.join(dir, 'failing.yaml'), FAILING);
  fs.writeFileSync(path.join(dir, 'broken.yaml'), BROKEN);
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('iommu-lab run', () => {
  it('exits 0 when every expectation holds, with a step table and metrics', () => {
    const r = cli(['run', 'passing.yaml', '--db', db]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^run 1: cli passing \(passing\.yaml\)/);
    expect(r.stdout.match(/✔/g)).toHaveLength(4);
    expect(r.stdout).not.toContain('✘');
    expect(r.stdout).toMatch(/translations\s+1001/);
    expect(r.stdout).toMatch(/expectations\s+4 held, 0 failed/);
    expect(r.stdout).toContain('done: all expectations hold');
  });

  it('exits 1 when an expectation fails, marking it ✘', () => {
    const r = cli(['run', 'failing.yaml', '--db', db]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/✘\s+1\s+10\s+map\s+OK/);
    expect(r.stdout).toContain('FAILED: 1 expectation(s) failed');
  });

  it('prints one JSON document with --json', () => {
    const r = cli(['run', 'passing.yaml', '--db', db, '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ runId: 3, status: 'done', error: null, failedExpectations: 0 });
    expect(doc.metrics).toMatchObject({ translations: 1001, expectations: { held: 4, failed: 0 } });
    expect(doc.steps.map((s: { index: number; op: string; expectation?: boolean }) => [s.index, s.op, s.expectation])).toEqual([
      [0, 'attach', true],
      [1, 'map', true],
      [2, 'dma', true],
      [3, 'dma', true],
      [4, 'workload', undefined],
    ]);
    expect(doc.steps[0]).toMatchObject({ status: 'OK', line: 8 });
  });

  it('exits 2 with file:line:column diagnostics for a broken scenario, storing nothing', () => {
    const before = JSON.parse(cli(['runs', '--db', db, '--json']).stdout).length;
    const r = cli(['run', 'broken.yaml', '--db', db]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const l of lines) expect(l).toMatch(/^broken\.yaml:\d+:\d+: /);
    expect(lines.some((l) => l.startsWith('broken.yaml:5:'))).toBe(true);
    expect(lines.some((l) => l.startsWith('broken.yaml:6:'))).toBe(true);
    expect(JSON.parse(cli(['runs', '--db', db, '--json']).stdout)).toHaveLength(before);
  });

  it('exits 2 for a missing file and for bad flags', () => {
    const missing = cli(['run', 'nope.yaml', '--db', db]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('cannot read scenario "nope.yaml": no such file');
    const flag = cli(['run', 'passing.yaml', '--db', db, '--bogus']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain("unknown option '--bogus'");
    expect(cli(['frobnicate']).code).toBe(2);
    expect(cli(['events', 'x', '--db', db]).code).toBe(2);
    expect(cli(['events', '1', '--db', db, '--kind', 'mapp']).stderr).toContain('unknown event kind "mapp"');
    expect(cli(['events', '1', '--db', db, '--limit', '0']).code).toBe(2);
    expect(cli(['events', '999', '--db', db]).code).toBe(2);
    expect(cli(['--help']).code).toBe(0);
  });

  it('uses $IOMMU_LAB_DB when --db is not given', () => {
    const r = cli(['run', 'failing.yaml']);
    expect(r.code).toBe(1);
    expect(fs.existsSync(path.join(dir, 'env-default.db'))).toBe(true);
  });

  it('cancels on SIGINT and exits 130', async () => {
    fs.writeFileSync(path.join(dir, 'long.yaml'), PASSING.replace('count: 1000', 'count: 5000000'));
    const child = spawn(process.execPath, [BIN, 'run', 'long.yaml', '--db', db, '--json'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((r) => child.on('exit', r));
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    // Wait until the run has committed events (the CLI's SIGINT handler is installed by then).
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      const runs = JSON.parse(cli(['runs', '--db', db, '--json']).stdout) as { file: string; events: number }[];
      if (runs.some((r) => r.file === 'long.yaml' && r.events > 0)) break;
    }
    child.kill('SIGINT');
    const code = await exited;
    expect(err).toBe('');
    expect(code).toBe(130);
    expect(JSON.parse(out)).toMatchObject({ status: 'cancelled' });
  });
});

describe('iommu-lab runs and events', () => {
  it('lists runs newest first', () => {
    const r = cli(['runs', '--db', db]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^\s*id\s+status\s+started\s+events\s+failed\s+name\s+file$/);
    expect(lines[1]).toMatch(/^\s*\d+\s+cancelled\s/);
    expect(r.stdout).toMatch(/\n\s*2\s+done\s+\S+\s+\S+\s+\d+\s+1 ✘\s+cli failing\s+failing\.yaml/);
    const runs = JSON.parse(cli(['runs', '--db', db, '--json']).stdout);
    expect(runs[runs.length - 1]).toMatchObject({ id: 1, name: 'cli passing', status: 'done', failedExpectations: 0 });
  });

  it('prints events with filters and paging', () => {
    const faults = cli(['events', '1', '--db', db, '--kind', 'fault']);
    expect(faults.code).toBe(0);
    const lines = faults.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^\s*seq\s+step\s+event$/);
    expect(lines[1]).toMatch(/^\s*\d+\s+3\s+!\s+FAULT MAPPING ep=00:03\.0 addr=0x90000/);
    expect(faults.stderr).toContain('run 1: 1 matching events');

    // A header row, and columns aligned where seq grows a digit (9 → 10, 99 → 100, 999 → 1000).
    for (const offset of ['5', '95', '995']) {
      const lines = cli(['events', '1', '--db', db, '--offset', offset, '--limit', '10']).stdout.trimEnd().split('\n');
      expect(lines).toHaveLength(11);
      expect(lines[0]).toMatch(/^ *seq {2}step {5}event$/);
      const seqEnd = lines[0].indexOf('seq') + 3;
      const textAt = lines[0].indexOf('event');
      for (const l of lines.slice(1)) {
        expect(l.slice(0, seqEnd)).toMatch(/^ *\d+$/);
        expect(l.slice(seqEnd, textAt)).toMatch(/^ +\d+ +[! ] +$/);
        expect(l[textAt]).toMatch(/[A-Z]/);
      }
    }

    const page = JSON.parse(cli(['events', '1', '--db', db, '--offset', '10', '--limit', '7', '--json']).stdout);
    expect(page.rows.map((r: { seq: number }) => r.seq)).toEqual([10, 11, 12, 13, 14, 15, 16]);
    expect(page.total).toBeGreaterThan(5000);

    const many = JSON.parse(cli(['events', '1', '--db', db, '--limit', '6000', '--json']).stdout);
    expect(many.rows).toHaveLength(Math.min(6000, many.total));

    const ep = JSON.parse(cli(['events', '1', '--db', db, '--endpoint', '00:03.0', '--kind', 'translate,fault', '--json']).stdout);
    expect(ep.total).toBe(1002);
    expect(ep.rows.every((r: { kind: string; fields: { endpoint: number } }) => r.fields.endpoint === 0x18)).toBe(true);

    const problems = JSON.parse(cli(['events', '2', '--db', db, '--problems', '--json']).stdout);
    expect(problems.rows.map((r: { kind: string; problem: boolean }) => [r.kind, r.problem])).toEqual([['expectation', true]]);

    const dom = JSON.parse(cli(['events', '1', '--db', db, '--domain', '1', '--kind', 'map', '--limit', '1', '--json']).stdout);
    expect(dom.rows[0].fields).toMatchObject({ domain: 1, virtStart: '0x10000', virtEnd: '0x1ffff', physStart: '0xc0000' });
  });
});

describe('iommu-lab serve', () => {
  it('prints the URL with its token, serves it, and stops cleanly on SIGINT', async () => {
    const child = spawn(process.execPath, [BIN, 'serve', '--db', db, '--port', '0'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((r) => child.on('exit', r));
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const deadline = Date.now() + 20_000;
    while (!/open http/.test(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const url = /open (http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]{48})/.exec(out)?.[1];
    expect(url).toBeDefined();
    const res = await fetch(url!);
    expect(res.status).toBeLessThan(500);
    child.kill('SIGINT');
    expect(await exited).toBe(0);
  });

  it('refuses to listen beyond 127.0.0.1', () => {
    const r = cli(['serve', '--db', db, '--host', '0.0.0.0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('127.0.0.1 only');
  });
});

describe('main/cli/iommu-lab.js (the bin)', () => {
  it('is an executable node script', () => {
    expect(fs.readFileSync(BIN, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    expect(fs.statSync(BIN).mode & 0o111).not.toBe(0);
  });
});
