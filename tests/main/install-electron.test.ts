/**
 * `npm start` / `npm run dev` first run main/cli/install-electron.js (electron's own idempotent
 * `install-electron` bin, wrapped): an installed binary passes silently; a binary that cannot be
 * fetched gives one sentence naming what is missing and what to run, exit 1, no stack trace.
 * Each test runs against a fresh copy of the electron package (its installer resolves
 * @electron/get from the real node_modules through a symlink) so the project's own copy is untouched
 * and the result does not depend on whether this machine has the binary or internet access.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const SCRIPT = path.join(ROOT, 'main', 'cli', 'install-electron.js');
const ELECTRON = path.join(ROOT, 'node_modules', 'electron');
const VERSION = (JSON.parse(fs.readFileSync(path.join(ELECTRON, 'package.json'), 'utf8')) as { version: string }).version;

let dir: string;
let pkg: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommu-lab-electron-'));
  const modules = path.join(dir, 'node_modules');
  pkg = path.join(modules, 'electron');
  fs.mkdirSync(pkg, { recursive: true });
  for (const f of ['package.json', 'install.js', 'checksums.json']) fs.copyFileSync(path.join(ELECTRON, f), path.join(pkg, f));
  for (const scope of ['@electron', '@electron-internal']) {
    if (fs.existsSync(path.join(ROOT, 'node_modules', scope))) fs.symlinkSync(path.join(ROOT, 'node_modules', scope), path.join(modules, scope));
  }
});

afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function run(): { code: number | null; stdout: string; stderr: string } {
  // A mirror that refuses connections and an empty cache: the download fails fast, online or not.
  const env = { ...process.env, ELECTRON_MIRROR: 'http://127.0.0.1:9/', electron_config_cache: path.join(dir, 'cache'), ELECTRON_OVERRIDE_DIST_PATH: '' };
  const r = spawnSync(process.execPath, [SCRIPT, pkg], { encoding: 'utf8', env, timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('install-electron wrapper (npm start, npm run dev)', () => {
  it('says in one sentence what is missing and what to run when the binary cannot be fetched', () => {
    const r = run();
    expect(r.code).toBe(1);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`The Electron ${VERSION} binary is not installed and could not be downloaded`);
    expect(lines[0]).toContain('npx install-electron');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(fs.existsSync(path.join(pkg, 'path.txt'))).toBe(false);
  });

  it('passes silently when the binary is already installed (idempotent, no download)', () => {
    fs.mkdirSync(path.join(pkg, 'dist'));
    fs.writeFileSync(path.join(pkg, 'dist', 'version'), VERSION);
    fs.writeFileSync(path.join(pkg, 'dist', 'electron'), '');
    fs.writeFileSync(path.join(pkg, 'path.txt'), 'electron');
    const r = run();
    expect(r).toMatchObject({ code: 0, stderr: '' });
  });

  it('runs before electron-vite in npm start and npm run dev', () => {
    const scripts = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    expect(scripts.start).toBe('node main/cli/install-electron.js && electron-vite preview');
    expect(scripts.dev).toBe('node main/cli/install-electron.js && electron-vite dev');
  });
});
