// `iommu-lab serve` (main/serve/server.ts): access control (token, Origin, Host), the contract over
// the WebSocket (validation errors with their field path, a real run end to end, notifications),
// static files without path traversal or symlinks out of the build, 127.0.0.1 only, close(), and
// surviving hostile clients (odd tokens, WebSocket protocol errors).
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Notifications } from '../../core/contract/index.ts';
import { parseAllowedHost, resolveStatic, startServer, type RunningServer } from '../../main/serve/server.ts';
import { LabService } from '../../main/service/lab-service.ts';

const EXAMPLES = resolve(import.meta.dirname, '../../examples');

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** GET with the path sent byte for byte (fetch/URL would normalise `..` away). */
function rawGet(base: string, path: string, headers: Record<string, string> = {}): Promise<Raw> {
  const u = new URL(base);
  return new Promise((ok, fail) => {
    const req = request({ host: u.hostname, port: u.port, path, method: 'GET', headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => ok({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', fail);
    req.end();
  });
}

/** Opens a WebSocket and resolves with it, or rejects with the HTTP status of the refusal. */
function openWs(url: string, origin?: string): Promise<WebSocket> {
  return new Promise((ok, fail) => {
    const ws = new WebSocket(url, origin === undefined ? {} : { origin });
    ws.once('open', () => ok(ws));
    ws.once('unexpected-response', (_req, res) => fail(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', fail);
  });
}

/**
 * A WebSocket upgrade over a raw TCP socket, so the test can write frames a real client never
 * would. Resolves once the server answered 101; `received` collects every byte after the headers.
 */
function rawUpgrade(origin: string, token: string): Promise<{ socket: Socket; received: Buffer[]; closed: Promise<void> }> {
  const u = new URL(origin);
  return new Promise((ok, fail) => {
    const socket = connect({ host: u.hostname, port: Number(u.port) });
    const received: Buffer[] = [];
    const closed = new Promise<void>((done) => socket.once('close', () => done()));
    let head = Buffer.alloc(0);
    let upgraded = false;
    socket.on('error', () => {}); // the server may reset the connection; 'close' still fires
    socket.on('data', (chunk: Buffer) => {
      if (upgraded) return void received.push(chunk);
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      const status = head.subarray(0, end).toString('latin1').split('\r\n')[0];
      if (!status.startsWith('HTTP/1.1 101')) return fail(new Error(status));
      upgraded = true;
      if (head.length > end + 4) received.push(head.subarray(end + 4));
      ok({ socket, received, closed });
    });
    socket.once('connect', () => {
      socket.write(
        `GET /ws?token=${token} HTTP/1.1\r\nHost: ${u.host}\r\nOrigin: ${origin}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
  });
}

/** A client frame: FIN + `opcode` (plus `rsv` bits), masked unless `masked` is false (RFC 6455 §5.2). */
function clientFrame(opcode: number, payload: Buffer, { masked = true, rsv = 0, claimedLength }: { masked?: boolean; rsv?: number; claimedLength?: number } = {}): Buffer {
  const len = claimedLength ?? payload.length;
  const lenBytes = len < 126 ? Buffer.from([len]) : Buffer.concat([Buffer.from([127]), Buffer.from(new BigUint64Array([BigInt(len)]).buffer).reverse()]);
  lenBytes[0] |= masked ? 0x80 : 0;
  const key = Buffer.from([1, 2, 3, 4]);
  const body = masked ? Buffer.from(payload.map((b, i) => b ^ key[i % 4])) : payload;
  return Buffer.concat([Buffer.from([0x80 | rsv | opcode]), lenBytes, masked ? key : Buffer.alloc(0), body]);
}

type Frame = { id?: number | string | null; result?: unknown; error?: { message: string; path: string }; event?: string; payload?: unknown };

/** A minimal client: numbered calls, and every notification kept in order. */
class Client {
  private next = 1;
  private waiting = new Map<number, (f: Frame) => void>();
  readonly notifications: Frame[] = [];
  private watchers: ((f: Frame) => void)[] = [];

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const f = JSON.parse(String(data)) as Frame;
      if (f.event) {
        this.notifications.push(f);
        for (const w of this.watchers) w(f);
      } else if (typeof f.id === 'number') this.waiting.get(f.id)?.(f);
    });
  }

  send(method: unknown, params: unknown): Promise<Frame> {
    const id = this.next++;
    return new Promise((ok) => {
      this.waiting.set(id, ok);
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  raw(text: string): Promise<Frame> {
    return new Promise((ok) => {
      this.ws.once('message', (data) => ok(JSON.parse(String(data)) as Frame));
      this.ws.send(text);
    });
  }

  finished(runId: number): Promise<Notifications['runFinished']> {
    const seen = this.notifications.find((f) => f.event === 'runFinished' && (f.payload as { runId: number }).runId === runId);
    if (seen) return Promise.resolve(seen.payload as Notifications['runFinished']);
    return new Promise((ok) => {
      this.watchers.push((f) => {
        if (f.event === 'runFinished' && (f.payload as { runId: number }).runId === runId) ok(f.payload as Notifications['runFinished']);
      });
    });
  }
}

describe('iommu-lab serve', () => {
  let dir: string;
  let rendererDir: string;
  let server: RunningServer;
  let origin: string;
  let wsUrl: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'iommu-lab-serve-'));
    rendererDir = join(dir, 'renderer');
    mkdirSync(join(rendererDir, 'assets'), { recursive: true });
    writeFileSync(join(rendererDir, 'index.html'), '<!doctype html><title>IOMMU Lab</title><script type="module" src="./assets/app.js"></script>');
    writeFileSync(join(rendererDir, 'assets', 'app.js'), 'export const app = 1;\n');
    writeFileSync(join(dir, 'secret.txt'), 'outside the renderer\n');
    const service = new LabService({ dbPath: join(dir, 'lab.db'), examplesDir: EXAMPLES });
    server = await startServer({ service, port: 0, rendererDir });
    origin = new URL(server.url).origin;
    wsUrl = `${origin.replace('http', 'ws')}/ws?token=${server.token}`;
  });

  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints a 127.0.0.1 URL carrying a 48-hex-digit token', () => {
    const u = new URL(server.url);
    expect(u.hostname).toBe('127.0.0.1');
    expect(Number(u.port)).toBeGreaterThan(0);
    expect(server.token).toMatch(/^[0-9a-f]{48}$/);
    expect(u.searchParams.get('token')).toBe(server.token);
  });

  it('serves the page only with the token (401 otherwise), with a strict CSP', async () => {
    expect((await rawGet(origin, '/')).status).toBe(401);
    expect((await rawGet(origin, '/index.html?token=nope')).status).toBe(401);
    // The token with its last hex digit changed (appending a fixed '0' was the token itself 1 time in 16).
    const wrong = server.token.slice(0, -1) + (server.token.endsWith('0') ? '1' : '0');
    expect((await rawGet(origin, `/?token=${wrong}`)).status).toBe(401);
    const ok = await rawGet(origin, `/?token=${server.token}`);
    expect(ok.status).toBe(200);
    expect(ok.headers['content-type']).toMatch(/^text\/html/);
    expect(ok.body).toContain('<title>IOMMU Lab</title>');
    const policy = String(ok.headers['content-security-policy']);
    expect(policy).toContain("script-src 'self'");
    expect(policy).toContain(`connect-src 'self' ${origin.replace('http', 'ws')}`);
    expect(ok.headers['referrer-policy']).toBe('no-referrer');
    const asset = await rawGet(origin, '/assets/app.js');
    expect(asset.status).toBe(200);
    expect(asset.headers['content-type']).toMatch(/^text\/javascript/);
  });

  it('refuses requests naming another Host (DNS rebinding) with 421', async () => {
    const res = await rawGet(origin, `/?token=${server.token}`, { Host: `evil.example:${new URL(origin).port}` });
    expect(res.status).toBe(421);
  });

  it.each([
    '/../secret.txt',
    '/assets/../../secret.txt',
    '/%2e%2e/secret.txt',
    '/assets/..%2f..%2fsecret.txt',
    '/..%5csecret.txt',
    '/assets/%00app.js',
    '/%E0%A4%A',
  ])('refuses path traversal %s with 403', async (path) => {
    const res = await rawGet(origin, path);
    expect(res.status).toBe(403);
    expect(res.body).not.toContain('outside the renderer');
  });

  it('refuses a symlink in the build directory that leads outside it (issue 6 §5.9)', async () => {
    symlinkSync(join(dir, 'secret.txt'), join(rendererDir, 'assets', 'leak.js'));
    symlinkSync(dir, join(rendererDir, 'up'));
    symlinkSync('/etc/passwd', join(rendererDir, 'passwd.html'));
    symlinkSync(join(rendererDir, 'assets', 'app.js'), join(rendererDir, 'assets', 'alias.js'));
    for (const path of ['/assets/leak.js', '/up/secret.txt', `/passwd.html?token=${server.token}`]) {
      const res = await rawGet(origin, path);
      expect(res.status, path).toBe(403);
      expect(res.body).not.toMatch(/outside the renderer|root:/);
    }
    // A link that stays inside the build is fine.
    expect((await rawGet(origin, '/assets/alias.js')).body).toBe('export const app = 1;\n');
    expect((await rawGet(origin, '/assets/missing.js')).status).toBe(404);
  });

  it('resolves static paths inside the root only', () => {
    const root = resolve('/srv/r');
    expect(resolveStatic(root, '/')).toBe(join(root, 'index.html'));
    expect(resolveStatic(root, '/assets/a.js')).toBe(join(root, 'assets', 'a.js'));
    expect(resolveStatic(root, '/./assets//a.js')).toBe(join(root, 'assets', 'a.js'));
    expect(resolveStatic(root, '/a/../../x')).toBeNull();
    expect(resolveStatic(root, '/%2e%2e/x')).toBeNull();
  });

  it('refuses the WebSocket without the right token (401)', async () => {
    await expect(openWs(`${origin.replace('http', 'ws')}/ws`, origin)).rejects.toThrow('HTTP 401');
    await expect(openWs(`${origin.replace('http', 'ws')}/ws?token=${'0'.repeat(48)}`, origin)).rejects.toThrow('HTTP 401');
  });

  it('answers a token of the right length but another byte length with 401 and keeps serving (issue 6 §5.1)', async () => {
    const wide = encodeURIComponent('é'.repeat(48)); // 48 characters, 96 bytes in UTF-8
    await expect(openWs(`${origin.replace('http', 'ws')}/ws?token=${wide}`, origin)).rejects.toThrow('HTTP 401');
    const page = await rawGet(origin, `/?token=${wide}`);
    expect(page.status).toBe(401);
    expect(page.body).not.toMatch(/internal|Input buffers/);
    const c = new Client(await openWs(wsUrl, origin));
    expect(Array.isArray((await c.send('listRuns', {})).result)).toBe(true);
    c.ws.close();
  });

  it('refuses the WebSocket from another Origin, or none (403)', async () => {
    await expect(openWs(wsUrl, 'http://evil.example')).rejects.toThrow('HTTP 403');
    await expect(openWs(wsUrl, origin.replace('127.0.0.1', '127.0.0.2'))).rejects.toThrow('HTTP 403');
    await expect(openWs(wsUrl, origin.replace('http:', 'https:'))).rejects.toThrow('HTTP 403');
    await expect(openWs(wsUrl)).rejects.toThrow('HTTP 403');
  });

  it('accepts localhost:PORT as Host and Origin (issue 6 §5.11)', async () => {
    const port = new URL(origin).port;
    expect((await rawGet(origin, `/?token=${server.token}`, { Host: `localhost:${port}` })).status).toBe(200);
    expect((await rawGet(origin, `/?token=${server.token}`, { Host: `LOCALHOST:${port}` })).status).toBe(200);
    expect((await rawGet(origin, `/?token=${server.token}`, { Host: `localhost:${Number(port) + 1}` })).status).toBe(421);
    const ws = await openWs(wsUrl, `http://localhost:${port}`);
    ws.close();
  });

  // RFC 6455 protocol errors: ws closes with 1009 (too big), 1007 (bad UTF-8) or 1002 and emits
  // 'error' on the server-side socket; without a listener that killed the process (issue 6 §5.2).
  it.each([
    ['a frame over the size limit', clientFrame(0x1, Buffer.alloc(0), { claimedLength: 21 * 1024 * 1024 }), 1009],
    ['invalid UTF-8 in a text frame', clientFrame(0x1, Buffer.from([0xff, 0xfe, 0xfd])), 1007],
    ['an unmasked frame', clientFrame(0x1, Buffer.from('{}'), { masked: false }), 1002],
    ['a reserved opcode', clientFrame(0x3, Buffer.alloc(0)), 1002],
    ['RSV bits without an extension', clientFrame(0x1, Buffer.from('{}'), { rsv: 0x40 }), 1002],
    ['close code 999', clientFrame(0x8, Buffer.from([0x03, 0xe7])), 1002],
  ] as const)('drops a client sending %s and keeps serving the others', async (_what, frame, code) => {
    const other = new Client(await openWs(wsUrl, origin));
    const bad = await rawUpgrade(origin, server.token);
    bad.socket.write(frame);
    await bad.closed;
    const bytes = Buffer.concat(bad.received);
    expect(bytes[0]).toBe(0x88); // the server's close frame
    expect(bytes.readUInt16BE(2)).toBe(code);
    expect(Array.isArray((await other.send('listRuns', {})).result)).toBe(true);
    const fresh = new Client(await openWs(wsUrl, origin));
    expect(Array.isArray((await fresh.send('listRuns', {})).result)).toBe(true);
    other.ws.close();
    fresh.ws.close();
  });

  it('answers malformed calls with an error naming the field path', async () => {
    const c = new Client(await openWs(wsUrl, origin));
    try {
      const bad = await c.send('getRun', { runId: 'seven' });
      expect(bad.error?.path).toBe('/runId');
      expect(bad.error?.message).toContain('/runId');
      const neg = await c.send('queryEvents', { runId: 1, offset: -1, limit: 10 });
      expect(neg.error?.path).toBe('/offset');
      const unknown = await c.send('formatDisk', {});
      expect(unknown.error?.message).toContain('unknown method');
      expect((await c.raw('not json')).error?.message).toContain('not JSON');
      expect((await c.raw(JSON.stringify({ method: 'listRuns', params: {} }))).error?.path).toBe('/id');
    } finally {
      c.ws.close();
    }
  });

  it('never touches files for a browser: openFile and saveFile answer null', async () => {
    const c = new Client(await openWs(wsUrl, origin));
    try {
      expect(await c.send('openFile', {})).toEqual({ id: 1, result: null });
      const target = join(dir, 'written.yaml');
      expect(await c.send('saveFile', { path: target, text: 'x' })).toEqual({ id: 2, result: null });
      expect(existsSync(target)).toBe(false);
    } finally {
      c.ws.close();
    }
  });

  it('runs the quickstart example over the socket and pushes its notifications', async () => {
    const c = new Client(await openWs(wsUrl, origin));
    try {
      const examples = (await c.send('listExamples', {})).result as { name: string; title: string }[];
      const quick = examples.find((e) => e.name.startsWith('quickstart'));
      expect(quick).toBeDefined();
      const ex = (await c.send('readExample', { name: quick!.name })).result as { name: string; text: string };
      expect(ex.text.length).toBeGreaterThan(0);

      const started = (await c.send('startRun', { text: ex.text, file: ex.name })).result as { runId: number | null; diagnostics: unknown[] };
      expect(started.diagnostics).toEqual([]);
      expect(started.runId).toBeGreaterThan(0);
      const runId = started.runId!;
      const done = await c.finished(runId);
      expect(done).toEqual({ runId, status: 'done', error: null });

      const run = (await c.send('getRun', { runId })).result as { status: string; events: number; metrics: { events: number } | null; stepResults: { line: number }[] };
      expect(run.status).toBe('done');
      expect(run.events).toBeGreaterThan(0);
      expect(run.metrics?.events).toBe(run.events);
      expect(run.stepResults.length).toBeGreaterThan(0);
      expect(run.stepResults.every((s) => s.line >= 1)).toBe(true);

      const page = (await c.send('queryEvents', { runId, offset: 0, limit: 5 })).result as { total: number; rows: { seq: number }[] };
      expect(page.total).toBe(run.events);
      expect(page.rows.map((r) => r.seq)).toEqual([0, 1, 2, 3, 4].slice(0, Math.min(5, run.events)));

      const runs = (await c.send('listRuns', {})).result as { id: number }[];
      expect(runs.some((r) => r.id === runId)).toBe(true);

      const invalid = (await c.send('startRun', { text: 'steps: 5\n', file: 'broken.yaml' })).result as { runId: null; diagnostics: { file: string; line: number }[] };
      expect(invalid.runId).toBeNull();
      expect(invalid.diagnostics.length).toBeGreaterThan(0);
      expect(invalid.diagnostics[0].file).toBe('broken.yaml');
    } finally {
      c.ws.close();
    }
  });

  it('listens on 127.0.0.1 only', async () => {
    const port = Number(new URL(origin).port);
    const others = Object.values(networkInterfaces())
      .flat()
      .filter((a) => a && !a.internal)
      .map((a) => a!.address);
    for (const address of ['::1', ...others]) {
      const refused = await new Promise<boolean>((ok) => {
        const s = connect({ host: address, port });
        s.once('connect', () => {
          s.destroy();
          ok(false);
        });
        s.once('error', () => ok(true));
      });
      expect(refused, `reachable on ${address}`).toBe(true);
    }
  });
});

describe('serve through a tunnel: --allow-host (issue 6 §5.11)', () => {
  it('accepts the allowed hosts as Host and Origin, and nothing else', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iommu-lab-serve-'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html>');
    const service = { call: async () => [] as never, listen: () => () => {}, close: () => {} };
    const server = await startServer({ service, rendererDir: dir, allowHosts: ['localhost:9000', 'Lab.Example'] });
    try {
      const origin = new URL(server.url).origin;
      const page = `/?token=${server.token}`;
      const tunnelled = await rawGet(origin, page, { Host: 'localhost:9000' });
      expect(tunnelled.status).toBe(200);
      expect(String(tunnelled.headers['content-security-policy'])).toContain("connect-src 'self' ws://localhost:9000;");
      expect((await rawGet(origin, page, { Host: 'lab.example' })).status).toBe(200);
      expect((await rawGet(origin, page, { Host: 'localhost:9001' })).status).toBe(421);
      expect((await rawGet(origin, page, { Host: 'lab.example:8080' })).status).toBe(421);
      const wsUrl = `${origin.replace('http', 'ws')}/ws?token=${server.token}`;
      (await openWs(wsUrl, 'http://localhost:9000')).close();
      (await openWs(wsUrl, 'http://lab.example')).close();
      await expect(openWs(wsUrl, 'http://localhost:9001')).rejects.toThrow('HTTP 403');
    } finally {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('normalises HOST[:PORT] and refuses anything else', async () => {
    expect(parseAllowedHost('LocalHost:9000')).toBe('localhost:9000');
    expect(parseAllowedHost('lab.example:80')).toBe('lab.example');
    expect(parseAllowedHost('[::1]:9000')).toBe('[::1]:9000');
    for (const bad of ['', 'http://localhost:9000', 'localhost:9000/x', 'user@localhost', 'localhost:99999', 'a b']) {
      expect(() => parseAllowedHost(bad), bad).toThrow(/is not HOST\[:PORT\]/);
    }
    const dir = mkdtempSync(join(tmpdir(), 'iommu-lab-serve-'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html>');
    const service = { call: async () => [] as never, listen: () => () => {}, close: () => {} };
    await expect(startServer({ service, rendererDir: dir, allowHosts: ['x/y'] })).rejects.toThrow('--allow-host "x/y" is not HOST[:PORT]');
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('startServer lifecycle', () => {
  it('fails clearly when the renderer is not built', async () => {
    const service = { call: async () => null as never, listen: () => () => {}, close: () => {} };
    await expect(startServer({ service, rendererDir: join(tmpdir(), 'no-such-renderer-dir') })).rejects.toThrow(/run npm run build/);
  });

  it('close() stops listening, drops sockets and closes the service', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iommu-lab-serve-'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html>');
    let closed = 0;
    const service = { call: async () => [] as never, listen: () => () => {}, close: () => void closed++ };
    const server = await startServer({ service, rendererDir: dir });
    const origin = new URL(server.url).origin;
    const ws = await openWs(`${origin.replace('http', 'ws')}/ws?token=${server.token}`, origin);
    const wsClosed = new Promise<void>((ok) => ws.once('close', () => ok()));
    await server.close();
    await wsClosed;
    expect(closed).toBe(1);
    await expect(rawGet(origin, `/?token=${server.token}`)).rejects.toThrow(/ECONNREFUSED/);
    await server.close(); // idempotent
    expect(closed).toBe(1);
    rmSync(dir, { recursive: true, force: true });
  });
});
