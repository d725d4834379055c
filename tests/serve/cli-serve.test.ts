/**
 * `iommu-lab serve --allow-host` as users type it: a value that is not HOST[:PORT] is a usage
 * error (one line, exit 2) before anything listens. (The accepted hosts themselves are checked in
 * server.test.ts through startServer's allowHosts.)
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';

const BIN = path.resolve(import.meta.dirname, '..', '..', 'main', 'cli', 'iommu-lab.js');

it('serve --allow-host refuses a value that is not HOST[:PORT] with exit code 2', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommu-lab-serve-cli-'));
  try {
    const r = spawnSync(process.execPath, [BIN, 'serve', '--db', path.join(dir, 'lab.db'), '--allow-host', 'localhost:9000', '--allow-host', 'http://evil/'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('--allow-host "http://evil/" is not HOST[:PORT]');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
