/**
 * Electron main: one window, the lab service, and the IPC side of the contract. Kept thin on purpose
 * (DESIGN.md §3: the Electron binary is not available on the project's machines, so everything but
 * this file runs and is tested under plain Node).
 *
 * Security (STYLE.md §7): contextIsolation + sandbox, no nodeIntegration, webSecurity on, a strict
 * CSP on every renderer response, navigation and new windows denied. The renderer is served from a
 * privileged `app://lab/` scheme (standard + secure) instead of file:// so that `'self'` in the CSP
 * and Monaco's module workers have a real origin.
 */
import { app, BrowserWindow, dialog, ipcMain, net, protocol, session, type IpcMainInvokeEvent } from 'electron';
import { readFile, writeFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ContractError, validateParams, type LabApi, type NotificationName, type Results } from '../core/contract/index.ts';
import { LabService } from './service/lab-service.ts';
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

/** Serves out/renderer under app://lab/, refusing anything outside it. */
function serveRenderer(): void {
  protocol.handle(SCHEME, async (request) => {
    const url = new URL(request.url);
    const rel = decodeURIComponent(url.pathname).replace(/^\/+/, '') || 'index.html';
    const file = resolve(rendererDir, rel);
    const inside = relative(rendererDir, file);
    if (url.host !== 'lab' || inside.startsWith('..') || isAbsolute(inside)) {
      return new Response('forbidden', { status: 403 });
    }
    // net.fetch rejects for a missing file (net::ERR_FILE_NOT_FOUND): answer 404 instead.
    const res = await net.fetch(pathToFileURL(file).toString()).catch(() => new Response('not found', { status: 404 }));
    const headers = new Headers(res.headers);
    headers.set('Content-Security-Policy', RENDERER_CSP);
    headers.set('X-Content-Type-Options', 'nosniff');
    return new Response(res.body, { status: res.status, headers });
  });
}

/**
 * Desktop file access for openFile/saveFile. saveFile writes silently only to a path this session
 * got from a native dialog; any other path goes through the save dialog again, so a compromised
 * renderer cannot write arbitrary files.
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

  async save(path: string | null, text: string): Promise<Results['saveFile']> {
    let target = path !== null && this.granted.has(path) ? path : null;
    if (target === null) {
      const win = this.window();
      const opts = { defaultPath: path ?? 'scenario.yaml', filters: [{ name: 'Scenarios', extensions: ['yaml', 'yml'] }] };
      const picked = win ? await dialog.showSaveDialog(win, opts) : await dialog.showSaveDialog(opts);
      if (picked.canceled || !picked.filePath) return null;
      target = picked.filePath;
      this.granted.add(target);
    }
    await writeFile(target, text, 'utf8');
    return { path: target };
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
  const devUrl = process.env.ELECTRON_RENDERER_URL;
  if (!app.isPackaged && devUrl) void win.loadURL(devUrl);
  else void win.loadURL(`${RENDERER_ORIGIN}/index.html`);
  return win;
}

/** True for a frame of our renderer (app://lab/ or, unpackaged, the electron-vite dev server). */
function trustedFrame(url: string | undefined): boolean {
  if (!url) return false;
  const devUrl = process.env.ELECTRON_RENDERER_URL;
  return url.startsWith(`${RENDERER_ORIGIN}/`) || (!app.isPackaged && !!devUrl && url.startsWith(devUrl));
}

/** Wires `lab:call` and the notifications to one LabApi; returns the disposer. */
function bindIpc(service: LabApi, files: DesktopFiles): () => void {
  ipcMain.handle('lab:call', async (e: IpcMainInvokeEvent, method: unknown, params: unknown) => {
    // Only our own window, on our own origin (or the dev server), may call.
    if (!mainWindow || e.sender !== mainWindow.webContents || !trustedFrame(e.senderFrame?.url)) {
      return { ok: false, error: { message: 'lab:call refused: unknown sender', path: '' } };
    }
    try {
      const call = validateParams(method, params);
      let result: unknown;
      if (call.method === 'openFile') result = await files.open();
      else if (call.method === 'saveFile') {
        const p = call.params as { path: string | null; text: string };
        result = await files.save(p.path, p.text);
      } else result = await service.call(call.method, call.params);
      return { ok: true, result };
    } catch (err) {
      const path = err instanceof ContractError ? err.path : '';
      return { ok: false, error: { message: err instanceof Error ? err.message : String(err), path } };
    }
  });
  const names: NotificationName[] = ['runProgress', 'runFinished'];
  const unsubs = names.map((name) =>
    service.listen(name, (payload) => {
      if (mainWindow && !mainWindow.isDestroyed()) mainWindow.webContents.send('lab:event', name, payload);
    }),
  );
  return () => {
    ipcMain.removeHandler('lab:call');
    for (const u of unsubs) u();
  };
}

app.on('web-contents-created', (_e, contents) => {
  contents.on('will-attach-webview', (e) => e.preventDefault());
  contents.setWindowOpenHandler(() => ({ action: 'deny' }));
});

void app.whenReady().then(() => {
  serveRenderer();
  // Also enforce the CSP on anything the renderer session loads outside app:// (dev server).
  session.defaultSession.webRequest.onHeadersReceived((details, cb) => {
    cb({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [RENDERER_CSP] } });
  });
  session.defaultSession.setPermissionRequestHandler((_wc, _perm, cb) => cb(false));

  const service = new LabService({ dbPath: defaultDbPath(), examplesDir: join(app.getAppPath(), 'examples') });
  const files = new DesktopFiles(() => mainWindow);
  const unbind = bindIpc(service, files);
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
