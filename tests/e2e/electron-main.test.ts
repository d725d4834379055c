// The Electron main process (main/index.ts) under plain Node with a stub `electron` module: the
// Electron binary cannot be downloaded on the project's machines, so this is how the window's
// security settings, the app:// renderer protocol and the `lab:call` IPC handler are checked.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

type Handler = (...args: unknown[]) => unknown;
/** The stub's webContents. */
interface StubContents {
  on(name: string, fn: Handler): void;
  setWindowOpenHandler(fn: Handler): void;
  send(...args: unknown[]): void;
}
/** One BrowserWindow the stub saw. */
interface StubWindow {
  options: { webPreferences?: Record<string, unknown> } & Record<string, unknown>;
  loaded: string[];
  webContents: StubContents;
  handlers: Map<string, Handler>;
}
/** What main's lab:call handler answers. */
interface Reply {
  ok: boolean;
  result?: unknown;
  error?: { message: string; path: string };
}

/** What the stub records. */
const seen = vi.hoisted(() => ({
  privileged: [] as unknown[],
  protocolHandler: null as ((req: Request) => Promise<Response>) | null,
  ipc: new Map<string, Handler>(),
  windows: [] as StubWindow[],
  sent: [] as unknown[][],
  appHandlers: new Map<string, Handler[]>(),
  headersHook: null as Handler | null,
}));

vi.mock('electron', () => {
  class BrowserWindow {
    static all: BrowserWindow[] = [];
    static getAllWindows(): BrowserWindow[] {
      return BrowserWindow.all;
    }
    readonly record: StubWindow;
    readonly webContents: StubContents;
    constructor(options: StubWindow['options']) {
      const handlers = new Map<string, Handler>();
      this.webContents = {
        on: (name: string, fn: Handler) => handlers.set(name, fn),
        setWindowOpenHandler: (fn: Handler) => handlers.set('window-open', fn),
        send: (...args: unknown[]) => seen.sent.push(args),
      };
      this.record = { options, loaded: [] as string[], webContents: this.webContents, handlers };
      seen.windows.push(this.record);
      BrowserWindow.all.push(this);
    }
    once(): void {}
    on(): void {}
    show(): void {}
    isDestroyed(): boolean {
      return false;
    }
    async loadURL(url: string): Promise<void> {
      this.record.loaded.push(url);
    }
  }
  const on = (name: string, fn: Handler) => {
    seen.appHandlers.set(name, [...(seen.appHandlers.get(name) ?? []), fn]);
  };
  return {
    app: {
      whenReady: () => Promise.resolve(),
      on,
      getAppPath: () => fileURLToPath(new URL('../..', import.meta.url)),
      isPackaged: false,
      quit: () => {},
    },
    BrowserWindow,
    dialog: {},
    ipcMain: {
      handle: (channel: string, fn: Handler) => seen.ipc.set(channel, fn),
      removeHandler: (channel: string) => seen.ipc.delete(channel),
    },
    net: {
      // Electron's net.fetch reads file: URLs; Node's fetch does not.
      fetch: async (url: string) => {
        try {
          return new Response(readFileSync(fileURLToPath(url)), { status: 200, headers: { 'Content-Type': 'text/html' } });
        } catch {
          return new Response('not found', { status: 404 });
        }
      },
    },
    protocol: {
      registerSchemesAsPrivileged: (schemes: unknown[]) => seen.privileged.push(...schemes),
      handle: (_scheme: string, fn: (req: Request) => Promise<Response>) => {
        seen.protocolHandler = fn;
      },
    },
    session: {
      defaultSession: {
        webRequest: { onHeadersReceived: (fn: Handler) => (seen.headersHook = fn) },
        setPermissionRequestHandler: () => {},
      },
    },
  };
});

describe('Electron main (stubbed electron)', () => {
  let dir: string;
  let win: StubWindow;
  const frame = { url: 'app://lab/index.html' };

  function call(method: unknown, params: unknown, sender: unknown = win.webContents, senderFrame: { url: string } | null = frame): Promise<Reply> {
    return seen.ipc.get('lab:call')!({ sender, senderFrame }, method, params) as Promise<Reply>;
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'iommu-lab-main-'));
    vi.stubEnv('IOMMU_LAB_DB', join(dir, 'lab.db'));
    vi.stubEnv('ELECTRON_RENDERER_URL', '');
    await import('../../main/index.ts');
    await vi.waitFor(() => expect(seen.windows.length).toBe(1));
    win = seen.windows[0];
  });

  afterAll(() => {
    for (const fn of seen.appHandlers.get('will-quit') ?? []) fn();
    vi.unstubAllEnvs();
    rmSync(dir, { recursive: true, force: true });
  });

  it('opens one window with the secure web preferences', () => {
    const prefs = win.options.webPreferences;
    expect(prefs).toMatchObject({ contextIsolation: true, sandbox: true, nodeIntegration: false, webSecurity: true });
    expect(prefs?.preload).toMatch(/preload[\\/]index\.cjs$/);
    expect(win.loaded).toEqual(['app://lab/index.html']);
  });

  it('denies navigation and new windows', () => {
    let prevented = false;
    win.handlers.get('will-navigate')!({ preventDefault: () => (prevented = true) }, 'https://example.com');
    expect(prevented).toBe(true);
    expect(win.handlers.get('window-open')!({ url: 'https://example.com' })).toEqual({ action: 'deny' });
  });

  it('serves the renderer on a privileged app:// scheme with a strict CSP, refusing traversal', async () => {
    expect(seen.privileged).toEqual([{ scheme: 'app', privileges: { standard: true, secure: true, supportFetchAPI: true } }]);
    const page = await seen.protocolHandler!(new Request('app://lab/index.html'));
    expect(page.status).toBe(200);
    const csp = page.headers.get('content-security-policy')!;
    for (const directive of ["default-src 'self'", "script-src 'self'", "worker-src 'self' blob:", "style-src 'self' 'unsafe-inline'", "font-src 'self' data:"]) {
      expect(csp).toContain(directive);
    }
    expect((await seen.protocolHandler!(new Request('app://lab/..%2f..%2fpackage.json'))).status).toBe(403);
    expect((await seen.protocolHandler!(new Request('app://other/index.html'))).status).toBe(403);
    // Responses from anywhere else (the dev server) get the same CSP.
    const out: { responseHeaders: Record<string, string[]> }[] = [];
    seen.headersHook!({ responseHeaders: {} }, (r: (typeof out)[number]) => out.push(r));
    expect(out[0].responseHeaders['Content-Security-Policy']).toEqual([csp]);
  });

  it('answers lab:call from its own window: results, and field paths for bad params', async () => {
    const examples = await call('listExamples', {});
    expect(examples.ok).toBe(true);
    expect((examples.result as { name: string }[]).some((e) => e.name.startsWith('quickstart'))).toBe(true);
    const bad = await call('getRun', { runId: 0 });
    expect(bad).toMatchObject({ ok: false, error: { path: '/runId' } });
    const unknown = await call('eval', {});
    expect(unknown.ok).toBe(false);
  });

  it('refuses lab:call from another sender or frame', async () => {
    expect((await call('listRuns', {}, { other: true })).ok).toBe(false);
    expect((await call('listRuns', {}, win.webContents, { url: 'https://evil.example/' })).ok).toBe(false);
    expect((await call('listRuns', {}, win.webContents, null)).ok).toBe(false);
  });

  it('forwards run notifications to the window as lab:event', async () => {
    const ex = await call('readExample', { name: 'quickstart' });
    expect(ex.ok).toBe(true);
    const started = await call('startRun', { text: (ex.result as { text: string }).text, file: 'quickstart.yaml' });
    expect(started.ok).toBe(true);
    const runId = (started.result as { runId: number }).runId;
    await vi.waitFor(() => expect(seen.sent).toContainEqual(['lab:event', 'runFinished', { runId, status: 'done', error: null }]), { timeout: 30_000 });
    expect(seen.sent.some((m) => m[1] === 'runProgress')).toBe(true);
  });
});
