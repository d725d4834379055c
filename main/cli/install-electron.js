#!/usr/bin/env node
// `npm start` / `npm run dev` run this first: Electron >= 42 downloads its binary lazily, but
// electron-vite reads node_modules/electron/path.txt itself and fails with "Electron uninstall"
// when the binary was never fetched. So this runs electron's own idempotent `install-electron` bin
// (node_modules/electron/install.js: exits at once when the binary is there, downloads it otherwise)
// and, when the binary cannot be fetched, says in one sentence what is missing and what to run,
// instead of @electron/get's stack trace. Exit 0 when the binary is installed, 1 otherwise.
//
// Usage: node main/cli/install-electron.js [ELECTRON_PACKAGE_DIR]
//   ELECTRON_PACKAGE_DIR defaults to the `electron` package this project resolves (tests pass a
//   fresh copy). ELECTRON_MIRROR and electron_config_cache are honoured by electron's installer.
// Plain JS on purpose: it runs before anything is built, under plain Node.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const electronDir = process.argv[2] ?? dirname(require.resolve('electron/package.json'));
const { version } = JSON.parse(readFileSync(join(electronDir, 'package.json'), 'utf8'));

const result = spawnSync(process.execPath, [join(electronDir, 'install.js')], {
  stdio: ['ignore', 'inherit', 'pipe'],
  encoding: 'utf8',
});
if (result.status === 0) process.exit(0);

// The installer prints err.stack; keep its first line (e.g. "TypeError: fetch failed", or a
// checksum or HTTP 404 message) as the reason.
const reason = (result.error?.message ?? result.stderr ?? '').split('\n').map((l) => l.trim()).find((l) => l !== '') ?? `exit code ${result.status}`;
process.stderr.write(
  `The Electron ${version} binary is not installed and could not be downloaded (${reason}): ` +
    'connect to the internet (or set ELECTRON_MIRROR) and run `npx install-electron`, then `npm start` again; ' +
    'the iommu-lab CLI, `iommu-lab serve` and the tests work without it.\n',
);
process.exit(1);
