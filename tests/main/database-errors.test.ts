/**
 * The CLI against databases that are damaged, odd, read-only or on a full disk (issue 6 §5.5,
 * §5.6), spawned as users run it: every unusable database gives one line on stderr naming the file
 * and what to do, and exit code 2 (never a stack trace); commands that only read (runs, events,
 * show, export) work on a read-only folder and on a full disk.
 *
 * Tests run as root on the project's machines, and root ignores file modes. So when this process is
 * root and may mount, a read-only file or folder is also a read-only bind mount of itself (the
 * kernel refuses writes with EROFS, whoever asks); root that may not mount runs the CLI as `nobody`
 * (when `nobody` can reach this Node.js and the repository: CI's Node lives under /root, 0700);
 * any other user is refused by the file modes themselves. A real full disk is a small tmpfs,
 * mounted when this process may mount; elsewhere those tests are skipped, and
 * store-failures.test.ts still covers a full disk with SQLite's max_page_count.
 */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LabStore } from '../../main/store/index.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const BIN = path.join(ROOT, 'main', 'cli', 'iommu-lab.js');
const QUICKSTART = path.join(ROOT, 'examples', 'quickstart.yaml');
const IS_ROOT = process.getuid?.() === 0;

/** Mounts a tmpfs of `kib` KiB at a new folder, or returns null when this process may not mount. */
function mountTmpfs(kib: number): string | null {
  if (!IS_ROOT) return null;
  const at = fs.mkdtempSync(path.join(os.tmpdir(), 'iommu-lab-full-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${kib}k`, 'tmpfs', at], { encoding: 'utf8' });
  if (r.status !== 0) {
    fs.rmSync(at, { recursive: true, force: true });
    return null;
  }
  return at;
}
const unmount = (at: string) => {
  spawnSync('umount', [at]);
  fs.rmSync(at, { recursive: true, force: true });
};
const CAN_MOUNT = (() => {
  const at = mountTmpfs(64);
  if (at === null) return false;
  unmount(at);
  return true;
})();

/** True when `nobody` can run this Node.js on the CLI (the fallback for root that may not mount). */
const NOBODY_CAN_RUN =
  IS_ROOT && spawnSync(process.execPath, ['-e', `require('fs').accessSync(${JSON.stringify(BIN)}, 4)`], { uid: 65534, gid: 65534 }).status === 0;
/** Whether the read-only cases can be made here (see the file comment). */
const CAN_MAKE_READ_ONLY = !IS_ROOT || CAN_MOUNT || NOBODY_CAN_RUN;

/**
 * Makes `target` (a file or a folder) read-only: its mode, and when root may mount, a read-only
 * bind mount of it over itself. Returns the undo.
 */
function makeReadOnly(target: string, mode: number): () => void {
  fs.chmodSync(target, mode);
  if (!(IS_ROOT && CAN_MOUNT)) return () => {};
  for (const args of [['--bind', target, target], ['-o', 'remount,bind,ro', target]]) {
    const r = spawnSync('mount', args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`mount ${args.join(' ')}: ${r.stderr}`);
  }
  return () => void spawnSync('umount', [target]);
}

let dir: string;

function cli(args: string[], opts: { asOther?: boolean } = {}): { code: number | null; stdout: string; stderr: string } {
  const spawnOpts: SpawnSyncOptions = { encoding: 'utf8', timeout: 120_000, maxBuffer: 256 * 1024 * 1024, env: { ...process.env, HOME: dir, IOMMU_LAB_DB: path.join(dir, 'unused.db') } };
  if (opts.asOther && IS_ROOT && !CAN_MOUNT) Object.assign(spawnOpts, { uid: 65534, gid: 65534 });
  const r = spawnSync(process.execPath, [BIN, ...args], spawnOpts);
  return { code: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** Asserts the one-line refusal: exit 2, one stderr line naming `file`, no stack trace. */
function expectRefusal(r: ReturnType<typeof cli>, file: string, text: string | RegExp): void {
  expect(r.code, r.stderr).toBe(2);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toContain(`iommu-lab: the lab database ${file} `);
  expect(lines[0]).toMatch(text);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

/** A lab database with one stored run (the quickstart). */
function labDb(name: string): string {
  const file = path.join(dir, name);
  const r = cli(['run', QUICKSTART, '--db', file]);
  expect(r.code, r.stderr).toBe(0);
  new LabStore(file).close(); // checkpoint: everything in the main file, no -wal left
  return file;
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommu-lab-dberr-'));
  fs.chmodSync(dir, 0o755); // `nobody` must reach the files the read-only cases make
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('unusable databases: one line naming the file, exit code 2', () => {
  it('not a database', () => {
    const file = path.join(dir, 'notes.txt');
    fs.writeFileSync(file, 'these are my notes, not a database\n'.repeat(20));
    for (const args of [['runs'], ['run', QUICKSTART], ['events', '1'], ['serve', '--port', '0']]) {
      expectRefusal(cli([...args, '--db', file]), file, /is not an SQLite database \(file is not a database\): move it away/);
    }
    expect(fs.readFileSync(file, 'utf8')).toBe('these are my notes, not a database\n'.repeat(20));
  });

  it('a malformed image', () => {
    const file = labDb('malformed.db');
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, Buffer.alloc(4000, 0x41), 0, 4000, 100); // page 1 (sqlite_schema) after the header
    fs.closeSync(fd);
    for (const args of [['runs'], ['run', QUICKSTART]]) {
      expectRefusal(cli([...args, '--db', file]), file, /is damaged \(.*malformed.*\): restore it from a backup or move it away/);
    }
  });

  it('a malformed schema', () => {
    const file = labDb('schema.db');
    const image = fs.readFileSync(file);
    // Every copy of the text (ALTER TABLE leaves stale ones in free space): the live one is among them.
    let patched = 0;
    for (let at = image.indexOf('CREATE TABLE runs'); at !== -1; at = image.indexOf('CREATE TABLE runs', at + 1)) {
      image.write('CREATE TABLX runs', at);
      patched++;
    }
    expect(patched).toBeGreaterThan(0);
    fs.writeFileSync(file, image);
    for (const args of [['runs'], ['run', QUICKSTART]]) {
      expectRefusal(cli([...args, '--db', file]), file, /is damaged \(malformed database schema \(runs\)/);
    }
  });

  it('--db /dev/null', () => {
    for (const args of [['runs'], ['run', QUICKSTART]]) {
      expectRefusal(cli([...args, '--db', '/dev/null']), '/dev/null', 'is not a regular file: pass --db (or IOMMU_LAB_DB) the path of a file');
    }
  });

  it('a --db path under a file', () => {
    const file = path.join(dir, 'plain-file');
    fs.writeFileSync(file, 'x');
    const under = path.join(file, 'lab.db');
    for (const args of [['runs'], ['run', QUICKSTART]]) {
      expectRefusal(cli([...args, '--db', under]), under, /cannot be created: a part of its folder path is a file, not a folder/);
    }
  });

  it.skipIf(!CAN_MAKE_READ_ONLY)('a read-only file: running refuses, reading works', () => {
    const sub = path.join(dir, 'ro-file');
    fs.mkdirSync(sub, { mode: 0o777 });
    fs.chmodSync(sub, 0o777);
    const file = path.join(sub, 'lab.db');
    fs.copyFileSync(labDb('ro-file.db'), file);
    const undo = makeReadOnly(file, 0o444);
    try {
      expectRefusal(cli(['run', QUICKSTART, '--db', file], { asOther: true }), file, /is read-only \(attempt to write a readonly database\): make it and its folder writable/);
      const runs = cli(['runs', '--db', file], { asOther: true });
      expect(runs.code, runs.stderr).toBe(0);
      expect(runs.stdout).toMatch(/^\s*1\s+done\b/m);
    } finally {
      undo();
    }
  });
});

describe('commands that only read', () => {
  it.skipIf(!CAN_MAKE_READ_ONLY)('work on a read-only folder (no -shm can be created): runs, events, show, export', () => {
    const sub = path.join(dir, 'ro-folder');
    fs.mkdirSync(sub);
    const file = path.join(sub, 'lab.db');
    fs.copyFileSync(labDb('ro-folder.db'), file);
    fs.chmodSync(file, 0o444);
    const undo = makeReadOnly(sub, 0o555);
    try {
      const runs = cli(['runs', '--db', file], { asOther: true });
      expect(runs.code, runs.stderr).toBe(0);
      expect(runs.stdout).toMatch(/^\s*1\s+done\b/m);
      const events = cli(['events', '1', '--limit', '3', '--db', file], { asOther: true });
      expect(events.code, events.stderr).toBe(0);
      expect(events.stdout).toContain('FEATURES offered=');
      const show = cli(['show', '1', '--json', '--db', file], { asOther: true });
      expect(show.code, show.stderr).toBe(0);
      expect(JSON.parse(show.stdout)).toMatchObject({ id: 1, status: 'done' });
      const csv = cli(['export', '1', '--format', 'csv', '--db', file], { asOther: true });
      expect(csv.code, csv.stderr).toBe(0);
      expect(csv.stdout.trimEnd().split('\n')).toHaveLength(1 + (JSON.parse(show.stdout) as { events: number }).events);
      expect(fs.readdirSync(sub)).toEqual(['lab.db']);
      const run = cli(['run', QUICKSTART, '--db', file], { asOther: true });
      expectRefusal(run, file, /is read-only/);
    } finally {
      undo();
    }
  });
});

describe.skipIf(!CAN_MOUNT)('a full disk (a small tmpfs)', () => {
  it('a run that fills the disk ends failed with the reason; runs and show still work', () => {
    const at = mountTmpfs(4096)!;
    try {
      const file = path.join(at, 'lab.db');
      expect(cli(['runs', '--db', file]).stdout).toBe('no runs\n');
      fs.writeFileSync(path.join(at, 'fill'), Buffer.alloc(3200 * 1024)); // ~800 KiB left
      const scenario = path.join(dir, 'fills-the-disk.yaml');
      fs.writeFileSync(
        scenario,
        [
          'name: fills the disk',
          'viommu: {model: virtio-iommu}',
          'devices: [{name: nic0, bdf: "00:03.0"}]',
          'steps:',
          '  - attach: {domain: 1, endpoint: nic0}',
          '  - workload: {domain: 1, endpoint: nic0, count: 200000, iova-base: 0x100000, phys-base: 0x80000000}',
        ].join('\n'),
      );
      const run = cli(['run', scenario, '--json', '--db', file]);
      expect(run.code, run.stderr).toBe(1);
      const report = JSON.parse(run.stdout) as { status: string; error: string; events: number };
      expect(report.status).toBe('failed');
      expect(report.error).toMatch(/^cannot store events: the disk is full \(database or disk is full\); the run keeps the \d+ events stored before it/);
      expect(report.error).toContain(`keeps the ${report.events} events`);
      // The disk is still full: reading works; the same run fails again with the reason.
      const runs = cli(['runs', '--json', '--db', file]);
      expect(runs.code, runs.stderr).toBe(0);
      expect(JSON.parse(runs.stdout)).toMatchObject([{ id: 1, status: 'failed', error: report.error, events: report.events }]);
      expect(cli(['show', '1', '--db', file]).code).toBe(0);
      expect(cli(['events', '1', '--limit', '1', '--db', file]).code).toBe(0);
      expect(cli(['export', '1', '--format', 'jsonl', '--db', file]).stdout.split('\n').filter(Boolean)).toHaveLength(report.events);
      const again = cli(['run', scenario, '--json', '--db', file]);
      if (again.code === 2) expectRefusal(again, file, /the disk is full/);
      else {
        expect(again.code, again.stderr).toBe(1);
        expect(JSON.parse(again.stdout)).toMatchObject({ status: 'failed', error: expect.stringContaining('the disk is full') });
      }
    } finally {
      unmount(at);
    }
  });
});
