/**
 * Resolves the described physical IOMMUs: model defaults (models.ts) plus overrides, checked
 * field by field; every problem is reported with its path, never thrown.
 */
import type { HostProblem, IommuDesc, ReservedRegionDesc } from './describe.ts';
import { AW_BITS_RANGE, IOMMU_MODELS, MODEL_DEFAULTS, RESV_TYPES, apertureOf, hwInfoOf, type HwInfo, type IommuConfig, type IommuModelName, type ReservedRegion, type ResvType } from './models.ts';
import { U64_MAX, sortRanges, type IovaRange } from './ranges.ts';

/** A resolved physical IOMMU: its configuration, paging-domain aperture and GET_HW_INFO payload. */
export interface ResolvedIommu extends IommuConfig {
  name: string;
  /** [0, 2^awBits - 1]. */
  aperture: IovaRange;
  hwInfo: HwInfo;
}

/** A u64 from bigint or a safe non-negative integer, else undefined. */
export function toU64(v: unknown): bigint | undefined {
  if (typeof v === 'bigint') return v >= 0n && v <= U64_MAX ? v : undefined;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  return undefined;
}

function pageSizes(v: IommuDesc['page-sizes'], path: string, problems: HostProblem[]): bigint | undefined {
  let mask = 0n;
  if (Array.isArray(v)) {
    for (const [i, s] of (v as readonly unknown[]).entries()) {
      const n = toU64(s);
      if (n === undefined || n === 0n || (n & (n - 1n)) !== 0n) {
        problems.push({ path: `${path}.${i}`, message: `page size ${String(s)} is not a power of two` });
        return undefined;
      }
      mask |= n;
    }
  } else {
    const n = toU64(v);
    if (n === undefined) {
      problems.push({ path, message: `page-sizes must be a u64 bitmap or a list of sizes, got ${String(v)}` });
      return undefined;
    }
    mask = n;
  }
  if (mask === 0n) {
    problems.push({ path, message: 'page-sizes is empty' });
    return undefined;
  }
  if ((mask & 0xfffn) !== 0n) {
    problems.push({ path, message: `page sizes below 4 KiB (bitmap 0x${mask.toString(16)})` });
    return undefined;
  }
  return mask;
}

function region(r: ReservedRegionDesc, path: string, problems: HostProblem[]): ReservedRegion | undefined {
  const start = toU64(r.start);
  if (start === undefined) {
    problems.push({ path: `${path}.start`, message: `start must be a u64, got ${String(r.start)}` });
    return undefined;
  }
  if (!(RESV_TYPES as readonly string[]).includes(r.type)) {
    problems.push({ path: `${path}.type`, message: `unknown reserved region type "${String(r.type)}" (one of ${RESV_TYPES.join(', ')})` });
    return undefined;
  }
  let end: bigint | undefined;
  if (r.end !== undefined && r.length === undefined) end = toU64(r.end);
  else if (r.length !== undefined && r.end === undefined) {
    const len = toU64(r.length);
    if (len !== undefined && len > 0n) end = start + len - 1n;
  } else {
    problems.push({ path, message: 'give exactly one of end and length' });
    return undefined;
  }
  if (end === undefined || end < start || end > U64_MAX) {
    problems.push({ path, message: `region [${String(r.start)}, ${String(r.end ?? r.length)}] is empty, reversed or past 2^64` });
    return undefined;
  }
  return { start, end, type: r.type as ResvType };
}

/** Resolves one IOMMU at `path` ("iommus.0"); undefined (with problems) when it cannot be built. */
export function resolveIommu(d: IommuDesc, path: string, problems: HostProblem[]): ResolvedIommu | undefined {
  if (!(IOMMU_MODELS as readonly string[]).includes(d.model)) {
    problems.push({ path: `${path}.model`, message: `unknown IOMMU model "${String(d.model)}" (one of ${IOMMU_MODELS.join(', ')})` });
    return undefined;
  }
  const model = d.model as IommuModelName;
  const cfg: IommuConfig = { ...MODEL_DEFAULTS[model] };
  const before = problems.length;
  if (d['aw-bits'] !== undefined) {
    const [lo, hi] = AW_BITS_RANGE[model];
    const aw = d['aw-bits'];
    if (!Number.isInteger(aw) || aw < lo || aw > hi) problems.push({ path: `${path}.aw-bits`, message: `aw-bits ${String(aw)} outside [${lo}, ${hi}] for ${model}` });
    else cfg.awBits = aw;
  }
  if (d['page-sizes'] !== undefined) {
    const m = pageSizes(d['page-sizes'], `${path}.page-sizes`, problems);
    if (m !== undefined) cfg.pgsizeBitmap = m;
  }
  for (const key of ['dirty-tracking', 'nesting', 'cache-coherency'] as const) {
    const v = d[key];
    if (v === undefined) continue;
    if (typeof v !== 'boolean') problems.push({ path: `${path}.${key}`, message: `${key} must be true or false` });
    else if (key === 'dirty-tracking') cfg.dirtyTracking = v;
    else if (key === 'nesting') cfg.nesting = v;
    else cfg.cacheCoherency = v;
  }
  if (d['reserved-regions'] !== undefined) {
    const list: ReservedRegion[] = [];
    d['reserved-regions'].forEach((r, i) => {
      const rr = region(r, `${path}.reserved-regions.${i}`, problems);
      if (rr !== undefined) list.push(rr);
    });
    cfg.reservedRegions = sortRanges(list);
  }
  if (problems.length !== before) return undefined;
  return { ...cfg, name: d.name, aperture: apertureOf(cfg), hwInfo: hwInfoOf(cfg) };
}
