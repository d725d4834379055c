/**
 * What every `iommu-lab` command shares: exit codes, the output streams, user errors, argument
 * parsers (run ids, integers, kinds), opening the lab, and printing (JSON and escaped text).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError } from 'commander';
import { EVENT_KINDS } from '../../core/events/catalog.ts';
import { LabService } from '../service/lab-service.ts';
import { defaultDbPath } from '../store/paths.ts';
import { bigintReplacer } from '../store/codec.ts';
import { escapeJsonOutput, escapeLines } from './escape.ts';

/**
 * Exit codes of the CLI: 0 success; 1 an expectation failed, or the run failed or was cancelled;
 * 2 invalid input (bad flags or run ids, unreadable files, scenario diagnostics, a missing run, a
 * run that may not be removed); 130 interrupted by SIGINT (Ctrl-C), 143 by SIGTERM (128 + signal).
 */
export const EXIT = { OK: 0, FAILED: 1, INVALID: 2, INTERRUPTED: 130, TERMINATED: 143 } as const;

/** Where the CLI writes (parameters for tests). */
export interface CliIO {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

/** A user-input problem: printed as "iommu-lab: message", exit 2. */
export class UsageError extends Error {}

/** Root of the repository (package.json, examples/). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The examples shipped with the project (<repo>/examples). */
export function examplesDir(): string {
  return path.join(ROOT, 'examples');
}

/** The package version (package.json "version"). */
export function packageVersion(): string {
  return (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

/** Parser of an integer option ≥ `min`, decimal or 0x hex. */
export const int =
  (what: string, min = 0) =>
  (v: string): number => {
    const n = /^0x[0-9a-f]+$/i.test(v) ? parseInt(v, 16) : /^\d+$/.test(v) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`${what} must be an integer ≥ ${min} (decimal or 0x…), got "${v}"`);
    return n;
  };

/**
 * Parser of a run id argument: a positive decimal integer, as `iommu-lab runs` lists them. Anything
 * else ("x", "0", "-1", "1.5", "1e3", "") is an InvalidArgumentError (exit 2 with the message).
 */
export function parseRunId(v: string): number {
  const n = /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('a run id is a positive integer (see `iommu-lab runs`)');
  return n;
}

/** Parser of a variadic run id argument (commander passes the ids parsed so far). */
export function collectRunIds(v: string, prev: number[] | undefined): number[] {
  return [...(prev ?? []), parseRunId(v)];
}

/** Parser of `--kind`: catalog kind names, repeated or comma-separated. */
export function kindArg(v: string, prev: string[] = []): string[] {
  const out = [...prev];
  for (const k of v.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (!(EVENT_KINDS as readonly string[]).includes(k)) throw new InvalidArgumentError(`unknown event kind "${k}" (kinds: ${EVENT_KINDS.join(', ')})`);
    out.push(k);
  }
  return out;
}

/** JSON output text (u64 as "0x…"; C1/bidi controls escaped as \uNNNN), newline-terminated. */
export function json(value: unknown): string {
  return escapeJsonOutput(JSON.stringify(value, bigintReplacer, 2)) + '\n';
}

/** Writes human text (untrusted strings inside) with control characters escaped, line feeds kept. */
export function print(stream: NodeJS.WritableStream, text: string): void {
  stream.write(escapeLines(text));
}

/**
 * The lab for one command; `warm` (serve) keeps a standby run worker for the next Run; `readOnly`
 * (commands that only read) opens the database without writing anything, so they work on a full
 * disk or a read-only file. Errors: LabDatabaseError (main/store/errors.ts) for an unusable database.
 */
export function openService(db: string | undefined, warm = false, readOnly = false): LabService {
  return new LabService({ dbPath: db ?? defaultDbPath(), examplesDir: examplesDir(), warmRunWorker: warm, readOnly });
}
