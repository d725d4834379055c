/**
 * Step outcomes in their JSON form (StepResult.outcome, `expectation` event details) and the
 * comparison of a step's `expect` against them.
 *
 * JSON forms (u64 as lowercase "0x…" strings):
 * - probe:   { regions: [{ subtype: 'msi' | 'reserved' | n, start, end }] }
 * - dma:     { translated: '0x…' } | { fault: { reason, flags: ['read'|'write'|'address'…], address } }
 *            | { bypass: true } | { msi: true }
 * - config:  { config: { pageSizeMask, inputRange: [s, e], domainRange: [s, e], probeSize, bypass } }
 * - workload: { iterations, requests: { TYPE: { STATUS: n } }, translations, faults, failedRequests }
 */
import type { ConfigExpectation, DmaExpectation, ProbeExpectation, StatusExpectation, WorkloadExpectation } from '../scenario/model.ts';
import { faultReasonName } from '../events/format.ts';

/** The result of checking one `expect`. `expected` / `actual` are JSON values. */
export interface ExpectationCheck {
  held: boolean;
  expected: unknown;
  actual: unknown;
  message: string;
}

/** Lowercase "0x…" text of a u64. */
export const hex = (v: bigint | number): string => '0x' + v.toString(16);

/** One RESV_MEM region as decoded from a PROBE reply. */
export interface RegionValue {
  subtype: number;
  start: bigint;
  end: bigint;
}

/** Config space values as decoded (virtio spec §5.13.4). */
export interface ConfigValue {
  pageSizeMask: bigint;
  inputRange: [bigint, bigint];
  domainRange: [number, number];
  probeSize: number;
  bypass: number;
}

/** What a DMA access did. */
export type DmaValue =
  /** `stale`: the access went through a mapping the guest had unmapped (lazy window; issue 8). */
  | { kind: 'translated'; phys: bigint; stale?: boolean; staleNs?: number }
  | { kind: 'bypass' }
  | { kind: 'msi' }
  | { kind: 'fault'; reason: number; flags: number; address: bigint };

const subtypeJson = (s: number): string | number => (s === 1 ? 'msi' : s === 0 ? 'reserved' : s);

/** JSON form of PROBE regions. */
export function regionsJson(regions: readonly RegionValue[]): { subtype: string | number; start: string; end: string }[] {
  return regions.map((r) => ({ subtype: subtypeJson(r.subtype), start: hex(r.start), end: hex(r.end) }));
}

/** Fault flag names in expect syntax: read (0x1), write (0x2), address (0x100), plus "0x…" for others. */
export function faultFlagNames(flags: number): string[] {
  const out: string[] = [];
  if (flags & 0x1) out.push('read');
  if (flags & 0x2) out.push('write');
  if (flags & 0x100) out.push('address');
  const rest = flags & ~0x103;
  if (rest) out.push(hex(rest >>> 0));
  return out;
}

/** JSON form of a DMA outcome. */
export function dmaJson(v: DmaValue | DmaExpectation): unknown {
  switch (v.kind) {
    case 'translated': {
      const t: Record<string, unknown> = { translated: hex(v.phys) };
      if (v.stale !== undefined) t.stale = v.stale;
      if ('staleNs' in v && v.staleNs !== undefined) t['stale-ns'] = v.staleNs;
      return t;
    }
    case 'bypass':
      return { bypass: true };
    case 'msi':
      return { msi: true };
    case 'fault': {
      const f: Record<string, unknown> = { reason: faultReasonName(v.reason) };
      if (v.flags !== undefined) f.flags = faultFlagNames(v.flags);
      if (v.address !== undefined) f.address = hex(v.address);
      return { fault: f };
    }
  }
}

/** JSON form of config values (all fields, or only those present in an expectation). */
export function configJson(c: Partial<ConfigValue> | ConfigExpectation): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (c.pageSizeMask !== undefined) out.pageSizeMask = hex(c.pageSizeMask);
  if (c.inputRange !== undefined) out.inputRange = [hex(c.inputRange[0]), hex(c.inputRange[1])];
  if (c.domainRange !== undefined) out.domainRange = [c.domainRange[0], c.domainRange[1]];
  if (c.probeSize !== undefined) out.probeSize = c.probeSize;
  if (c.bypass !== undefined) out.bypass = c.bypass;
  return out;
}

/** Checks a request status. */
export function checkStatus(e: StatusExpectation, actual: string): ExpectationCheck {
  const held = e.status === actual;
  return { held, expected: e.status, actual, message: held ? `status ${actual} as expected` : `expected status ${e.status}, got ${actual}` };
}

/** Checks a PROBE reply: the status and/or the full region list (same order, same values). */
export function checkProbe(e: ProbeExpectation, status: string, regions: readonly RegionValue[]): ExpectationCheck {
  const problems: string[] = [];
  if (e.status !== undefined && e.status !== status) problems.push(`expected status ${e.status}, got ${status}`);
  if (e.regions !== undefined) {
    const same = e.regions.length === regions.length && e.regions.every((r, i) => r.subtype === regions[i].subtype && r.start === regions[i].start && r.end === regions[i].end);
    if (!same) problems.push(`expected regions ${JSON.stringify(regionsJson(e.regions))}, got ${JSON.stringify(regionsJson(regions))}`);
  }
  const expected: Record<string, unknown> = {};
  if (e.status !== undefined) expected.status = e.status;
  if (e.regions !== undefined) expected.regions = regionsJson(e.regions);
  return {
    held: problems.length === 0,
    expected,
    actual: { status, regions: regionsJson(regions) },
    message: problems.length ? problems.join('; ') : `PROBE ${status} with ${regions.length} region(s) as expected`,
  };
}

/** Checks a DMA outcome. Fault flags / address are compared only when the expectation gives them. */
export function checkDma(e: DmaExpectation, v: DmaValue): ExpectationCheck {
  let held = e.kind === v.kind;
  if (held && e.kind === 'translated' && v.kind === 'translated') held = e.phys === v.phys && (e.stale === undefined || e.stale === (v.stale ?? false));
  if (held && e.kind === 'fault' && v.kind === 'fault') {
    held = e.reason === v.reason && (e.flags === undefined || e.flags === v.flags) && (e.address === undefined || e.address === v.address);
  }
  const expected = dmaJson(e);
  const actual = dmaJson(v);
  return { held, expected, actual, message: held ? `DMA ${JSON.stringify(actual)} as expected` : `expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}` };
}

/** Checks the config fields the expectation lists. */
export function checkConfig(e: ConfigExpectation, c: ConfigValue): ExpectationCheck {
  const problems: string[] = [];
  const exp = configJson(e);
  const act = configJson(c);
  for (const k of Object.keys(exp)) {
    if (JSON.stringify(exp[k]) !== JSON.stringify(act[k])) problems.push(`${k}: expected ${JSON.stringify(exp[k])}, got ${JSON.stringify(act[k])}`);
  }
  return { held: problems.length === 0, expected: exp, actual: act, message: problems.length ? problems.join('; ') : `config ${Object.keys(exp).join(', ') || '(nothing)'} as expected` };
}

/** Totals of a workload step. */
export interface WorkloadTotals {
  faults: number;
  failedRequests: number;
}

/** Checks workload totals. */
export function checkWorkload(e: WorkloadExpectation, t: WorkloadTotals): ExpectationCheck {
  const problems: string[] = [];
  const expected: Record<string, number> = {};
  if (e.faults !== undefined) {
    expected.faults = e.faults;
    if (e.faults !== t.faults) problems.push(`expected ${e.faults} fault(s), got ${t.faults}`);
  }
  if (e.failedRequests !== undefined) {
    expected.failedRequests = e.failedRequests;
    if (e.failedRequests !== t.failedRequests) problems.push(`expected ${e.failedRequests} failed request(s), got ${t.failedRequests}`);
  }
  return { held: problems.length === 0, expected, actual: { faults: t.faults, failedRequests: t.failedRequests }, message: problems.length ? problems.join('; ') : 'workload totals as expected' };
}
