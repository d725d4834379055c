/**
 * electron-vite build for the three runtimes (DESIGN.md §2): the repo keeps `main/`, `preload/` and
 * `renderer/` at its root (not electron-vite's default `src/` layout), so every entry is explicit.
 *
 *  - main     → out/main/index.js (Electron main), out/main/worker.js (the worker_threads host of
 *               the core, spawned by main/service) and out/main/search-worker.js (the events
 *               search scans, main/worker/search-host.ts) and out/main/sql-worker.js (the SQL
 *               console's worker process, main/worker/sql-host.ts). Dependencies (better-sqlite3, ws, yaml, …) stay
 *               external and load from node_modules at run time.
 *  - preload  → out/preload/index.cjs: one CommonJS file, because a sandboxed preload can neither
 *               be an ES module nor `require` anything but `electron`.
 *  - renderer → out/renderer/ (index.html + assets) with Vue and Monaco; `base: './'` so the same
 *               build loads from Electron's app:// protocol and from `iommu-lab serve` over http.
 *
 * Monaco: monaco-yaml's worker imports `monaco-editor/esm/vs/editor/editor.worker.js` (the layout of
 * monaco-editor < 0.55); 0.57's package `exports` maps that specifier to a file that does not exist,
 * so the alias below points every `monaco-editor/esm/vs/…` deep import at the real file. The other
 * half of the adapter (0.57's createWebWorker takes a Worker, not a module id) lives in
 * renderer/src/editor/monaco.ts.
 *
 * Fuses: after the main build, `electronFuses` flips the security checklist's fuses
 * (main/electron-fuses.ts UNPACKED_FUSES) into the Electron binary `npm start` / `npm run dev`
 * launch, when that binary is installed (it is fetched lazily; without it nothing is flipped).
 * A packaged build must flip LAB_FUSES (the asar ones too) into its copy of the binary.
 */
import { resolve } from 'node:path';
import { defineConfig } from 'electron-vite';
import type { Plugin } from 'vite';
import vue from '@vitejs/plugin-vue';
import { flipUnpackedFuses } from './main/electron-fuses.ts';

const root = import.meta.dirname;
const monacoEsm = resolve(root, 'node_modules/monaco-editor/esm/vs');

/** Flips the Electron fuses into node_modules/electron's binary once the main build is written. */
export function electronFuses(electronDir = resolve(root, 'node_modules/electron')): Plugin {
  return {
    name: 'iommu-lab:electron-fuses',
    apply: 'build',
    async closeBundle() {
      await flipUnpackedFuses(electronDir);
    },
  };
}

export default defineConfig({
  main: {
    plugins: [electronFuses()],
    build: {
      outDir: resolve(root, 'out/main'),
      externalizeDeps: { include: ['better-sqlite3'] },
      rolldownOptions: {
        input: {
          index: resolve(root, 'main/index.ts'),
          worker: resolve(root, 'main/worker/worker.ts'),
          'search-worker': resolve(root, 'main/worker/search-worker.ts'),
          'sql-worker': resolve(root, 'main/worker/sql-worker.ts'),
        },
        output: { entryFileNames: '[name].js' },
      },
    },
  },
  preload: {
    build: {
      outDir: resolve(root, 'out/preload'),
      // Bundle everything: a sandboxed preload can only require('electron').
      externalizeDeps: false,
      rolldownOptions: {
        input: { index: resolve(root, 'preload/index.ts') },
        output: { format: 'cjs', entryFileNames: '[name].cjs', codeSplitting: false },
      },
    },
  },
  renderer: {
    root: resolve(root, 'renderer'),
    base: './',
    plugins: [vue()],
    resolve: {
      alias: [{ find: /^monaco-editor\/esm\/vs\/(.*)$/, replacement: `${monacoEsm}/$1` }],
    },
    worker: { format: 'es' },
    build: {
      outDir: resolve(root, 'out/renderer'),
      emptyOutDir: true,
      // electron-vite leaves the renderer unminified; Monaco alone is 7.6 MB that way, 4 MB minified.
      minify: true,
      chunkSizeWarningLimit: 6000,
      rolldownOptions: { input: { index: resolve(root, 'renderer/index.html') } },
    },
  },
});
