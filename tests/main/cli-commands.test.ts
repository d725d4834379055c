/**
 * `iommu-lab show`, `rm`, `export`, `--version`, `--help`, run ids, terminal escaping and SIGTERM,
 * spawned as users run them (`node main/cli/iommu-lab.js …`) against a temporary database.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../main/cli/index.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = path.join(ROOT, 'main', 'cli', 'iommu-lab.js');

let dir: string;
let db: string;

function cli(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, env: { ...process.env, IOMMU_LAB_DB: db } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Raw control characters that must never reach the terminal (LF aside). */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

const EDGES = `name: u64 edges, "quoted", and commas
viommu: {model: virtio-iommu, conformance: spec, granule: 4k, aw-bits: 64}
devices:
  - {name: nic0, bdf: "00:03.0"}
steps:
  - attach: {domain: 1, endpoint: nic0}
    expect: OK
  - map: {domain: 1, virt-start: 0xfffffffffffff000, virt-end: 0xffffffffffffffff, phys-start: 0xfffffffffffff000, flags: [read, write]}
  - dma: {endpoint: nic0, addr: 0xffffffffffffffff, access: read}
    expect: {translated: 0xffffffffffffffff}
  - map: {domain: 1, virt-start: 0x1000, virt-end: 0x1fff, phys-start: 0x2000, flags: [read]}
    expect: RANGE
  - probe: {endpoint: nic0}
  - set-bypass: 7
`;

const LONG = `name: long
viommu: {model: virtio-iommu}
devices:
  - {name: nic0, bdf: "00:03.0"}
steps:
  - attach: {domain: 1, endpoint: nic0}
  - workload: {domain: 1, endpoint: nic0, count: 5000000, size: 4096, iova-base: 0x100000000, phys-base: 0x80000000}
`;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommu-lab-cli2-'));
  db = path.join(dir, 'lab.db');
  fs.writeFileSync(path.join(dir, 'edges.yaml'), EDGES);
  fs.writeFileSync(path.join(dir, 'long.yaml'), LONG);
  const r = cli(['run', 'edges.yaml']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(1); // step 3 maps a free range: OK, not the RANGE it expects
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Waits (event-driven: polls the database, no fixed delay) until `long.yaml`'s newest run has committed events. */
async function waitForEvents(): Promise<number> {
  for (;;) {
    await new Promise((r) => setTimeout(r, 50));
    const runs = JSON.parse(cli(['runs', '--json']).stdout) as { id: number; file: string; events: number; status: string }[];
    const run = runs.find((r) => r.file === 'long.yaml' && r.status === 'running');
    if (run && run.events > 0) return run.id;
  }
}

describe('iommu-lab show', () => {
  it('prints the stored run as `run` printed it: configuration, step table, metrics', () => {
    const first = cli(['run', 'edges.yaml']);
    const runId = Number(/^run (\d+):/.exec(first.stdout)![1]);
    const shown = cli(['show', String(runId)]);
    expect(shown.code).toBe(0);
    expect(shown.stderr).toBe('');
    expect(shown.stdout).toBe(first.stdout);
    expect(shown.stdout).toContain('config        machine q35 · virtio-iommu · conformance spec · granule 4k · aw-bits 64');
    expect(shown.stdout).toContain('devices       nic0 00:03.0');
    expect(shown.stdout).toMatch(/✔\s+2\s+9\s+dma\s+translated → 0xffffffffffffffff/);
    // The device's refusal shows without `expect` (spec mode ignores 7 without breaking).
    expect(shown.stdout).toMatch(/\n\s+5\s+14\s+set-bypass\s+bypass ← 7 refused\n/);
    expect(shown.stdout).toMatch(/expectations\s+\d+ held, 1 failed/);

    const doc = JSON.parse(cli(['show', String(runId), '--json']).stdout);
    expect(doc).toMatchObject({ id: runId, name: 'u64 edges, "quoted", and commas', file: 'edges.yaml', status: 'done', failedExpectations: 1 });
    expect(doc.config).toEqual({ machine: 'q35', model: 'virtio-iommu', conformance: 'spec', granule: '4k', awBits: 64, devices: [{ name: 'nic0', bdf: '00:03.0', endpoint: 24 }] });
    expect(doc.scenarioText).toBe(EDGES);
    expect(doc.stepResults[2]).toMatchObject({ op: 'dma', outcome: { translated: '0xffffffffffffffff' }, expectation: true });
    expect(doc.stepResults[5]).toMatchObject({ op: 'set-bypass', outcome: { bypass: 7, accepted: false } });
    expect(doc.metrics.events).toBe(doc.events);
  });

  it('derives the configuration of a run stored without one (before schema version 4) from its scenario', () => {
    const raw = new Database(db);
    raw.prepare('UPDATE runs SET config = NULL WHERE id = 1').run();
    raw.close();
    expect(cli(['show', '1']).stdout).toContain('config        machine q35 · virtio-iommu · conformance spec · granule 4k · aw-bits 64');
  });
});

/** The CLI in this process (main() with captured output): for checks that need no separate process. */
async function cliHere(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const capture = () => {
    const s = new Writable({ write: (chunk, _enc, done) => ((s.text += String(chunk)), done()) }) as Writable & { text: string };
    s.text = '';
    return s;
  };
  const stdout = capture();
  const stderr = capture();
  const code = await main(['node', 'iommu-lab', ...args, '--db', db], { stdout, stderr });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

describe('run ids', () => {
  const COMMANDS: string[][] = [['show'], ['events'], ['export', '--format', 'csv'], ['rm']];
  it.each(COMMANDS)('%s: an id that is not a positive integer, or a missing run, is exit 2 with a message', async (...cmd) => {
    for (const bad of ['x', '0', '1.5', '1e3', '0x1', '', ' 1', '99999999999999999999']) {
      const r = await cliHere([cmd[0], bad, ...cmd.slice(1)]);
      expect([bad, r.code]).toEqual([bad, 2]);
      expect(r.stderr).toContain(`command-argument value '${bad}' is invalid for argument 'run'. a run id is a positive integer (see \`iommu-lab runs\`)`);
      expect(r.stdout).toBe('');
    }
    const missing = await cliHere([cmd[0], '999', ...cmd.slice(1)]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^iommu-lab: no run 999/);
  });

  it('the same, spawned as users run it', () => {
    const r = cli(['show', 'abc']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("command-argument value 'abc' is invalid for argument 'run'. a run id is a positive integer");
  });
});

describe('iommu-lab export', () => {
  it('jsonl: one object per event, u64 exact in hex', () => {
    const r = cli(['export', '1', '--format', 'jsonl']);
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines.pop()).toBe('');
    const rows = lines.map((l) => JSON.parse(l));
    const stored = JSON.parse(cli(['events', '1', '--limit', '5000', '--json']).stdout);
    // `events --json` rows also carry the envelope (component, virtual time); the jsonl export keeps its fields.
    expect(rows).toEqual(stored.rows.map(({ component: _c, time: _t, ...row }: Record<string, unknown>) => row));
    expect(stored.rows[1]).toMatchObject({ component: 'viommu0', time: expect.any(Number) });
    expect(rows.map((x) => x.seq)).toEqual(rows.map((_, i) => i));
    expect(Object.keys(rows[0])).toEqual(['seq', 'step', 'kind', 'fields', 'text', 'problem']);
    const map = rows.find((x) => x.kind === 'map');
    expect(map.fields).toMatchObject({ virtStart: '0xfffffffffffff000', virtEnd: '0xffffffffffffffff', physStart: '0xfffffffffffff000' });
    expect(rows.find((x) => x.kind === 'translate').fields).toMatchObject({ iova: '0xffffffffffffffff', phys: '0xffffffffffffffff', size: '0x1' });
  });

  it('csv: a header, RFC 4180 quoting, the same events as jsonl; -o writes the file atomically', () => {
    const out = path.join(dir, 'run1.csv');
    const r = cli(['export', '1', '-o', out]); // format from the extension
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    const text = fs.readFileSync(out, 'utf8');
    expect(cli(['export', '1', '--format', 'csv']).stdout).toBe(text);
    const records = text.split('\r\n');
    expect(records.pop()).toBe('');
    expect(records[0].startsWith('seq,step,kind,problem,')).toBe(true);
    expect(records[0].endsWith(',text')).toBe(true);
    const head = records[0].split(',');
    const jsonl = cli(['export', '1', '--format', 'jsonl']).stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(records).toHaveLength(jsonl.length + 1);
    // The map row: no quoting needed; u64 columns in hex.
    const mapAt = jsonl.findIndex((x) => x.kind === 'map');
    const cells = records[mapAt + 1].split(',');
    expect(cells[head.indexOf('virtEnd')]).toBe('0xffffffffffffffff');
    expect(cells[head.indexOf('physStart')]).toBe('0xfffffffffffff000');
    // The failed expectation's detail is JSON with quotes and commas: one quoted field, quotes doubled.
    const exp = jsonl.find((x) => x.kind === 'expectation' && x.problem);
    const quoted = `"${JSON.stringify(exp.fields.detail).replace(/"/g, '""')}"`;
    expect(text).toContain(`,${quoted},`);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('a failure leaves no file: a missing directory, a bad format', () => {
    const r = cli(['export', '1', '--format', 'csv', '-o', path.join(dir, 'nosuch', 'x.csv')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no such directory');
    expect(fs.existsSync(path.join(dir, 'nosuch'))).toBe(false);
    const f = cli(['export', '1', '--format', 'xml']);
    expect(f.code).toBe(2);
    expect(f.stderr).toContain("argument 'xml' is invalid");
    expect(cli(['export', '1', '-o', 'run.txt']).stderr).toContain('say which format: --format csv|jsonl');
    expect(fs.existsSync(path.join(dir, 'run.txt'))).toBe(false);
  });
});

describe('iommu-lab export -o: a failure midway', () => {
  it('leaves the target as it was and no temporary file (ENOSPC after the first chunk)', async () => {
    const target = path.join(dir, 'keep.csv');
    fs.writeFileSync(target, 'old contents\n');
    const real = fs.createWriteStream;
    let chunks = 0;
    const spy = vi.spyOn(fs, 'createWriteStream').mockImplementation(((p: fs.PathLike, o?: never) => {
      const stream = real(p, o);
      const write = stream.write.bind(stream) as (chunk: unknown) => boolean;
      stream.write = ((chunk: unknown) => {
        const ok = write(chunk);
        if (++chunks === 1) stream.emit('error', Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }));
        return ok;
      }) as typeof stream.write;
      return stream;
    }) as typeof fs.createWriteStream);
    try {
      // A run of ~50 000 events: several 64 KiB chunks.
      fs.writeFileSync(path.join(dir, 'mid.yaml'), LONG.replace('count: 5000000', 'count: 10000').replace('name: long', 'name: mid'));
      const runId = JSON.parse(cli(['run', 'mid.yaml', '--json']).stdout).runId as number;
      const r = await cliHere(['export', String(runId), '--format', 'csv', '-o', target]);
      expect(chunks).toBe(1);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`iommu-lab: cannot export to "${target}": no space left on the device\n`);
      expect(fs.readFileSync(target, 'utf8')).toBe('old contents\n');
      expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    } finally {
      spy.mockRestore();
    }
  });
});

describe('--version and --help', () => {
  it('--version prints package.json version', () => {
    const version = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version;
    for (const flag of ['--version', '-V']) {
      const r = cli([flag]);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`${version}\n`);
    }
  });

  it('--help lists every command and shows examples', () => {
    const r = cli(['--help']);
    expect(r.code).toBe(0);
    for (const c of ['run', 'runs', 'show', 'events', 'export', 'rm', 'serve']) expect(r.stdout).toMatch(new RegExp(`\\n  ${c} `));
    expect(r.stdout).toContain('Examples:\n  $ iommu-lab run examples/quickstart.yaml');
    expect(r.stdout).toContain('$ iommu-lab export 3 --format csv -o run3.csv');
    const sub = cli(['rm', '--help']);
    expect(sub.code).toBe(0);
    expect(sub.stdout).toContain('Examples:\n  $ iommu-lab rm 3\n  $ iommu-lab rm 1 2 5 --vacuum');
  });
});

describe('terminal escaping', () => {
  it('control characters in names, files and diagnostics are printed escaped', () => {
    const name = 'evil\x1b]0;pwned\x07\x1b[2J\x9b31m\u202e';
    // YAML escapes: \e ESC, \a BEL, \x9b CSI (C1), \u202e RIGHT-TO-LEFT OVERRIDE.
    fs.writeFileSync(path.join(dir, 'evil.yaml'), EDGES.replace(/^name: .*$/m, () => 'name: "evil\\e]0;pwned\\a\\e[2J\\x9b31m\\u202e"'));
    const run = cli(['run', 'evil.yaml']);
    expect(run.stdout).toContain('evil\\x1b]0;pwned\\x07\\x1b[2J\\x9b31m\\u{202e}');
    const runId = /^run (\d+):/.exec(run.stdout)![1];
    const listed = cli(['runs']);
    const shown = cli(['show', runId]);
    const json = cli(['runs', '--json']);
    expect(JSON.parse(json.stdout).find((r: { id: number }) => r.id === Number(runId)).name).toBe(name);
    const badFile = cli(['run', 'no\x1b[31mfile.yaml']);
    expect(badFile.stderr).toContain('cannot read scenario "no\\x1b[31mfile.yaml"');
    fs.writeFileSync(path.join(dir, 'diag.yaml'), 'name: d\nviommu: {model: virtio-iommu}\nsteps:\n  - attach: {domain: 1, endpoint: "\\e[2Jx"}\n');
    const diag = cli(['run', 'diag.yaml']);
    expect(diag.code).toBe(2);
    expect(diag.stderr).toContain('\\x1b[2Jx');
    const badId = cli(['show', '\x1b[2J']);
    expect(badId.stderr).toContain("'\\x1b[2J'");
    for (const out of [run.stdout, listed.stdout, shown.stdout, json.stdout, badFile.stderr, diag.stderr, badId.stderr, cli(['events', runId]).stdout]) {
      expect(out).not.toMatch(CONTROL);
    }
  });
});

describe('iommu-lab rm', () => {
  it('deletes runs and their events, says how much space was freed, and VACUUMs on request', () => {
    const ids = [cli(['run', 'edges.yaml', '--json']), cli(['run', 'edges.yaml', '--json'])].map((r) => JSON.parse(r.stdout).runId as number);
    const events = JSON.parse(cli(['show', String(ids[0]), '--json']).stdout).events as number;
    const r = cli(['rm', String(ids[0])]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^removed run ${ids[0]} \\(${events} events\\)\\nfreed \\d+(\\.\\d)? (bytes|KiB|MiB) \\(\\d+ pages\\) inside the database; its file stays `));
    expect(cli(['show', String(ids[0])]).code).toBe(2);
    const raw = new Database(db, { readonly: true });
    expect(raw.prepare('SELECT count(*) FROM events WHERE run_id = ?').pluck().get(ids[0])).toBe(0);
    raw.close();

    const v = JSON.parse(cli(['rm', String(ids[1]), '--vacuum', '--json']).stdout);
    expect(v).toMatchObject({ runIds: [ids[1]], vacuumed: true, pageSize: 16384 });
    expect(v.after.pages).toBeLessThanOrEqual(v.before.pages);
    expect(v.after.freePages).toBe(0);
    expect(fs.statSync(db).size).toBe(v.after.bytes);
  });

  it('is all or nothing: an unknown id deletes nothing', () => {
    const id = JSON.parse(cli(['run', 'edges.yaml', '--json']).stdout).runId as number;
    const r = cli(['rm', String(id), '998']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('iommu-lab: no run 998 (nothing deleted)\n');
    expect(cli(['show', String(id)]).code).toBe(0);
  });

  it('refuses a running run; SIGTERM cancels the run like SIGINT (stored cancelled, report printed, exit 143); then rm works', async () => {
    const child = spawn(process.execPath, [BIN, 'run', 'long.yaml', '--json'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, IOMMU_LAB_DB: db } });
    const exited = new Promise<number | null>((r) => child.on('exit', r));
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const runId = await waitForEvents();

    const refused = cli(['rm', String(runId)]);
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stderr).toContain(`run ${runId} is still running: cancel it`);

    child.kill('SIGTERM');
    expect(await exited).toBe(143);
    expect(err).toBe('');
    expect(JSON.parse(out)).toMatchObject({ runId, status: 'cancelled' });
    const stored = JSON.parse(cli(['show', String(runId), '--json']).stdout);
    expect(stored.status).toBe('cancelled');
    expect(stored.events).toBeGreaterThan(0);
    expect(cli(['rm', String(runId)]).code).toBe(0);
  });
});
