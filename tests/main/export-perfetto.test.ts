/**
 * `iommu-lab export <run> --format perfetto`: a stored run or imported trace as a Chrome / Perfetto
 * JSON trace, to stdout or atomically to -o FILE (format from a .json name too); a missing run is
 * exit 2. And main/service/export.ts's writeExportFile, the desktop's exportRun writer: atomic,
 * nothing left behind when stopped.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LabService } from '../../main/service/lab-service.ts';
import { exportFileName, exportRunInfo, formatOfFileName, writeExportFile } from '../../main/service/export.ts';
import { QEMU_REPLAY_LOG_LINES } from '../support/traces.ts';
import { runCli, type CliResult } from '../support/cli.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = path.join(ROOT, 'main', 'cli', 'iommu-lab.js');

let dir: string;
let db: string;

const cli = (args: string[]): CliResult => runCli(args, db, dir);

interface Doc {
  displayTimeUnit: string;
  traceEvents: { name: string; ph: string; tid: number; ts?: number; dur?: number; cat?: string; args?: Record<string, unknown> }[];
  otherData: { clock: string; events: number; flows: number; tracks: { id: string; name: string; layer: string }[] };
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommu-lab-perfetto-'));
  db = path.join(dir, 'lab.db');
  expect(cli(['run', path.join(ROOT, 'examples', 'seed-6-strict.yaml')]).code).toBe(0);
  fs.writeFileSync(path.join(dir, 'qemu.log'), `${QEMU_REPLAY_LOG_LINES.join('\n')}\n`);
  expect(cli(['import', 'qemu.log']).code).toBe(0);
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('iommu-lab export --format perfetto', () => {
  it('writes the run to stdout as one JSON trace: a track per component in layer order, every event, the flows', () => {
    const r = cli(['export', '1', '--format', 'perfetto']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const doc = JSON.parse(r.stdout) as Doc;
    expect(doc.displayTimeUnit).toBe('ns');
    const events = JSON.parse(cli(['events', '1', '--limit', '5000', '--json']).stdout) as { rows: { seq: number; kind: string; component: string | null; time: number }[] };
    const slices = doc.traceEvents.filter((e) => e.ph === 'X' || e.ph === 'i');
    expect(slices.map((e) => e.args!.seq)).toEqual(events.rows.map((x) => x.seq));
    // The stored components with listComponents' kinds, guest layer first, the run's own track last.
    expect(doc.otherData.tracks.map((t) => t.name)).toEqual(['nic0 (guest)', 'guest0 (linux)', 'viommu0 (virtio-iommu)', 'hiod-nic0 (host-iommu-device)', 'iommufd0 (iommufd)', 'dmar0 (intel-vtd)', 'run']);
    expect(doc.otherData.tracks.map((t) => t.layer)).toEqual(['guest', 'guest', 'viommu', 'host-iommu-device', 'backend', 'iommu', 'run']);
    // A stored MAP's slice ends at its stored virtual time.
    const map = events.rows.find((x) => x.kind === 'map')!;
    const s = slices.find((e) => e.args!.seq === map.seq)!;
    expect(Math.round((s.ts! + s.dur!) * 1000)).toBe(map.time);
    expect(doc.otherData.flows).toBeGreaterThan(0);
    expect(doc.traceEvents.filter((e) => e.ph === 's')).toHaveLength(doc.otherData.flows);
  });

  it('writes an imported trace with its source event names and lines', () => {
    const runs = JSON.parse(cli(['runs', '--json']).stdout) as { id: number; source?: unknown }[];
    const trace = runs.find((x) => x.source)!;
    const r = cli(['export', String(trace.id), '--format', 'perfetto']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as Doc;
    const events = doc.traceEvents.filter((e) => e.ph === 'X' || e.ph === 'i');
    expect(events.map((e) => [e.name, e.args!.line])).toEqual(QEMU_REPLAY_LOG_LINES.map((l, i) => [/:(\w+)/.exec(l)![1], i + 1]));
    expect(doc.traceEvents.find((e) => e.name === 'process_name')!.args!.name).toBe(`qemu.log (trace #${trace.id})`);
    expect(doc.otherData.clock).toBe('trace');
  });

  it('-o FILE.json: the format from the name, written atomically (the same bytes as stdout, no temporary file left)', () => {
    const out = path.join(dir, 'run1.json');
    fs.writeFileSync(out, 'old');
    const r = cli(['export', '1', '-o', out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(fs.readFileSync(out, 'utf8')).toBe(cli(['export', '1', '--format', 'perfetto']).stdout);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('a missing run is exit 2 with a message, and no file', () => {
    const out = path.join(dir, 'none.json');
    const r = cli(['export', '999', '--format', 'perfetto', '-o', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^iommu-lab: no run 999 in /);
    expect(fs.existsSync(out)).toBe(false);
  });

  it('streams in bounded memory: a 200 000-event run (~55 MB of JSON) exports with a 40 MB JavaScript heap', () => {
    fs.writeFileSync(path.join(dir, 'big.yaml'), 'name: big\nviommu: {model: virtio-iommu}\ndevices:\n  - {name: nic0, bdf: "00:03.0"}\nsteps:\n  - attach: {domain: 1, endpoint: nic0}\n  - workload: {domain: 1, endpoint: nic0, count: 40000, size: 4096, iova-base: 0x100000000, phys-base: 0x80000000}\n');
    const run = JSON.parse(cli(['run', 'big.yaml', '--json']).stdout) as { runId: number };
    const out = path.join(dir, 'big.json');
    const r = spawnSync(process.execPath, ['--max-old-space-size=40', BIN, 'export', String(run.runId), '--format', 'perfetto', '-o', out, '--db', db], { cwd: dir, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(fs.statSync(out).size).toBeGreaterThan(50 * 1024 * 1024);
    const tail = fs.readFileSync(out, 'utf8').slice(-400);
    expect(tail).toMatch(/"events":200005,"flows":0,"flowsUnlinked":0,"tracks":\[\{"tid":1,"id":"viommu0"/);
    fs.rmSync(out);
  });

  it('the help names the format', () => {
    const r = spawnSync(process.execPath, [BIN, 'export', '--help'], { encoding: 'utf8' });
    expect(r.stdout).toContain('perfetto');
    expect(r.stdout).toContain('$ iommu-lab export 3 --format perfetto -o run3.json');
  });
});

describe('writeExportFile (the desktop exportRun writer)', () => {
  it('writes atomically, and when stopped leaves the target as it was and no temporary file', async () => {
    const service = new LabService({ dbPath: db, examplesDir: path.join(ROOT, 'examples'), warmRunWorker: false, readOnly: true });
    try {
      const info = (await exportRunInfo(service, 1))!;
      expect(await exportRunInfo(service, 999)).toBeNull();
      expect(exportFileName(info.run, 'perfetto')).toBe('run-1-seed-6a-strict-invalidation.json');
      expect(exportFileName({ id: 2, name: '../../"x"' }, 'csv')).toBe('run-2-x.csv');
      expect([formatOfFileName('a.JSON'), formatOfFileName('a.csv'), formatOfFileName('a.jsonl'), formatOfFileName('a.txt')]).toEqual(['perfetto', 'csv', 'jsonl', null]);
      const target = path.join(dir, 'desk.json');
      fs.writeFileSync(target, 'old');
      expect(await writeExportFile(db, info, 'perfetto', target, { stopped: () => true })).toBeNull();
      expect(fs.readFileSync(target, 'utf8')).toBe('old');
      const done = await writeExportFile(db, info, 'perfetto', target);
      expect(done).toEqual({ path: target, bytes: fs.statSync(target).size });
      expect(fs.readFileSync(target, 'utf8')).toBe(cli(['export', '1', '--format', 'perfetto']).stdout);
      await expect(writeExportFile(db, info, 'csv', path.join(dir, 'nosuch', 'x.csv'))).rejects.toMatchObject({ code: 'ENOENT' });
      expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    } finally {
      await service.close();
    }
  });
});
