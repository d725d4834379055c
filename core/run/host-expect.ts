/**
 * Checks of the host steps' `expect` (issue 7 §3): an iommufd / vfio call's errno and outputs by
 * kebab-case uAPI name, a host DMA's outcome, a device-add's error. Values compare in their JSON
 * form (u64 as lowercase "0x…", numbers as numbers): an expected 0x4000 equals an output 16384.
 */
import type { CallExpectation, DeviceAddExpectation, HostDmaExpectation, OutRef } from '../scenario/model.ts';
import type { ExpectationCheck } from './expect.ts';

/** JSON form of an expected or actual value: integers as "0x…" (so u32 and u64 compare alike), lists and maps element-wise. */
export function normJson(v: unknown): unknown {
  if (typeof v === 'bigint') return '0x' + v.toString(16);
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return '0x' + v.toString(16);
  if (typeof v === 'string' && /^0x[0-9a-f]+$/i.test(v)) return '0x' + BigInt(v).toString(16);
  if (Array.isArray(v)) return v.map(normJson);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normJson(x)]));
  return typeof v === 'string' ? v.toLowerCase() : v;
}

/** True when `actual` has `expected` (maps: only the expected keys; lists: same length, element-wise). */
function matches(expected: unknown, actual: unknown): boolean {
  if (Array.isArray(expected)) return Array.isArray(actual) && expected.length === actual.length && expected.every((x, i) => matches(x, actual[i]));
  if (expected !== null && typeof expected === 'object') return actual !== null && typeof actual === 'object' && Object.entries(expected).every(([k, x]) => matches(x, (actual as Record<string, unknown>)[k]));
  return expected === actual;
}

/** An expected value naming an `out` binding ({ref}: host-model.ts OutRef). */
function isOutRef(v: unknown): v is OutRef {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && typeof (v as { ref?: unknown }).ref === 'string' && Object.keys(v).length === 1;
}

/**
 * Checks a call: `errno` (when given) against the errno name, then each listed output against the
 * call's outputs (`outputs`: by kebab name; an output the call did not write is "absent"). An
 * expected object ID given as an `out` name ({ref}) compares against `value(name)` (the ID it was
 * bound to; 0 when unbound or bound by a failed step) and is shown as "name (0x…)".
 */
export function checkCall(e: CallExpectation, errno: string, outputs: Readonly<Record<string, unknown>>, value: (name: string) => bigint | undefined = () => undefined): ExpectationCheck {
  const problems: string[] = [];
  const expected: Record<string, unknown> = {};
  const actual: Record<string, unknown> = { errno };
  if (e.errno !== undefined) {
    expected.errno = e.errno;
    if (e.errno !== errno) problems.push(`expected ${e.errno}, got ${errno}`);
  }
  const named: Record<string, string> = {};
  for (const [k, v] of Object.entries(e.outputs)) {
    const want = normJson(isOutRef(v) ? (value(v.ref) ?? 0n) : v);
    expected[k] = want;
    if (isOutRef(v)) named[k] = `${v.ref} (${String(want)})`;
    const got = Object.hasOwn(outputs, k) ? normJson(outputs[k]) : undefined;
    actual[k] = got ?? null;
    if (!matches(want, got)) problems.push(`${k}: expected ${named[k] ?? JSON.stringify(want)}, got ${got === undefined ? 'nothing (not written back)' : JSON.stringify(got)}`);
  }
  const shown = Object.keys(expected).map((k) => (k === 'errno' ? String(expected.errno) : `${k}=${named[k] ?? (typeof expected[k] === 'string' ? String(expected[k]) : JSON.stringify(expected[k]))}`));
  return { held: problems.length === 0, expected, actual, message: problems.length ? problems.join('; ') : `${shown.join(' ') || errno} as expected` };
}

/** A host DMA's outcome in JSON: { translated: "0x…" } or { fault: { reason, address } }. */
export type HostDmaJson = { translated: string; stale?: boolean; 'stale-ns'?: number } | { fault: { reason: string; address: string } };

/** Checks a host DMA: translated to the address, or a fault (reason — a substring, any case — and address compared when given). */
export function checkHostDma(e: HostDmaExpectation, v: HostDmaJson): ExpectationCheck {
  let held: boolean;
  let expected: unknown;
  if (e.kind === 'translated') {
    expected = e.stale === undefined ? { translated: '0x' + e.addr.toString(16) } : { translated: '0x' + e.addr.toString(16), stale: e.stale };
    held = 'translated' in v && v.translated === (expected as { translated: string }).translated && (e.stale === undefined || e.stale === (v.stale ?? false));
  } else {
    const f: Record<string, string> = {};
    if (e.reason !== undefined) f.reason = e.reason;
    if (e.address !== undefined) f.address = '0x' + e.address.toString(16);
    expected = { fault: f };
    // The reason matches as a case-insensitive substring ('unmapped', 'write-denied' ~ 'denied').
    held = 'fault' in v && (e.reason === undefined || v.fault.reason.toLowerCase().includes(e.reason.toLowerCase())) && (f.address === undefined || v.fault.address === f.address);
  }
  return { held, expected, actual: v, message: held ? `host DMA ${JSON.stringify(v)} as expected` : `expected ${JSON.stringify(expected)}, got ${JSON.stringify(v)}` };
}

/** Checks a device-add: OK, or an error whose message contains the expected text. */
export function checkDeviceAdd(e: DeviceAddExpectation, error: string | null): ExpectationCheck {
  const actual = error === null ? 'OK' : { error };
  if (e.kind === 'ok') return { held: error === null, expected: 'OK', actual, message: error === null ? 'device added as expected' : `expected OK, got: ${error}` };
  const held = error !== null && error.includes(e.error);
  return { held, expected: { error: e.error }, actual, message: held ? `device_add failed as expected: ${error}` : error === null ? `expected an error containing "${e.error}", but the device was added` : `expected an error containing "${e.error}", got: ${error}` };
}
