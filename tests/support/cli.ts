/**
 * Running the `iommu-lab` command as a user does, in a child process (main/cli/iommu-lab.js under
 * the same Node), for the CLI tests.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const BIN = path.join(ROOT, 'main', 'cli', 'iommu-lab.js');

/** Exit code (-1 when killed by a signal), stdout and stderr of one command. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `iommu-lab <args> --db <db>` in `cwd` (output up to 256 MiB). */
export function runCli(args: readonly string[], db: string, cwd: string): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args, '--db', db], { cwd, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
