// `iommu-lab serve`'s export download (main/serve/server.ts handleExport): GET /export/<run>.<ext>
// streams a run as a Perfetto trace, CSV or JSON lines with the right type and an attachment
// name, guarded like the WebSocket (token 401, Host 421, another site's Origin or fetch 403), 404 for
// a missing run, 400 for a path or format it does not know; a download cancelled midway leaves the
// server serving.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../main/serve/server.ts';
import { LabService } from '../../main/service/lab-service.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'main', 'cli', 'iommu-lab.js');

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function get(base: string, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Raw> {
  const u = new URL(base);
  return new Promise((ok, fail) => {
    const req = request({ host: u.hostname, port: u.port, path, method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => ok({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', fail);
    req.end();
  });
}

describe('serve: GET /export/<run>.<ext>', () => {
  let dir: string;
  let server: RunningServer;
  let origin: string;
  let token: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'iommu-lab-serve-export-'));
    const db = join(dir, 'lab.db');
    const run = (file: string) => spawnSync(process.execPath, [BIN, 'run', file, '--db', db], { encoding: 'utf8' });
    expect(run(join(ROOT, 'examples', 'host-map-failure.yaml')).status).toBe(0);
    // A run of ~50 000 events (several MB as JSON): the cancelled download.
    writeFileSync(join(dir, 'long.yaml'), 'name: long\nviommu: {model: virtio-iommu}\ndevices:\n  - {name: nic0, bdf: "00:03.0"}\nsteps:\n  - attach: {domain: 1, endpoint: nic0}\n  - workload: {domain: 1, endpoint: nic0, count: 10000, size: 4096, iova-base: 0x100000000, phys-base: 0x80000000}\n');
    expect(run(join(dir, 'long.yaml')).status).toBe(0);
    const rendererDir = join(dir, 'renderer');
    mkdirSync(rendererDir);
    writeFileSync(join(rendererDir, 'index.html'), '<!doctype html><title>IOMMU Lab</title>');
    const service = new LabService({ dbPath: db, examplesDir: join(ROOT, 'examples'), warmRunWorker: false });
    server = await startServer({ service, port: 0, rendererDir });
    origin = new URL(server.url).origin;
    token = server.token;
  });

  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('streams the run as a Perfetto trace: JSON, an attachment named after the run, one track per component', async () => {
    const r = await get(origin, `/export/1.json?token=${token}&format=perfetto`, { 'Sec-Fetch-Site': 'same-origin' });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(r.headers['content-disposition']).toBe('attachment; filename="run-1-guest-map-above-the-host-aperture.json"');
    expect(r.headers['cache-control']).toBe('no-store');
    expect(r.headers['x-content-type-options']).toBe('nosniff');
    const doc = JSON.parse(r.body) as { traceEvents: { ph: string; name: string; args?: { name?: string } }[]; otherData: { events: number; tracks: { layer: string }[] } };
    expect(doc.otherData.events).toBe(38);
    const names = doc.traceEvents.filter((e) => e.name === 'thread_name').map((e) => e.args!.name);
    expect(names).toContain('viommu0 (virtio-iommu)');
    expect(names).toContain('iommufd0 (iommufd)');
    // The same bytes as the CLI's export.
    const cli = spawnSync(process.execPath, [BIN, 'export', '1', '--format', 'perfetto', '--db', join(dir, 'lab.db')], { encoding: 'utf8' });
    expect(r.body).toBe(cli.stdout);
  });

  it('CSV and JSON lines, the format from ?format= or the extension; HEAD gives the headers only', async () => {
    const csv = await get(origin, `/export/1.csv?token=${token}`);
    expect(csv.status).toBe(200);
    expect(csv.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(csv.headers['content-disposition']).toBe('attachment; filename="run-1-guest-map-above-the-host-aperture.csv"');
    expect(csv.body.startsWith('seq,step,kind,problem,')).toBe(true);
    expect(csv.body.split('\r\n')).toHaveLength(38 + 2);
    const jsonl = await get(origin, `/export/1.jsonl?token=${token}&format=jsonl`);
    expect(jsonl.headers['content-type']).toBe('application/x-ndjson; charset=utf-8');
    expect(jsonl.body.trim().split('\n').map((l) => (JSON.parse(l) as { seq: number }).seq)).toEqual([...Array(38).keys()]);
    const head = await get(origin, `/export/1.json?token=${token}`, {}, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(head.body).toBe('');
  });

  it('needs the token (401), an allowed Host (421), and no other site behind the request (403)', async () => {
    expect((await get(origin, '/export/1.json')).status).toBe(401);
    expect((await get(origin, '/export/1.json?token=nope')).status).toBe(401);
    const port = new URL(origin).port;
    expect((await get(origin, `/export/1.json?token=${token}`, { Host: `evil.example:${port}` })).status).toBe(421);
    expect((await get(origin, `/export/1.json?token=${token}`, { Origin: 'http://evil.example' })).status).toBe(403);
    expect((await get(origin, `/export/1.json?token=${token}`, { 'Sec-Fetch-Site': 'cross-site' })).status).toBe(403);
    // The lab's own page (its Origin, a same-origin fetch) and a typed URL are fine.
    expect((await get(origin, `/export/1.json?token=${token}`, { Origin: origin, 'Sec-Fetch-Site': 'same-origin' })).status).toBe(200);
    expect((await get(origin, `/export/1.json?token=${token}`, { 'Sec-Fetch-Site': 'none' })).status).toBe(200);
  });

  it('404 for a missing run, 400 for an unknown path or format', async () => {
    expect((await get(origin, `/export/999.json?token=${token}`)).status).toBe(404);
    for (const p of ['/export/1.xml', '/export/0.json', '/export/x.json', '/export/1.json/..', '/export/']) expect([p, (await get(origin, `${p}?token=${token}`)).status]).toEqual([p, 400]);
    const bad = await get(origin, `/export/1.json?token=${token}&format=xml`);
    expect(bad.status).toBe(400);
    expect(bad.body).toBe('bad request: format must be csv, jsonl, perfetto\n');
  });

  it('a download cancelled midway stops the export; the server keeps serving', async () => {
    const u = new URL(origin);
    const received = await new Promise<number>((ok, fail) => {
      const req = request({ host: u.hostname, port: u.port, path: `/export/2.json?token=${token}` }, (res) => {
        let n = 0;
        res.on('data', (c: Buffer) => {
          n += c.length;
          if (n > 100_000) {
            req.destroy();
            ok(n);
          }
        });
        res.on('end', () => fail(new Error('the whole export arrived before the cancel')));
      });
      req.on('error', () => {});
      req.end();
    });
    expect(received).toBeGreaterThan(100_000);
    const again = await get(origin, `/export/1.csv?token=${token}`);
    expect(again.status).toBe(200);
  });
});
