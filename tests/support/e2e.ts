/**
 * The end-to-end tests' common set-up: the built UI (out/renderer; built once here when a bare
 * `vitest run tests/e2e/…` finds none — `npm test` builds first) served by `iommu-lab serve`'s
 * server on 127.0.0.1 and an ephemeral port, over a lab in a fresh temporary folder, and one page
 * of headless Chromium (tests/support/browser.ts) at 1280×720 that records its page errors.
 * Screenshots go to SHOTS (.tmp/ui-shots, gitignored).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { startServer, type RunningServer } from '../../main/serve/server.ts';
import { LabService } from '../../main/service/lab-service.ts';
import { launchBrowser } from './browser.ts';

export const ROOT = resolve(import.meta.dirname, '../..');
export const RENDERER = join(ROOT, 'out/renderer');
export const SHOTS = join(ROOT, '.tmp/ui-shots');
/** The CLI (to prepare a database the way a user would). */
export const BIN = join(ROOT, 'main', 'cli', 'iommu-lab.js');

/** A lab served to a browser page (startE2eLab). */
export interface E2eLab {
  /** The temporary folder: the database is `dir/lab.db`. */
  dir: string;
  service: LabService;
  server: RunningServer;
  browser: Browser;
  page: Page;
  /** Messages of the page's uncaught errors, in order. */
  pageErrors: string[];
  /** Closes the browser, the server and the service, and removes the folder. */
  close(): Promise<void>;
}

/** Options of startE2eLab. */
export interface E2eLabOptions {
  /** Runs first, in the fresh folder (fill the database with the CLI, write examples); returns the examples folder to serve, if not ROOT/examples. */
  prepare?: (dir: string, db: string) => string | void;
  /** Keep a warm run worker (LabServiceOptions.warmRunWorker; default the service's). */
  warmRunWorker?: boolean;
  acceptDownloads?: boolean;
  viewport?: { width: number; height: number };
}

/** Builds the UI when out/renderer has none. */
export function ensureBuilt(): void {
  if (!existsSync(join(RENDERER, 'index.html'))) {
    execFileSync(process.execPath, [join(ROOT, 'node_modules/electron-vite/bin/electron-vite.js'), 'build'], { cwd: ROOT, stdio: 'inherit' });
  }
}

/** Starts the lab (`prefix` names its temporary folder), the server and a browser page on it (not yet opened: `page.goto(lab.server.url)`). */
export async function startE2eLab(prefix: string, opts: E2eLabOptions = {}): Promise<E2eLab> {
  ensureBuilt();
  mkdirSync(SHOTS, { recursive: true });
  const dir = mkdtempSync(join(tmpdir(), `iommu-lab-${prefix}-e2e-`));
  const db = join(dir, 'lab.db');
  const examplesDir = opts.prepare?.(dir, db) ?? join(ROOT, 'examples');
  const service = new LabService({ dbPath: db, examplesDir, ...(opts.warmRunWorker !== undefined ? { warmRunWorker: opts.warmRunWorker } : {}) });
  const server = await startServer({ service, port: 0, rendererDir: RENDERER });
  const browser = await launchBrowser();
  const page = await browser.newPage({ viewport: opts.viewport ?? { width: 1280, height: 720 }, ...(opts.acceptDownloads ? { acceptDownloads: true } : {}) });
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  return {
    dir,
    service,
    server,
    browser,
    page,
    pageErrors,
    async close() {
      await browser.close();
      await server.close();
      await service.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
