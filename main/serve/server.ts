/**
 * `iommu-lab serve`: the built renderer over HTTP and the contract over a WebSocket, on 127.0.0.1
 * only (DESIGN.md §2: the UI in a browser against a headless lab, and how the UI is tested end to
 * end).
 *
 * Protocol (one JSON text frame per message):
 *   client → server  { id, method, params }
 *   server → client  { id, result } | { id, error: { message, path } }   (path: field path, "/runId")
 *   server → client  { event, payload }                                  (Notifications)
 * Params are checked with the contract's `validateParams`; u64 values are already "0x…" strings.
 *
 * Access control: a random token (24 bytes, hex) is required as `?token=` on the HTML page and on
 * the WebSocket upgrade (401 otherwise; compared as SHA-256 digests, so any input, of any byte
 * length, is just "wrong"). Every request's Host must be an allowed host (421 otherwise — defeats
 * DNS rebinding): `127.0.0.1:PORT`, `localhost:PORT` and each `allowHosts` entry (e.g. the
 * `localhost:9000` of an SSH tunnel `ssh -L 9000:127.0.0.1:PORT`); the upgrade's Origin must be
 * `http://` + one of those hosts (403 otherwise). Static assets need no token: they are the public
 * build; they are served only when their real path (symlinks resolved) is inside the build
 * directory's real path.
 * A client that breaks the WebSocket protocol (oversized frame, invalid UTF-8, unmasked frame,
 * reserved opcode or RSV bits, bad close code) is dropped; the others keep their connections.
 * openFile/saveFile answer null: a browser must not read or write files on the lab's machine; the
 * UI uses the browser's own file picker and a download instead. Exports are downloads too:
 * GET /export/<runId>.<ext>?token=… streams a run as CSV, JSON lines or a Perfetto trace
 * (handleExport), so exportRun (the desktop's save dialog) answers null here.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, realpath, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { WebSocketServer, type WebSocket } from 'ws';
import type { LabApi } from '../../core/contract/index.ts';
import { EXPORT_FILE, EXPORT_FORMATS, exportChunks, exportFileName, exportRunInfo, writeChunks, type ExportFormat } from '../service/export.ts';
import { serveContract, type ContractReply } from '../service/serve-contract.ts';

/** Options of {@link startServer}. */
export interface ServeOptions {
  /** The lab to serve. The server takes ownership: `close()` also calls `service.close()`. */
  service: LabApi & { close?(): void };
  /** TCP port on 127.0.0.1; 0 (default) picks an ephemeral port. */
  port?: number;
  /** Directory of the built renderer (index.html + assets); default `<repo>/out/renderer`. */
  rendererDir?: string;
  /**
   * Extra `Host` values to accept ("HOST[:PORT]", as the browser sends it: no port means 80), for
   * an SSH tunnel or proxy whose local port differs from PORT. Checked by {@link parseAllowedHost}.
   */
  allowHosts?: string[];
  /**
   * The SQLite file the export route (GET /export/…) streams runs from; default the service's own
   * (`service.store.path` of a LabService). Without one, /export/… answers 404.
   */
  dbPath?: string;
}

/** A running server. */
export interface RunningServer {
  /** Page URL including the token: `http://127.0.0.1:PORT/?token=…`. */
  url: string;
  /** The access token (48 hex chars). */
  token: string;
  /** Closes every WebSocket, stops listening, then closes the service. */
  close(): Promise<void>;
}

/** The only interface the server binds. */
export const SERVE_HOST = '127.0.0.1';
/** Path of the WebSocket endpoint. */
export const WS_PATH = '/ws';
/** Prefix of the export download route: /export/<runId>.<ext> (see handleExport). */
export const EXPORT_PATH = '/export/';
/** Largest accepted WebSocket message (startRun text may be 16 MiB, see PARAMS.startRun). */
const MAX_MESSAGE_BYTES = 20 * 1024 * 1024;

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.ttf': 'font/ttf',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
};

/** Walks up from this file to the folder holding the project's package.json. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'renderer'))) return dir;
    const up = dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
}

/** Default renderer build directory: `<repo>/out/renderer`. */
export function defaultRendererDir(): string {
  return join(repoRoot(), 'out', 'renderer');
}

/**
 * Constant-time token check. Both sides are hashed first: timingSafeEqual throws on buffers of
 * different byte lengths, which a same-length string of multi-byte characters (48 × "é") has.
 */
function sameSecret(given: string | null, token: string): boolean {
  if (given === null) return false;
  const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(given), digest(token));
}

/**
 * Normalises one `--allow-host` value, "HOST[:PORT]" (a DNS name, IPv4 address or [IPv6]), to the
 * form a browser's `Host` header has: lower case, without a default port 80. Throws an Error
 * naming the value when it is not a bare host (a scheme, path, user or query is not one).
 */
export function parseAllowedHost(value: string): string {
  let url: URL | null;
  try {
    url = /^[a-z0-9.[\]:-]+$/i.test(value) ? new URL(`http://${value}`) : null;
  } catch {
    url = null;
  }
  const expected = value.toLowerCase().replace(/:80$/, '');
  if (url === null || url.host !== expected || url.hostname === '') {
    throw new Error(`--allow-host ${JSON.stringify(value)} is not HOST[:PORT] (for example localhost:9000)`);
  }
  return url.host;
}

function csp(origin: string): string {
  const ws = origin.replace(/^http/, 'ws');
  return [
    "default-src 'self'",
    "script-src 'self'",
    "worker-src 'self' blob:",
    "style-src 'self' 'unsafe-inline'",
    "font-src 'self' data:",
    "img-src 'self' data: blob:",
    `connect-src 'self' ${ws}`,
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/**
 * Maps a request path to a file inside `root`, or null when it tries to leave it (a `..` segment,
 * raw or percent-encoded, a backslash, a NUL) or is malformed.
 */
export function resolveStatic(root: string, rawPath: string): string | null {
  let path: string;
  try {
    path = decodeURIComponent(rawPath);
  } catch {
    return null;
  }
  if (path.includes('\0') || path.includes('\\')) return null;
  const segments = path.split('/');
  if (segments.some((s) => s === '..')) return null;
  const rel = segments.filter((s) => s !== '' && s !== '.').join(sep) || 'index.html';
  const file = resolve(root, rel);
  const inside = relative(root, file);
  if (inside === '' || inside.startsWith('..') || isAbsolute(inside)) return null;
  return file;
}

/** Starts the server on 127.0.0.1 (see the file comment for the protocol and access rules). */
export async function startServer(opts: ServeOptions): Promise<RunningServer> {
  const extraHosts = (opts.allowHosts ?? []).map(parseAllowedHost);
  const root = resolve(opts.rendererDir ?? defaultRendererDir());
  if (!existsSync(join(root, 'index.html'))) {
    throw new Error(`the renderer is not built (${join(root, 'index.html')} is missing): run npm run build`);
  }
  const { service } = opts;
  const rootReal = await realpath(root);
  const token = randomBytes(24).toString('hex');
  // Allowed Host header values, lower case; filled once the port is known.
  const hosts = new Set<string>();

  const hostOk = (req: IncomingMessage): boolean => hosts.has((req.headers.host ?? '').toLowerCase());
  const originOk = (req: IncomingMessage): boolean => {
    const o = req.headers.origin;
    return o !== undefined && o.startsWith('http://') && hosts.has(o.slice('http://'.length).toLowerCase());
  };

  const server = createServer((req, res) => {
    void handleHttp(req, res).catch((err: unknown) => {
      // The details go to the operator's terminal, never to the client.
      process.stderr.write(`iommu-lab serve: ${req.method} ${req.url}: ${err instanceof Error ? err.message : String(err)}\n`);
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    });
  });

  function send(res: ServerResponse, status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}): void {
    res.writeHead(status, {
      'Content-Type': type,
      'Content-Length': Buffer.byteLength(body),
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
      ...extra,
    });
    res.end(body);
  }

  async function handleHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!hostOk(req)) return send(res, 421, 'text/plain; charset=utf-8', 'misdirected request\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n', { Allow: 'GET, HEAD' });
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const rawPath = q === -1 ? raw : raw.slice(0, q);
    const query = new URLSearchParams(q === -1 ? '' : raw.slice(q + 1));
    if (rawPath.startsWith(EXPORT_PATH)) return handleExport(req, res, rawPath, query);
    const file = resolveStatic(root, rawPath);
    if (file === null) return send(res, 403, 'text/plain; charset=utf-8', 'forbidden\n');
    const isPage = extname(file) === '.html';
    if (isPage && !sameSecret(query.get('token'), token)) {
      return send(res, 401, 'text/plain; charset=utf-8', 'unauthorized: open the URL printed by iommu-lab serve (it carries ?token=)\n');
    }
    // Symlinks inside the build directory must not lead out of it (a link to /etc/passwd).
    const real = await realpath(file).catch(() => null);
    if (real === null) return send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
    const inside = relative(rootReal, real);
    if (inside === '' || inside.startsWith('..') || isAbsolute(inside)) return send(res, 403, 'text/plain; charset=utf-8', 'forbidden\n');
    const info = await stat(real).catch(() => null);
    if (!info?.isFile()) return send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
    const body = await readFile(real);
    const headers: Record<string, string> = isPage
      ? // The origin the browser used (an allowed host: a tunnel's localhost:9000 too), for connect-src.
        { 'Content-Security-Policy': csp(`http://${(req.headers.host ?? '').toLowerCase()}`), 'Cache-Control': 'no-store', 'X-Frame-Options': 'DENY' }
      : { 'Cache-Control': 'no-cache' };
    if (req.method === 'HEAD') {
      res.writeHead(200, { 'Content-Type': MIME[extname(file)] ?? 'application/octet-stream', 'Content-Length': body.length, ...headers });
      return void res.end();
    }
    send(res, 200, MIME[extname(file)] ?? 'application/octet-stream', body, headers);
  }

  /**
   * GET /export/<runId>.<csv|jsonl|json>?token=…[&format=csv|jsonl|perfetto]: a run's export as a
   * download (Content-Disposition: attachment), streamed with backpressure (main/service/export.ts,
   * the CLI's writer), so a run of millions of events never becomes one contract answer. Guarded
   * like the WebSocket: the Host (checked above for every request, 421), the token (401), and an
   * Origin, when the browser sends one, or a Sec-Fetch-Site other than same-origin/none (403: another
   * site's page). 400 for a path or format it does not know, 404 for a missing run.
   */
  async function handleExport(req: IncomingMessage, res: ServerResponse, rawPath: string, query: URLSearchParams): Promise<void> {
    const text = 'text/plain; charset=utf-8';
    if (!sameSecret(query.get('token'), token)) return send(res, 401, text, 'unauthorized: the export URL needs the ?token= of iommu-lab serve\n');
    const site = req.headers['sec-fetch-site'];
    if ((req.headers.origin !== undefined && !originOk(req)) || (typeof site === 'string' && site !== 'same-origin' && site !== 'none')) {
      return send(res, 403, text, 'forbidden\n');
    }
    const m = /^\/export\/([1-9][0-9]{0,14})\.(csv|jsonl|json)$/.exec(rawPath);
    if (!m) return send(res, 400, text, 'bad request: /export/<run id>.<csv|jsonl|json>\n');
    const asked = query.get('format');
    const byExt: Record<string, ExportFormat> = { csv: 'csv', jsonl: 'jsonl', json: 'perfetto' };
    if (asked !== null && !(EXPORT_FORMATS as readonly string[]).includes(asked)) return send(res, 400, text, `bad request: format must be ${EXPORT_FORMATS.join(', ')}\n`);
    const format = (asked as ExportFormat | null) ?? byExt[m[2]];
    const dbPath = opts.dbPath ?? (service as { store?: { path?: string } }).store?.path;
    const info = dbPath ? await exportRunInfo(service, Number(m[1])) : null;
    if (!info || !dbPath) return send(res, 404, text, 'not found: no such run\n');
    res.writeHead(200, {
      'Content-Type': EXPORT_FILE[format].contentType,
      'Content-Disposition': `attachment; filename="${exportFileName(info.run, format)}"`,
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
    });
    if (req.method === 'HEAD') return void res.end();
    // A client going away (a cancelled download) stops the export at the next chunk.
    const done = await writeChunks(exportChunks(dbPath, info, format), res, { stopped: () => res.destroyed });
    if (done) res.end();
    else res.destroy();
  }

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });

  function refuse(socket: Duplex, status: number, text: string): void {
    socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${text.length + 1}\r\n\r\n${text}\n`);
  }

  server.on('upgrade', (req, socket, head) => {
    // A client resetting the connection mid-refusal must not become an unhandled 'error'.
    socket.on('error', () => socket.destroy());
    try {
      upgrade(req, socket, head);
    } catch (err) {
      process.stderr.write(`iommu-lab serve: upgrade ${req.url}: ${err instanceof Error ? err.message : String(err)}\n`);
      refuse(socket, 400, 'Bad Request');
    }
  });

  function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const raw = req.url ?? '';
    const q = raw.indexOf('?');
    const path = q === -1 ? raw : raw.slice(0, q);
    const query = new URLSearchParams(q === -1 ? '' : raw.slice(q + 1));
    if (!hostOk(req)) return refuse(socket, 421, 'Misdirected Request');
    if (path !== WS_PATH) return refuse(socket, 404, 'Not Found');
    if (!sameSecret(query.get('token'), token)) return refuse(socket, 401, 'Unauthorized');
    if (!originOk(req)) return refuse(socket, 403, 'Forbidden');
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  }

  // Each connection is one serveContract transport: its calls, its notifications, unsubscribed when
  // it closes (or when the server closes).
  const connections = new Set<() => void>();
  // Browsers cannot pick files on the lab's machine: openFile/saveFile answer null (see above).
  const noFiles = { openFile: () => null, saveFile: () => null, exportRun: () => null };
  wss.on('connection', (ws: WebSocket) => {
    // Protocol errors (ws has already sent the close code, e.g. 1002, 1007, 1009): drop this client.
    ws.on('error', () => ws.terminate());
    const dispose = serveContract(
      service,
      {
        onCall(handler) {
          ws.on('message', (data, isBinary) => {
            if (isBinary) return reply(ws, { id: null, error: { message: 'binary frames are not supported', path: '' } });
            void answer(ws, data.toString(), handler);
          });
        },
        notify(event, payload) {
          reply(ws, { event, payload });
        },
        onClose(cb) {
          ws.on('close', cb);
        },
      },
      noFiles,
    );
    connections.add(dispose);
    ws.on('close', () => connections.delete(dispose));
  });

  function reply(ws: WebSocket, msg: unknown): void {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(msg));
  }

  /** Unwraps one text frame {id, method, params}, has `handler` answer it, replies {id, result} | {id, error}. */
  async function answer(ws: WebSocket, text: string, handler: (method: unknown, params: unknown) => Promise<ContractReply>): Promise<void> {
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      return reply(ws, { id: null, error: { message: 'message is not JSON', path: '' } });
    }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
      return reply(ws, { id: null, error: { message: 'message must be an object {id, method, params}', path: '' } });
    }
    const { id, method, params } = msg as { id?: unknown; method?: unknown; params?: unknown };
    if (typeof id !== 'number' && typeof id !== 'string') {
      return reply(ws, { id: null, error: { message: 'message needs an id (number or string)', path: '/id' } });
    }
    const r = await handler(method, params);
    reply(ws, r.ok ? { id, result: r.result } : { id, error: r.error });
  }

  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(opts.port ?? 0, SERVE_HOST, () => {
      server.off('error', fail);
      ok();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const origin = `http://${SERVE_HOST}:${port}`;
  for (const h of [`${SERVE_HOST}:${port}`, `localhost:${port}`, ...extraHosts]) hosts.add(h);

  let closed: Promise<void> | null = null;
  return {
    url: `${origin}/?token=${token}`,
    token,
    close() {
      closed ??= (async () => {
        for (const dispose of connections) dispose();
        connections.clear();
        for (const ws of wss.clients) ws.terminate();
        await new Promise<void>((ok) => wss.close(() => ok()));
        server.closeAllConnections();
        await new Promise<void>((ok) => server.close(() => ok()));
        service.close?.();
      })();
      return closed;
    },
  };
}
