// The run worker's fault hooks live only in tests (tests/support/worker-hooks.ts, passed as a run's
// testHooks): no production source reads an IOMMU_LAB_TEST_* variable or imports from tests/, so
// neither the CLI nor the electron-vite build carries test logic. The hooks themselves are exercised
// by the crash tests (host.test.ts, service.test.ts) and the full-disk test (store-failures.test.ts).
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { testHooks, workerHooks } from '../support/worker-hooks.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

function sources(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.(ts|vue|js)$/.test(f) && !f.includes('node_modules'))
    .map((f) => path.join(dir, f));
}

describe('test-only worker hooks', () => {
  it('no production source reads a test variable or imports tests/', () => {
    const offending = ['core', 'main', 'preload', 'renderer/src']
      .flatMap(sources)
      .filter((f) => /IOMMU_LAB_TEST_|from '[^']*\/tests\/|import\('[^']*\/tests\//.test(fs.readFileSync(path.join(ROOT, f), 'utf8')));
    expect(offending).toEqual([]);
  });

  it('testHooks names this module, and the hooks do nothing unless asked', () => {
    const spec = testHooks({ crashAfterCommits: 2 });
    expect(spec).toEqual({ module: new URL('../support/worker-hooks.ts', import.meta.url).href, options: { crashAfterCommits: 2 } });
    const calls: number[] = [];
    const hooks = workerHooks({});
    hooks.onWriterOpen?.({ setMaxPageCount: (n: number) => calls.push(n) } as never);
    hooks.afterCommit?.(1_000_000); // no crash configured: returns
    expect(calls).toEqual([]);
    workerHooks({ maxPageCount: 77 }).onWriterOpen?.({ setMaxPageCount: (n: number) => calls.push(n) } as never);
    expect(calls).toEqual([77]);
  });
});
