/**
 * One line of text for what a step did (StepResult.outcome, as runner.ts builds it), shared by the
 * CLI's step table (`run`, `show`) and the UI's steps table. Pure.
 */
import type { StepResult } from '../contract/index.ts';
import { hexOf } from '../events/format.ts';
import { nsText } from '../events/guest-text.ts';

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function faultText(f: Obj): string {
  const parts = [`fault ${String(f.reason ?? '?')}`];
  if (Array.isArray(f.flags)) parts.push(`flags=${f.flags.join('|') || '0'}`);
  else if (f.flags !== undefined) parts.push(`flags=${String(f.flags)}`);
  if (f.address !== undefined) parts.push(`addr=${hexOf(f.address)}`);
  return parts.join(' ');
}

function regionsText(regions: unknown[]): string {
  if (regions.length === 0) return 'no reserved regions';
  return regions
    .map((r) => {
      const o = isObj(r) ? r : {};
      const sub = typeof o.subtype === 'string' ? o.subtype.toUpperCase() : o.subtype === 1 ? 'MSI' : o.subtype === 0 ? 'RESERVED' : String(o.subtype);
      return `${sub} [${hexOf(o.start)}-${hexOf(o.end)}]`;
    })
    .join(', ');
}

function configText(c: Obj): string {
  const parts: string[] = [];
  if (c.pageSizeMask !== undefined) parts.push(`page_size_mask=${hexOf(c.pageSizeMask)}`);
  if (Array.isArray(c.inputRange)) parts.push(`input_range=[${c.inputRange.map(hexOf).join('-')}]`);
  if (Array.isArray(c.domainRange)) parts.push(`domain_range=[${c.domainRange.map(String).join('-')}]`);
  if (c.probeSize !== undefined) parts.push(`probe_size=${String(c.probeSize)}`);
  if (c.bypass !== undefined) parts.push(`bypass=${String(c.bypass)}`);
  return parts.join(' ');
}

/** A host call's outputs as "name=value" pairs: numbers as given, "0x…" kept, lists of pairs as [a-b, …]. */
export function outputsText(outputs: Readonly<Record<string, unknown>>): string {
  const val = (v: unknown): string => {
    if (Array.isArray(v)) return `[${v.map((x) => (Array.isArray(x) ? x.map(val).join('-') : val(x))).join(', ')}]`;
    if (isObj(v)) return `{${Object.entries(v).map(([k, x]) => `${k}=${val(x)}`).join(' ')}}`;
    return String(v);
  };
  return Object.entries(outputs)
    .map(([k, v]) => `${k}=${val(v)}`)
    .join(' ');
}

function workloadText(o: Obj): string {
  const requests = isObj(o.requests) ? o.requests : {};
  let n = 0;
  for (const row of Object.values(requests)) if (isObj(row)) for (const v of Object.values(row)) n += typeof v === 'number' ? v : 0;
  const failed = typeof o.failedRequests === 'number' ? o.failedRequests : 0;
  return `${String(o.iterations)} iterations: ${n} requests (${failed ? `${failed} failed` : 'all OK'}), ${String(o.translations)} translations, ${String(o.faults)} faults`;
}

/**
 * Text of a step's outcome, without its expectation: "translated → 0xc1004", "fault MAPPING
 * flags=W addr=0x90000", "MSI [0xfee00000-0xfeefffff]", "used 4 bytes", "page_size_mask=… bypass=1",
 * "bypass ← 7 refused, device error: invalid config.bypass value '7' (device needs reset)", a
 * workload's totals. "" when the step has no outcome (a request's status is in StepResult.status).
 * Unknown shapes (a newer runner) are shown as JSON. Never throws.
 */
export function stepOutcomeText(s: Pick<StepResult, 'op' | 'outcome' | 'message'> & Pick<Partial<StepResult>, 'outputs'>): string {
  // Host uAPI steps (iommufd, vfio): their outputs by uAPI name, "iova=0x4000 length=0x2000".
  if (s.outputs !== undefined && s.outcome === undefined) return outputsText(s.outputs);
  const o = s.outcome;
  if (o === undefined || o === null) return s.op === 'workload' && s.message ? s.message : '';
  if (!isObj(o)) return JSON.stringify(o);
  if ('translated' in o) {
    // A translation through a mapping the guest already unmapped (lazy window; issue 8).
    const stale = o.stale === true ? ` STALE (unmapped ${typeof o['stale-ns'] === 'number' ? nsText(o['stale-ns']) : '?'} ago, not yet invalidated)` : '';
    return `translated → ${hexOf(o.translated)}${stale}`;
  }
  // Guest DMA steps (issue 8): dma-map, dma-unmap, dma-stream, wait.
  if (s.op === 'dma-map') {
    if (o.error !== undefined) return `DMA_MAPPING_ERROR${typeof o.why === 'string' ? `: ${o.why}` : ''}`;
    return `DMA address ${hexOf(o.iova)} · ${String(o.pages)} page${o.pages === 1 ? '' : 's'} (${String(o.path)}) · domain ${String(o.domain)} · host ${String(o.host)}`;
  }
  if (s.op === 'dma-unmap') return typeof o.error === 'string' ? o.error : `unmapped (${String(o.mode)}) · host ${String(o.host)}`;
  if (s.op === 'dma-stream') {
    const first = typeof o['first-error'] === 'string' ? ` · first error: ${o['first-error']}` : '';
    return `${String(o.iterations)} iterations over ${String(o.buffers)} buffers: ${String(o['failed-maps'])} failed maps, ${String(o['failed-host-maps'])} failed host maps, ${String(o.faults)} faults, ${String(o.stale)} stale${first}`;
  }
  if (s.op === 'wait') return `waited ${nsText(o.ns)}`;
  if (isObj(o.fault)) return faultText(o.fault);
  if ('accepted' in o) {
    // set-bypass: { bypass, accepted, deviceError? }
    const head = `bypass ← ${String(o.bypass)} ${o.accepted ? 'accepted' : 'refused'}`;
    return typeof o.deviceError === 'string' ? `${head}, device error: ${o.deviceError} (device needs reset)` : head;
  }
  if (o.bypass === true) return 'bypass (identity)';
  if (o.msi === true) return 'MSI window (identity)';
  if (Array.isArray(o.regions)) return regionsText(o.regions);
  if (isObj(o.config)) return configText(o.config);
  if ('iterations' in o) return workloadText(o);
  if (typeof o.used === 'number') return o.used === 0 ? 'device wrote nothing (used 0)' : `used ${o.used} bytes`;
  return JSON.stringify(o, (_k, v: unknown) => (typeof v === 'bigint' ? '0x' + v.toString(16) : v));
}
