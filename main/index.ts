/**
 * Electron main: one window, the lab service, and the IPC side of the contract. Kept thin on purpose
 * (DESIGN.md §3: the Electron binary is not available on the project's machines, so everything but
 * this file runs and is tested under plain Node).
 *
 * Security (STYLE.md §7, Electron's security checklist): contextIsolation + sandbox, no
 * nodeIntegration, webSecurity on, a strict CSP on every renderer response, navigation and new
 * windows denied, every permission request and check and every device (HID, serial, USB) permission
 * denied, IPC answered only for our window's frames on our exact origin, saveFile writing only to
 * files the user picked in a dialog (exportRun too: its save dialog), and the binary's fuses flipped by the build
 * (electron-fuses.ts). The renderer is served from a privileged `app://lab/` scheme (standard +
 * secure) instead of file:// so that `'self'` in the CSP and Monaco's module workers have a real
 * origin; a file is served only when its real path (symlinks resolved) is inside the build.
 */
import { app, BrowserWindow, dialog, ipcMain, net, protocol, session, utilityProcess, type IpcMainInvokeEvent } from 'electron';
import { readFile, realpath, writeFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { LabApi, Results } from '../core/contract/index.ts';
import { exportRunToPickedFile } from './service/export.ts';
import { serveContract, type ContractReply } from './service/serve-contract.ts';
import { LabService } from './service/lab-service.ts';
import { electronSqlSpawner } from './service/sql.ts';
import { LabDatabaseError } from './store/errors.ts';
import { defaultDbPath } from './store/paths.ts';

/** CSP for every renderer page (Monaco needs inline styles; its workers load from 'self'). */
export const RENDERER_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "worker-src 'self' blob:",
  "style-src 'self' 'unsafe-inline'",
  "font-src 'self' data:",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const SCHEME = 'app';
const RENDERER_ORIGIN = `${SCHEME}://lab`;

protocol.registerSchemesAsPrivileged([
  { scheme: SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } },
]);

const rendererDir = join(import.meta.dirname, '../renderer');
const preloadPath = join(import.meta.dirname, '../preload/index.cjs');

function inside(root: string, file: string): boolean {
  const rel = relative(root, file);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

/**
 * The answer to an `app://lab/…` request for a file of the build in `root`: 400 for a path that
 * does not decode (a malformed `%` escape) or holds a NUL, 403 for another host or a path leading
 * outside `root` (`..`, or a symlink whose real path is outside root's real path), 404 for a
 * missing file, else the file with the renderer CSP.
 */
export async function rendererResponse(root: string, requestUrl: string): Promise<Response> {
  const text = (status: number, body: string): Response => new Response(body, { status, headers: { 'Content-Type': 'text/plain; charset=utf-8' } });
  const url = new URL(requestUrl);
  if (url.host !== 'lab') return text(403, 'forbidden');
  let path: string;
  try {
    path = decodeURIComponent(url.pathname);
  } catch {
    return text(400, 'bad request: malformed percent-encoding');
  }
  if (path.includes('\0')) return text(400, 'bad request');
  const file = resolve(root, path.replace(/^\/+/, '') || 'index.html');
  if (!inside(root, file)) return text(403, 'forbidden');
  const [rootReal, real] = await Promise.all([realpath(root), realpath(file).catch(() => null)]);
  if (real === null) return text(404, 'not found');
  if (!inside(rootReal, real)) return text(403, 'forbidden');
  // net.fetch rejects for a missing file (net::ERR_FILE_NOT_FOUND): answer 404 instead.
  const res = await net.fetch(pathToFileURL(real).toString()).catch(() => text(404, 'not found'));
  const headers = new Headers(res.headers);
  headers.set('Content-Security-Policy', RENDERER_CSP);
  headers.set('X-Content-Type-Options', 'nosniff');
  return new Response(res.body, { status: res.status, headers });
}

/** Serves out/renderer under app://lab/, refusing anything outside it. */
function serveRenderer(): void {
  protocol.handle(SCHEME, (request) => rendererResponse(rendererDir, request.url));
}

/**
 * Desktop file access for openFile/saveFile. saveFile with a path writes only to a file the user
 * picked in this session's open or save dialog (the document's own file); any other path is refused
 * with an error, so a compromised renderer cannot write arbitrary files. saveFile with path null
 * (an untitled document, Save As) asks with the save dialog.
 */
class DesktopFiles {
  private readonly granted = new Set<string>();

  constructor(private readonly window: () => BrowserWindow | null) {}

  async open(): Promise<Results['openFile']> {
    const win = this.window();
    const opts = { properties: ['openFile' as const], filters: [{ name: 'Scenarios', extensions: ['yaml', 'yml'] }, { name: 'All files', extensions: ['*'] }] };
    const picked = win ? await dialog.showOpenDialog(win, opts) : await dialog.showOpenDialog(opts);
    if (picked.canceled || picked.filePaths.length === 0) return null;
    const path = picked.filePaths[0];
    this.granted.add(path);
    return { path, text: await readFile(path, 'utf8') };
  }

  /** Writes `text` to `path`, or (path null) to the file the save dialog picks, proposing `suggested`. */
  async save(path: string | null, text: string, suggested?: string): Promise<Results['saveFile']> {
    if (path !== null && !this.granted.has(path)) {
      throw new Error(`saveFile refused: ${path} was not opened or chosen in a file dialog in this window; use Save As to pick a file`);
    }
    let target = path;
    if (target === null) {
      const win = this.window();
      const opts = { defaultPath: suggested || 'scenario.yaml', filters: [{ name: 'Scenarios', extensions: ['yaml', 'yml'] }] };
      const picked = win ? await dialog.showSaveDialog(win, opts) : await dialog.showSaveDialog(opts);
      if (picked.canceled || !picked.filePath) return null;
      target = picked.filePath;
      this.granted.add(target);
    }
    await writeFile(target, text, 'utf8');
    return { path: target };
  }

  /** The save dialog for exportRun (main/service/export.ts writes the file, atomically). */
  async pickExport(defaultName: string, filter: { name: string; extensions: string[] }): Promise<string | null> {
    const win = this.window();
    const opts = { defaultPath: defaultName, filters: [filter, { name: 'All files', extensions: ['*'] }] };
    const picked = win ? await dialog.showSaveDialog(win, opts) : await dialog.showSaveDialog(opts);
    return picked.canceled || !picked.filePath ? null : picked.filePath;
  }
}

let mainWindow: BrowserWindow | null = null;

function createWindow(): BrowserWindow {
  const win = new BrowserWindow({
    width: 1600,
    height: 1000,
    minWidth: 1000,
    minHeight: 640,
    backgroundColor: '#1e1e1e',
    title: 'IOMMU Lab',
    show: false,
    webPreferences: {
      preload: preloadPath,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      spellcheck: false,
    },
  });
  win.once('ready-to-show', () => win.show());
  win.webContents.on('will-navigate', (e) => e.preventDefault());
  win.webContents.on('will-redirect', (e) => e.preventDefault());
  win.webContents.setWindowOpenHandler(() => ({ action: 'deny' }));
  // The renderer cancels unload while its document has unsaved edits (beforeunload); Electron then
  // closes nothing and asks nobody, so ask here, as a browser does. preventDefault = leave anyway.
  win.webContents.on('will-prevent-unload', (e) => {
    const choice = dialog.showMessageBoxSync(win, {
      type: 'question',
      buttons: ['Leave', 'Stay'],
      defaultId: 1,
      cancelId: 1,
      title: 'Unsaved changes',
      message: 'The scenario has unsaved changes.',
      detail: 'Leave and discard them?',
    });
    if (choice === 0) e.preventDefault();
  });
  const devUrl = process.env.ELECTRON_RENDERER_URL;
  if (!app.isPackaged && devUrl) void win.loadURL(devUrl);
  else void win.loadURL(`${RENDERER_ORIGIN}/index.html`);
  return win;
}

/** The origin of `url` ("scheme://host[:port]"), or null when it does not parse. */
function originOf(url: string): string | null {
  try {
    const u = new URL(url);
    // URL.origin is "null" for non-special schemes such as app:, so build it for every scheme.
    return u.host === '' ? null : `${u.protocol}//${u.host}`;
  } catch {
    return null;
  }
}

/**
 * True for a frame of our renderer: exactly the origin app://lab or, unpackaged, exactly the
 * electron-vite dev server's origin (whole origins: http://localhost:5173.evil.example is not
 * http://localhost:5173).
 */
function trustedFrame(url: string | undefined): boolean {
  if (!url) return false;
  const origin = originOf(url);
  if (origin === null) return false;
  const devUrl = process.env.ELECTRON_RENDERER_URL;
  return origin === RENDERER_ORIGIN || (!app.isPackaged && !!devUrl && origin === originOf(devUrl));
}

/**
 * Serves the contract to our window over IPC (`lab:call` invoke, `lab:event` sends) through
 * serveContract; openFile/saveFile go to the desktop dialogs. Returns the disposer (removes the
 * handler, unsubscribes the notifications).
 */
function bindIpc(service: LabApi, files: DesktopFiles, dbPath: string): () => void {
  const closers: (() => void)[] = [];
  serveContract(
    service,
    {
      onCall(handler) {
        ipcMain.handle('lab:call', (e: IpcMainInvokeEvent, method: unknown, params: unknown): Promise<ContractReply> => {
          // Only our own window, on our own origin (or the dev server), may call.
          if (!mainWindow || e.sender !== mainWindow.webContents || !trustedFrame(e.senderFrame?.url)) {
            return Promise.resolve({ ok: false, error: { message: 'lab:call refused: unknown sender', path: '' } });
          }
          return handler(method, params);
        });
        closers.push(() => ipcMain.removeHandler('lab:call'));
      },
      notify(name, payload) {
        if (mainWindow && !mainWindow.isDestroyed()) mainWindow.webContents.send('lab:event', name, payload);
      },
      onClose(cb) {
        closers.push(cb);
      },
    },
    {
      openFile: () => files.open(),
      saveFile: (p) => files.save(p.path, p.text, p.name),
      exportRun: (p) => exportRunToPickedFile(service, dbPath, p, (name, filter) => files.pickExport(name, filter)),
    },
  );
  return () => {
    for (const c of closers.splice(0)) c();
  };
}

app.on('web-contents-created', (_e, contents) => {
  contents.on('will-attach-webview', (e) => e.preventDefault());
  contents.setWindowOpenHandler(() => ({ action: 'deny' }));
});

/**
 * The lab service on `dbPath`, or null when its database cannot be used (a LabDatabaseError:
 * damaged, not a database, read-only, full, …): then the one-line reason goes to stderr and to an
 * error box, and the app quits with exit code 2 (as the CLI does). Other errors propagate (bugs).
 */
export function openLab(dbPath: string, examplesDir: string): LabService | null {
  try {
    // The SQL console's worker is a utility process (the RunAsNode fuse is off: no child_process.fork of Node).
    return new LabService({ dbPath, examplesDir, sqlSpawner: electronSqlSpawner(() => utilityProcess) });
  } catch (e) {
    if (!(e instanceof LabDatabaseError)) throw e;
    process.stderr.write(`iommu-lab: ${e.message}\n`);
    dialog.showErrorBox('IOMMU Lab cannot open its database', e.message);
    app.exit(2);
    return null;
  }
}

void app.whenReady().then(() => {
  serveRenderer();
  // Also enforce the CSP on anything the renderer session loads outside app:// (dev server).
  session.defaultSession.webRequest.onHeadersReceived((details, cb) => {
    cb({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [RENDERER_CSP] } });
  });
  // The lab needs no permission (camera, notifications, HID, serial, USB, …): deny requests, checks
  // and device access alike.
  session.defaultSession.setPermissionRequestHandler((_wc, _perm, cb) => cb(false));
  session.defaultSession.setPermissionCheckHandler(() => false);
  session.defaultSession.setDevicePermissionHandler(() => false);

  const service = openLab(defaultDbPath(), join(app.getAppPath(), 'examples'));
  if (service === null) return;
  const files = new DesktopFiles(() => mainWindow);
  const unbind = bindIpc(service, files, service.store.path);
  mainWindow = createWindow();
  mainWindow.on('closed', () => {
    mainWindow = null;
  });

  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) mainWindow = createWindow();
  });
  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit();
  });
  app.on('will-quit', () => {
    unbind();
    service.close();
  });
});
