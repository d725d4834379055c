// The Electron main process (main/index.ts) under plain Node with a stub `electron` module: the
// Electron binary cannot be downloaded on the project's machines, so this is how the window's
// security settings, the app:// renderer protocol and the `lab:call` IPC handler are checked.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
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
  permissionCheck: null as Handler | null,
  devicePermission: null as Handler | null,
  /** What the next open/save dialog answers (null: cancelled), and how often each was shown. */
  dialog: { open: null as string | null, save: null as string | null, opened: 0, saved: 0, answer: 'Stay', asked: 0, proposed: '' },
  errorBoxes: [] as [string, string][],
  exitCodes: [] as number[],
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
      exit: (code: number) => seen.exitCodes.push(code),
    },
    BrowserWindow,
    dialog: {
      showErrorBox: (title: string, text: string) => seen.errorBoxes.push([title, text]),
      showOpenDialog: async () => {
        seen.dialog.opened++;
        return seen.dialog.open === null ? { canceled: true, filePaths: [] } : { canceled: false, filePaths: [seen.dialog.open] };
      },
      showSaveDialog: async (_win: unknown, opts: { defaultPath?: string }) => {
        seen.dialog.saved++;
        seen.dialog.proposed = opts.defaultPath ?? '';
        return seen.dialog.save === null ? { canceled: true } : { canceled: false, filePath: seen.dialog.save };
      },
      showMessageBoxSync: (_win: unknown, opts: { buttons: string[] }) => {
        seen.dialog.asked++;
        return opts.buttons.indexOf(seen.dialog.answer);
      },
    },
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
        setPermissionCheckHandler: (fn: Handler) => (seen.permissionCheck = fn),
        setDevicePermissionHandler: (fn: Handler) => (seen.devicePermission = fn),
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

  it('asks before a window with unsaved edits closes (the renderer cancelled beforeunload)', () => {
    const unload = win.handlers.get('will-prevent-unload')!;
    let left = false;
    seen.dialog.answer = 'Stay';
    unload({ preventDefault: () => (left = true) });
    expect(left).toBe(false);
    seen.dialog.answer = 'Leave';
    unload({ preventDefault: () => (left = true) });
    expect(left).toBe(true);
    expect(seen.dialog.asked).toBe(2);
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

  it('answers a malformed % escape with 400, not an exception (issue 6 §5.9)', async () => {
    for (const url of ['app://lab/%E0%A4%A', 'app://lab/%zz.js', 'app://lab/assets/%']) {
      const res = await seen.protocolHandler!(new Request(url));
      expect(res.status, url).toBe(400);
    }
    expect((await seen.protocolHandler!(new Request('app://lab/no-such-file.js'))).status).toBe(404);
  });

  it('refuses a symlink in the build that leads outside it (issue 6 §5.9)', async () => {
    const { rendererResponse } = await import('../../main/index.ts');
    const root = join(dir, 'renderer');
    mkdirSync(join(root, 'assets'), { recursive: true });
    writeFileSync(join(root, 'index.html'), '<!doctype html>');
    writeFileSync(join(root, 'assets', 'app.js'), 'export {};\n');
    writeFileSync(join(dir, 'secret.txt'), 'outside the build\n');
    symlinkSync(join(dir, 'secret.txt'), join(root, 'assets', 'leak.js'));
    symlinkSync('/etc/passwd', join(root, 'passwd'));
    symlinkSync(dir, join(root, 'up'));
    symlinkSync(join(root, 'assets', 'app.js'), join(root, 'alias.js'));
    for (const path of ['assets/leak.js', 'passwd', 'up/secret.txt']) {
      const res = await rendererResponse(root, `app://lab/${path}`);
      expect(res.status, path).toBe(403);
      expect(await res.text()).not.toMatch(/outside the build|root:/);
    }
    const alias = await rendererResponse(root, 'app://lab/alias.js');
    expect(alias.status).toBe(200);
    expect(await alias.text()).toBe('export {};\n');
    expect(alias.headers.get('content-security-policy')).toContain("script-src 'self'");
  });

  it('denies permission checks and device permissions (issue 6 §5.12)', () => {
    expect(seen.permissionCheck!(null, 'media', 'app://lab', {})).toBe(false);
    expect(seen.permissionCheck!(null, 'hid', 'app://lab', {})).toBe(false);
    expect(seen.devicePermission!({ deviceType: 'usb', origin: 'app://lab', device: {} })).toBe(false);
  });

  it('trusts frames by whole origin only (issue 6 §5.12)', async () => {
    expect((await call('listRuns', {}, win.webContents, { url: 'app://lab.evil.example/index.html' })).ok).toBe(false);
    expect((await call('listRuns', {}, win.webContents, { url: 'app://lab:8080/index.html' })).ok).toBe(false);
    vi.stubEnv('ELECTRON_RENDERER_URL', 'http://localhost:5173');
    try {
      expect((await call('listRuns', {}, win.webContents, { url: 'http://localhost:5173/index.html' })).ok).toBe(true);
      expect((await call('listRuns', {}, win.webContents, { url: 'http://localhost:51730/' })).ok).toBe(false);
      expect((await call('listRuns', {}, win.webContents, { url: 'http://localhost:5173.evil.example/' })).ok).toBe(false);
      expect((await call('listRuns', {}, win.webContents, { url: 'https://localhost:5173/' })).ok).toBe(false);
    } finally {
      vi.stubEnv('ELECTRON_RENDERER_URL', '');
    }
  });

  it('saveFile writes only to files the user picked in a dialog (issue 6 §5.12)', async () => {
    const picked = join(dir, 'picked.yaml');
    const other = join(dir, 'other.yaml');
    writeFileSync(picked, 'name: picked\n');
    // A path nobody picked: refused with a message, nothing written, no dialog shown.
    const refused = await call('saveFile', { path: other, text: 'x' });
    expect(refused.ok).toBe(false);
    expect(refused.error?.message).toContain(`saveFile refused: ${other} was not opened or chosen in a file dialog`);
    expect(existsSync(other)).toBe(false);
    expect(seen.dialog.saved).toBe(0);
    // Opened through the dialog: saving to it writes it, silently.
    seen.dialog.open = picked;
    expect(await call('openFile', {})).toEqual({ ok: true, result: { path: picked, text: 'name: picked\n' } });
    expect(await call('saveFile', { path: picked, text: 'name: edited\n' })).toEqual({ ok: true, result: { path: picked } });
    expect(readFileSync(picked, 'utf8')).toBe('name: edited\n');
    // Untitled (path null): the save dialog picks the file, which may then be saved again.
    seen.dialog.save = other;
    expect(await call('saveFile', { path: null, text: 'a' })).toEqual({ ok: true, result: { path: other } });
    expect(await call('saveFile', { path: other, text: 'b' })).toEqual({ ok: true, result: { path: other } });
    expect(readFileSync(other, 'utf8')).toBe('b');
    expect(seen.dialog.saved).toBe(1);
    // A cancelled save dialog writes nothing.
    seen.dialog.save = null;
    expect(await call('saveFile', { path: null, text: 'c' })).toEqual({ ok: true, result: null });
    expect(seen.dialog.proposed).toBe('scenario.yaml');
    // The dialog proposes the document's name (untitled-1.yaml), which grants nothing by itself.
    expect(await call('saveFile', { path: null, text: 'c', name: 'untitled-1.yaml' })).toEqual({ ok: true, result: null });
    expect(seen.dialog.proposed).toBe('untitled-1.yaml');
  });

  it('exportRun streams a run to the file the save dialog picked, proposing its name (issue 9 §3)', async () => {
    const started = await call('startRun', { text: 'name: export me\nviommu: {model: virtio-iommu}\ndevices:\n  - {name: nic0, bdf: "00:03.0"}\nsteps:\n  - attach: {domain: 1, endpoint: nic0}\n', file: 'x.yaml' });
    const runId = (started.result as { runId: number }).runId;
    await vi.waitFor(async () => expect(((await call('getRun', { runId })).result as { status: string }).status).toBe('done'), { timeout: 20_000 });
    const target = join(dir, 'picked-export.json');
    seen.dialog.save = target;
    const saved = seen.dialog.saved;
    const r = await call('exportRun', { runId, format: 'perfetto' });
    expect(r).toEqual({ ok: true, result: { path: target, bytes: readFileSync(target).length } });
    expect(seen.dialog.proposed).toBe(`run-${runId}-export-me.json`);
    expect(seen.dialog.saved).toBe(saved + 1);
    const doc = JSON.parse(readFileSync(target, 'utf8')) as { traceEvents: { name: string; args?: { name?: string } }[] };
    expect(doc.traceEvents.filter((e) => e.name === 'thread_name').map((e) => e.args!.name)).toContain('viommu0 (virtio-iommu)');
    // Cancelled: nothing written; a missing run: an error at /runId, no dialog.
    seen.dialog.save = null;
    expect(await call('exportRun', { runId, format: 'csv' })).toEqual({ ok: true, result: null });
    const missing = await call('exportRun', { runId: 999, format: 'csv' });
    expect(missing).toMatchObject({ ok: false, error: { path: '/runId' } });
    expect(seen.dialog.saved).toBe(saved + 2);
  });

  it('quits with code 2 and one line when its database cannot be used (issue 6 §5.6)', async () => {
    const { openLab } = await import('../../main/index.ts');
    const notDb = join(dir, 'notes.db');
    writeFileSync(notDb, 'not a database at all\n'.repeat(10));
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    let written: unknown[][];
    try {
      expect(openLab(notDb, dir)).toBeNull();
    } finally {
      written = [...stderr.mock.calls];
      stderr.mockRestore();
    }
    const message = `the lab database ${notDb} is not an SQLite database (file is not a database): move it away to start a new one, or choose another file with --db (or IOMMU_LAB_DB)`;
    expect(seen.errorBoxes).toEqual([['IOMMU Lab cannot open its database', message]]);
    expect(written).toEqual([[`iommu-lab: ${message}\n`]]);
    expect(seen.exitCodes).toEqual([2]);
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
