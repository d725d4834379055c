/**
 * Text helpers shared by the event catalog's one-line formats (core/events/catalog.ts) and the
 * detail pane: names of request types, statuses, fault reasons and flags, PCI addresses, u64 text.
 *
 * Values arrive either live (u64 fields are bigint) or decoded from storage / the contract (u64
 * fields are "0x…" hex strings); both are accepted everywhere. Endpoint IDs are shown as PCI
 * addresses "bb:dd.f" (QEMU endpoint IDs are requester IDs, PCI_BUILD_BDF).
 * This module imports nothing from the catalog (the catalog imports it).
 */
import {
  FAULT_R_DOMAIN,
  FAULT_R_MAPPING,
  FAULT_R_UNKNOWN,
  FEATURE_NAMES,
  REQUEST_TYPE_NAMES,
  statusName as deviceStatusName,
} from '../viommu/virtio-iommu/constants.ts';

/** Fault reason names by code (virtio spec §5.13.6, Fault reporting; VIRTIO_IOMMU_FAULT_R_*). */
const FAULT_REASON_NAMES: Readonly<Record<number, string>> = { [FAULT_R_UNKNOWN]: 'UNKNOWN', [FAULT_R_DOMAIN]: 'DOMAIN', [FAULT_R_MAPPING]: 'MAPPING' };

/** Request type name for head.type: ATTACH … PROBE, or UNKNOWN for any other code. */
export function requestTypeName(type: number): string {
  return REQUEST_TYPE_NAMES[type] ?? 'UNKNOWN';
}

/**
 * Status name for tail.status (OK … NOMEM; unknown codes "S_<n>", as constants.statusName);
 * `undefined` / null (the device wrote nothing) → UNWRITTEN.
 */
export function statusName(status: number | undefined | null): string {
  if (status === undefined || status === null) return 'UNWRITTEN';
  return deviceStatusName(status);
}

/** Fault reason name: UNKNOWN, DOMAIN, MAPPING, or "REASON(n)" for other codes. */
export function faultReasonName(reason: number): string {
  return FAULT_REASON_NAMES[reason] ?? `REASON(${reason})`;
}

/**
 * PCI address text of an endpoint ID: "bb:dd.f" (bus = bits 15:8, device = bits 7:3, function =
 * bits 2:0; lowercase hex). IDs above 0xffff (not requester IDs) are shown as "#<decimal>".
 */
export function bdfToString(id: number): string {
  if (!Number.isInteger(id) || id < 0 || id > 0xffff) return `#${id}`;
  const bus = id >> 8;
  const dev = (id >> 3) & 0x1f;
  const fn = id & 7;
  return `${bus.toString(16).padStart(2, '0')}:${dev.toString(16).padStart(2, '0')}.${fn}`;
}

const BDF_RE = /^([0-9a-f]{1,2}):([0-9a-f]{1,2})\.([0-7])$/i;

/**
 * Parses a PCI address "bb:dd.f" (hex bus 00-ff, device 00-1f, function 0-7) into the endpoint ID
 * bus << 8 | device << 3 | function. Returns null when the text is not such an address.
 */
export function parseBdf(s: string): number | null {
  const m = BDF_RE.exec(s.trim());
  if (!m) return null;
  const bus = parseInt(m[1], 16);
  const dev = parseInt(m[2], 16);
  const fn = parseInt(m[3], 10);
  if (dev > 0x1f) return null;
  return (bus << 8) | (dev << 3) | fn;
}

/** Converts a u64 field value (bigint, "0x…" string or number) to bigint; undefined if absent or malformed. */
export function u64Of(v: unknown): bigint | undefined {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  if (typeof v === 'string' && /^(0x[0-9a-f]+|[0-9]+)$/i.test(v)) return BigInt(v);
  return undefined;
}

/** "0x…" text of a u64 field value (bigint, "0x…" string or number); "?" when absent. */
export function hexOf(v: unknown): string {
  const b = u64Of(v);
  return b === undefined ? '?' : '0x' + b.toString(16);
}

/** An integer field value as a number (number, bigint or decimal string); undefined otherwise. */
export const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : typeof v === 'string' && v !== '' && !isNaN(Number(v)) ? Number(v) : undefined);
/** An endpoint field as a PCI address text (bdfToString), "?" when absent. */
export const ep = (v: unknown): string => {
  const n = num(v);
  return n === undefined ? '?' : bdfToString(n);
};

/** MAP flags as letters: R (READ 1), W (WRITE 2), M (MMIO 4), "+0x…" for unknown bits, "-" for none. */
export function mapFlagsText(flags: number): string {
  let s = (flags & 1 ? 'R' : '') + (flags & 2 ? 'W' : '') + (flags & 4 ? 'M' : '');
  const rest = flags & ~7;
  if (rest) s += `+0x${(rest >>> 0).toString(16)}`;
  return s || '-';
}

/** Fault flags as names joined by "|": R (READ 1), W (WRITE 2), X (EXEC 4, Linux only), ADDRESS (0x100). */
export function faultFlagsText(flags: number): string {
  const parts: string[] = [];
  if (flags & 1) parts.push('R');
  if (flags & 2) parts.push('W');
  if (flags & 4) parts.push('X');
  if (flags & 0x100) parts.push('ADDRESS');
  const rest = flags & ~0x107;
  if (rest) parts.push(`0x${(rest >>> 0).toString(16)}`);
  return parts.length ? parts.join('|') : '0';
}

/** Names of the feature bits set in a u64 mask (constants.FEATURE_NAMES; unnamed bits as "bit<n>"). */
export function featureNames(mask: bigint | undefined): string {
  if (mask === undefined) return '?';
  const names: string[] = [];
  for (let b = 0; b < 64; b++) if ((mask >> BigInt(b)) & 1n) names.push(FEATURE_NAMES[b] ?? `bit${b}`);
  return names.length ? names.join(',') : '-';
}

/** PROBE regions as "RESERVED [0x…-0x…], MSI […]", "no regions" when none. */
export function regionsText(regions: unknown): string {
  if (!Array.isArray(regions) || regions.length === 0) return 'no regions';
  return regions
    .map((r: { subtype?: unknown; start?: unknown; end?: unknown }) => {
      const st = num(r.subtype);
      const name = st === 1 ? 'MSI' : st === 0 ? 'RESERVED' : `SUBTYPE(${String(r.subtype)})`;
      return `${name} [${hexOf(r.start)}-${hexOf(r.end)}]`;
    })
    .join(', ');
}

/** A JSON payload's `message`, or the payload as text (bigint as "0x…"). */
export function detailText(v: unknown): string {
  if (v && typeof v === 'object' && 'message' in v) return String((v as { message: unknown }).message);
  return typeof v === 'string' ? v : JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? '0x' + x.toString(16) : x));
}

/** Translate path suffixes by `path` code (0 mapping, 1 bypass, 2 MSI window). */
export const PATHS = ['', ' (bypass)', ' (MSI window, identity)'];
