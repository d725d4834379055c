/**
 * Message bodies of the kernel log lines the kmsg importer (./kmsg.ts) imports: VT-d DMAR faults
 * of every era, AMD-Vi event log entries, SMMUv3 events (raw and decoded), arm-smmu (v2) context
 * faults, virtio-iommu guest fault reports and probe lines, dma-iommu's "Using N-bit DMA
 * addresses" and the IOMMU core's group membership lines; and two line-prefix helpers.
 *
 * Each parser takes the whole line and the position where its body starts (no substring is cut
 * per line: sticky regexes run from `lastIndex`), and returns the event, or a string (the error:
 * the line is the known event but does not match its format, naming what was expected). None
 * throws. Times are stamped by the caller.
 *
 * Reference: ../../../shared/reference/trace-formats-and-guest-dma.md part A1b (format strings by
 * era), virtio-iommu.md (the guest driver's fault report).
 */
import type { TraceEvent } from './types.ts';

/** A fault, as built here (time stamped by the caller). */
export type FaultEvent = Extract<TraceEvent, { kind: 'trace-fault' }>;
/** A note, as built here. */
export type NoteEvent = Extract<TraceEvent, { kind: 'trace-note' }>;

const HEX = '[0-9a-fA-F]';

/** "0x…" text of a u64 (what `data` keeps: JSON has no bigint). */
export function hex(v: bigint): string {
  return `0x${v.toString(16)}`;
}

/** A u64 from hex digits (no `0x`); exact, and cheap below 2^52 (13 digits). */
export function hexBig(digits: string): bigint {
  return digits.length <= 13 ? BigInt(parseInt(digits, 16)) : BigInt(`0x${digits}`);
}

/** A u64 printed `%#llx` (`0x…`, or `0` for zero) or decimal. */
function numBig(text: string): bigint {
  return text.charCodeAt(1) === 0x78 /* x */ ? hexBig(text.slice(2)) : BigInt(text);
}

/** A PCI requester ID: bus << 8 | dev << 3 | fn (PCI_DEVID; VT-d source-id, AMD-Vi devid). */
function rid(bus: string, dev: string, fn: string): number {
  return ((parseInt(bus, 16) & 0xff) << 8) | ((parseInt(dev, 16) & 0x1f) << 3) | (parseInt(fn, 10) & 7);
}

/** The device as `ssss:bb:dd.f` or `bb:dd.f` (lower case, `0x` of the short-lived VT-d variant dropped). */
function bdfText(seg: string | undefined, bus: string, dev: string, fn: string): string {
  const b = `${bus.toLowerCase()}:${dev.toLowerCase()}.${fn}`;
  return seg === undefined ? b : `${seg.toLowerCase()}:${b}`;
}

// ---- Intel VT-d (drivers/iommu/intel/dmar.c dmar_fault_do_one, pr_fmt "DMAR: ") --------------

/**
 * Every era of the DMAR fault line (reference A1b "Format strings by era"), read by hand (one
 * pass, no regex: this is the line a faulting device floods the log with):
 * - current (segment): `[%s NO_PASID] Request device [%04x:%02x:%02x.%d] fault addr 0x%llx [fault reason 0x%02x] %s`,
 *   and `[%s PASID 0x%x] …`, and `[INTR-REMAP] Request device […] fault index 0x%llx [fault reason 0x%02x] %s`;
 * - ~5.10 → 6.x: the same with `[%02x:%02x.%d]`; short-lived: `[0x%02x:0x%02x.%d]`;
 * - older (torvalds @01feba59): `[%s] Request device [%02x:%02x.%d] PASID %x fault addr %llx [fault reason %02d] %s`:
 *   the address without 0x, the reason DECIMAL;
 * - oldest: the same without `PASID %x`.
 * The reason text is never empty (dmar_get_fault_reason answers "Unknown" for codes it does not
 * name), so a line cut after the reason is a wrapped line's first half, not a whole line.
 */
const DMAR_EXPECTED =
  "DMAR: expected '[DMA Read|DMA Write [NO_PASID|PASID 0x…]] Request device [[ssss:]bb:dd.f] [PASID x] fault addr [0x]… " +
  "[fault reason 0x..|NN] text' or '[INTR-REMAP] Request device [bb:dd.f] fault index 0x… [fault reason 0x..] text'";

/** The value of the hex digits of `line` in [a, b) (at most 13 digits: exact as a number). */
function hexAt(line: string, a: number, b: number): number {
  let v = 0;
  for (let k = a; k < b; k++) v = v * 16 + hexDigit(line.charCodeAt(k));
  return v;
}

/** The u64 of the hex digits of `line` in [a, b). */
function hexBigAt(line: string, a: number, b: number): bigint {
  return b - a <= 13 ? BigInt(hexAt(line, a, b)) : BigInt(`0x${line.slice(a, b)}`);
}

/** The end of the run of hex digits at `i` (`i` itself when there is none). */
function hexEnd(line: string, i: number): number {
  for (;;) {
    const c = line.charCodeAt(i);
    if ((c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66)) i++;
    else return i;
  }
}

/** Past `0x` at `i`, or `i`. */
function skip0x(line: string, i: number): number {
  return line.charCodeAt(i) === 0x30 && line.charCodeAt(i + 1) === 0x78 ? i + 2 : i;
}

/** A DMAR fault line from `[` at `p` (see the comment above), or null when it matches no era. */
function dmarFault(line: string, p: number): FaultEvent | null {
  let i = p + 1;
  let type: string;
  let access = 0;
  if (line.startsWith('DMA Read', i)) {
    type = 'DMA Read';
    access = 1;
  } else if (line.startsWith('DMA Write', i)) {
    type = 'DMA Write';
    access = 2;
  } else if (line.startsWith('INTR-REMAP', i)) type = 'INTR-REMAP';
  else return null;
  i += type.length;
  let pasid = -1;
  let noPasid = false;
  if (line.startsWith(' NO_PASID', i)) {
    noPasid = true;
    i += 9;
  } else if (line.startsWith(' PASID ', i)) {
    const h = skip0x(line, i + 7);
    i = hexEnd(line, h);
    if (i === h) return null;
    if (i - h > 8) return null;
    pasid = hexAt(line, h, i);
  }
  if (!line.startsWith('] Request device [', i)) return null;
  i += 18;
  // [ssss:]bb:dd.f, or [0xbb:0xdd.f]
  let seg = -1;
  const d0 = i;
  if (line.charCodeAt(i + 4) === 0x3a /* : */ && hexEnd(line, i) === i + 4) {
    seg = hexAt(line, i, i + 4);
    i += 5;
  }
  let h = skip0x(line, i);
  if (hexEnd(line, h) !== h + 2 || line.charCodeAt(h + 2) !== 0x3a) return null;
  const bus = hexAt(line, h, h + 2);
  const hex0x = h !== i;
  h = skip0x(line, h + 3);
  if (hexEnd(line, h) !== h + 2 || line.charCodeAt(h + 2) !== 0x2e /* . */) return null;
  const dev = hexAt(line, h, h + 2);
  const fn = line.charCodeAt(h + 3) - 0x30;
  if (fn < 0 || fn > 7 || line.charCodeAt(h + 4) !== 0x5d /* ] */) return null;
  const device = hex0x ? `${line.slice(d0, i)}${line.slice(i + 2, i + 4)}:${line.slice(h, h + 4)}` : line.slice(d0, h + 4);
  i = h + 5;
  if (line.startsWith(' PASID ', i)) {
    // older era: `PASID %x` after the device
    const e = hexEnd(line, i + 7);
    if (e === i + 7) return null;
    if (e - i - 7 > 8) return null;
    pasid = hexAt(line, i + 7, e);
    i = e;
  }
  const isAddr = line.startsWith(' fault addr ', i);
  if (isAddr) i += 12;
  else if (line.startsWith(' fault index ', i)) i += 13;
  else return null;
  const v0 = skip0x(line, i);
  const v1 = hexEnd(line, v0);
  if (v1 === v0 || !line.startsWith(' [fault reason ', v1)) return null;
  i = v1 + 15;
  let reason: number;
  const r0 = skip0x(line, i);
  let r1: number;
  if (r0 !== i) {
    r1 = hexEnd(line, r0);
    if (r1 - r0 > 8) return null;
    reason = hexAt(line, r0, r1);
  } else {
    // %02d: decimal
    r1 = i;
    while (line.charCodeAt(r1) >= 0x30 && line.charCodeAt(r1) <= 0x39) r1++;
    if (r1 - i > 9) return null;
    reason = 0;
    for (let k = i; k < r1; k++) reason = reason * 10 + (line.charCodeAt(k) - 0x30);
  }
  if (r1 === r0 || line.charCodeAt(r1) !== 0x5d || line.charCodeAt(r1 + 1) !== 0x20) return null;
  let end = line.length;
  while (end > r1 + 2 && (line.charCodeAt(end - 1) === 0x20 || line.charCodeAt(end - 1) === 0x09)) end--;
  if (end === r1 + 2) return null;
  const data: Record<string, unknown> = { event: 'DMAR', device, type };
  if (seg >= 0) data.segment = seg;
  if (pasid >= 0) data.pasid = pasid;
  else if (noPasid) data.noPasid = true;
  data.reasonText = line.slice(r1 + 2, end);
  const ev: FaultEvent = { kind: 'trace-fault', access, reason, endpoint: (bus << 8) | ((dev & 0x1f) << 3) | fn, data };
  if (isAddr) {
    if (v1 - v0 > 16) return null;
    ev.address = hexBigAt(line, v0, v1);
  }
  else data.index = `0x${line.slice(v0, v1).toLowerCase()}`;
  return ev;
}

/** `DRHD: handling fault status reg %x` (dmar.c dmar_fault, printed before every batch). */
const DRHD_STATUS = new RegExp(`DRHD: handling fault status reg (${HEX}+)\\s*$`, 'y');
/** `dmar%d: reg_base_addr %llx ver %d:%d cap %llx ecap %llx` (dmar.c alloc_iommu, boot). */
const DMAR_REG_BASE = new RegExp(`(dmar\\d+): reg_base_addr (${HEX}+) ver (\\d+:\\d+) cap (${HEX}+) ecap (${HEX}+)\\s*$`, 'y');

/**
 * A line whose message begins with `DMAR:` (after its prefix), body at `p` (past `DMAR:` and
 * one optional space). Returns the fault or note, an error for a fault line that does not
 * match any era, or null for any other DMAR line (e.g. `DMAR: IOMMU enabled`: not imported).
 * Fault: access 1 "DMA Read" / 2 "DMA Write" / 0 INTR-REMAP; `reason` the code (hex, or decimal
 * in the older eras); `endpoint` the requester ID; data { event 'DMAR', device, segment?, pasid?,
 * noPasid?, type, reasonText, index? (interrupt-remapping faults, which have no address) }.
 */
export function parseDmar(line: string, p: number): TraceEvent | string | null {
  const c = line.charCodeAt(p);
  if (c === 0x5b /* [ */) {
    if (!line.startsWith('[DMA ', p) && !line.startsWith('[INTR-REMAP]', p) && line.indexOf('Request device', p) < 0) return null;
    return dmarFault(line, p) ?? DMAR_EXPECTED;
  }
  if (c === 0x44 /* D */ && line.startsWith('DRHD: ', p)) {
    DRHD_STATUS.lastIndex = p;
    const m = DRHD_STATUS.exec(line);
    if (m === null) return "DMAR: expected 'DRHD: handling fault status reg <hex>'";
    return note({ event: 'DMAR', text: line.slice(p).trimEnd(), status: `0x${m[1]!.toLowerCase()}` });
  }
  if (c === 0x64 /* d */ && line.startsWith('dmar', p) && line.indexOf(': reg_base_addr ', p) > 0) {
    DMAR_REG_BASE.lastIndex = p;
    const m = DMAR_REG_BASE.exec(line);
    if (m === null) return "DMAR: expected 'dmarN: reg_base_addr <hex> ver M:N cap <hex> ecap <hex>'";
    return note({
      event: 'DMAR',
      text: line.slice(p).trimEnd(),
      iommu: m[1],
      regBase: `0x${m[2]!.toLowerCase()}`,
      ver: m[3],
      cap: `0x${m[4]!.toLowerCase()}`,
      ecap: `0x${m[5]!.toLowerCase()}`,
    });
  }
  return null;
}

/** `dmar_fault: N callbacks suppressed` (printk ratelimit of dmar_fault's messages). */
const SUPPRESSED = /dmar_fault: (\d+) callbacks suppressed\s*$/y;

/** The rate-limit line of DMAR faults (body at `p`, the `dmar_fault:` tag), or an error. */
export function parseDmarSuppressed(line: string, p: number): TraceEvent | string {
  SUPPRESSED.lastIndex = p;
  const m = SUPPRESSED.exec(line);
  if (m === null) return "dmar_fault: expected 'dmar_fault: N callbacks suppressed'";
  return note({ event: 'dmar_fault', text: line.slice(p).trimEnd(), suppressed: parseInt(m[1]!, 10) });
}

// ---- AMD-Vi (drivers/iommu/amd/iommu.c, pr_fmt "AMD-Vi: ") ---------------------------------

/**
 * The IO_PAGE_FAULT entry, both print forms (reference A1b AMD-Vi, torvalds @0217ed5a):
 * - with a known device (pci_err, the device in the line prefix):
 *   `Event logged [IO_PAGE_FAULT domain=0x%04x address=0x%llx flags=0x%04x]`;
 * - without: `Event logged [IO_PAGE_FAULT device=%02x:%02x.%x domain=0x%04x address=0x%llx flags=0x%04x]`,
 *   newer kernels with a segment in `device=` (UNVERIFIED in the reference: accepted).
 * A `pasid=0x…` field (printed in place of, or beside, `domain=` by kernels with PASID support) is
 * UNVERIFIED in the reference and accepted leniently, as is a trailing `vflags=%#x` (a posted
 * patch to amd/iommu.c; whether it was merged is unverified). Body starts at the event name.
 * Groups: 1 segment, 2 bus, 3 dev, 4 fn, 5 domain, 6 pasid, 7 address, 8 flags, 9 vflags.
 */
const AMD_IO_PAGE_FAULT = new RegExp(
  `IO_PAGE_FAULT(?: device=(?:(${HEX}{4}):)?(${HEX}{2}):(${HEX}{2})\\.([0-7]))?(?: domain=0x(${HEX}+))?` +
    `(?: pasid=0x(${HEX}+))? address=0x(${HEX}+) flags=0x(${HEX}+)(?: vflags=(0x${HEX}+|0))?\\]\\s*$`,
  'y',
);
const AMD_EXPECTED =
  "AMD-Vi: expected 'Event logged [IO_PAGE_FAULT [device=[ssss:]bb:dd.f] domain=0x… address=0x… flags=0x…]'";
/** EVENT_FLAG_RW (amd_iommu_types.h): the access was a write (meaningful only with EVENT_FLAG_PR 0x010). */
const AMD_EVENT_FLAG_RW = 0x020;

/**
 * An AMD-Vi event log entry, body at `p` = just past `Event logged [` (on the same line, or the
 * second half of the old two-line split). `device` is the device the line prefix names (pci_err
 * form), when it does. IO_PAGE_FAULT → trace-fault: access 2 when flags & EVENT_FLAG_RW else 1
 * (RW is only meaningful with PR 0x010: a not-present read and write differ by RW alone, so the
 * bit is used as printed and the raw flags kept), `reason` the flags, `domain` the host domain
 * ID, `endpoint` the requester ID when `device=` gives it; data { event 'AMD-Vi:IO_PAGE_FAULT',
 * device?, flags "0x…", pasid? }. Any other event name (ILLEGAL_DEV_TABLE_ENTRY, …) → trace-note
 * { event 'AMD-Vi:<NAME>', text }. An entry with no name → error.
 */
export function parseAmdEvent(line: string, p: number, device: string | undefined): TraceEvent | string {
  if (line.startsWith('IO_PAGE_FAULT', p)) return amdPageFault(line, p, device);
  let e = p;
  while (e < line.length) {
    const c = line.charCodeAt(e);
    if ((c >= 0x41 && c <= 0x5a) || c === 0x5f || (c >= 0x30 && c <= 0x39)) e++;
    else break;
  }
  if (e === p) return "AMD-Vi: expected 'Event logged [NAME …]'";
  const name = line.slice(p, e);
  const data: Record<string, unknown> = { event: `AMD-Vi:${name}`, text: `Event logged [${line.slice(p).trimEnd()}` };
  if (device !== undefined) data.device = device;
  return note(data);
}

/** IO_PAGE_FAULT (see parseAmdEvent). */
function amdPageFault(line: string, p: number, device: string | undefined): TraceEvent | string {
  AMD_IO_PAGE_FAULT.lastIndex = p;
  const m = AMD_IO_PAGE_FAULT.exec(line);
  if (m === null) return AMD_EXPECTED;
  const flags = parseInt(m[8]!, 16);
  const data: Record<string, unknown> = { event: 'AMD-Vi:IO_PAGE_FAULT' };
  const ev: FaultEvent = { kind: 'trace-fault', address: hexBig(m[7]!), access: flags & AMD_EVENT_FLAG_RW ? 2 : 1, reason: flags, data };
  if (m[2] !== undefined) {
    data.device = bdfText(m[1], m[2], m[3]!, m[4]!);
    if (m[1] !== undefined) data.segment = parseInt(m[1], 16);
    ev.endpoint = rid(m[2], m[3]!, m[4]!);
  } else if (device !== undefined) {
    data.device = device;
    const id = pciRid(device);
    if (id >= 0) ev.endpoint = id;
  }
  if (m[5] !== undefined) ev.domain = parseInt(m[5], 16);
  if (m[6] !== undefined) data.pasid = parseInt(m[6], 16);
  data.flags = `0x${m[8]!.toLowerCase()}`;
  if (m[9] !== undefined) data.vflags = m[9];
  return ev;
}

/** The value of a hex digit, or -1. */
function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  return l >= 0x61 && l <= 0x66 ? l - 0x61 + 10 : -1;
}

/** The requester ID of a device name `ssss:bb:dd.f` / `bb:dd.f`, or -1 when it is not a PCI address. */
export function pciRid(name: string): number {
  const n = name.length;
  if (n !== 7 && !(n === 12 && name.charCodeAt(4) === 0x3a)) return -1;
  // …bb:dd.f: the last 7 characters.
  const o = n - 7;
  if (name.charCodeAt(o + 2) !== 0x3a || name.charCodeAt(o + 5) !== 0x2e) return -1;
  const b1 = hexDigit(name.charCodeAt(o));
  const b0 = hexDigit(name.charCodeAt(o + 1));
  const d1 = hexDigit(name.charCodeAt(o + 3));
  const d0 = hexDigit(name.charCodeAt(o + 4));
  const f = name.charCodeAt(o + 6) - 0x30;
  if (b1 < 0 || b0 < 0 || d1 < 0 || d0 < 0 || f < 0 || f > 7) return -1;
  return ((b1 * 16 + b0) << 8) | (((d1 * 16 + d0) & 0x1f) << 3) | f;
}

// ---- ARM SMMUv3 (drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c) --------------------------------

/**
 * SMMUv3 event names by event id (arm-smmu-v3.c event_str[], ids from arm-smmu-v3.h EVT_ID_*):
 * C_BAD_STREAMID 0x02 … F_VMS_FETCH 0x25.
 */
export const SMMU_EVENT_IDS: Readonly<Record<string, number>> = {
  C_BAD_STREAMID: 0x02,
  F_STE_FETCH: 0x03,
  C_BAD_STE: 0x04,
  F_STREAM_DISABLED: 0x06,
  C_BAD_SUBSTREAMID: 0x08,
  F_CD_FETCH: 0x09,
  C_BAD_CD: 0x0a,
  F_TRANSLATION: 0x10,
  F_ADDR_SIZE: 0x11,
  F_ACCESS: 0x12,
  F_PERMISSION: 0x13,
  F_VMS_FETCH: 0x25,
};
const SMMU_EVENT_NAMES: readonly string[] = (() => {
  const out: string[] = [];
  for (const [k, v] of Object.entries(SMMU_EVENT_IDS)) out[v] = k;
  return out;
})();

/** The event name of an SMMUv3 event id (`0x%02x` for ids event_str[] does not name). */
export function smmuEventName(id: number): string {
  return SMMU_EVENT_NAMES[id] ?? `0x${id.toString(16).padStart(2, '0')}`;
}

/** Whether an SMMUv3 event id is a translation-stage fault (F_TRANSLATION … F_PERMISSION, 0x10–0x13): InputAddr in word 2, RnW in word 1. */
function smmuAddressed(id: number): boolean {
  return id >= 0x10 && id <= 0x13;
}

/**
 * The raw SMMUv3 event dump (`event 0x%02x received:` then four `\t0x%016llx` lines; arm-smmu-v3.c
 * arm_smmu_evtq_thread, later arm_smmu_dump_raw_event) decoded as arm_smmu_decode_event does
 * (arm-smmu-v3.h): EVTQ_0_ID [7:0], EVTQ_0_SSV bit 11, EVTQ_0_SSID [31:12], EVTQ_0_SID [63:32],
 * EVTQ_1_RnW bit 35 (1 read), EVTQ_1_S2 bit 39, EVTQ_1_STALL bit 31, EVTQ_2_ADDR [63:0].
 * `words` holds `count` (1…4) words; fewer than 4 only for a dump the log cut short (data.incomplete).
 * → trace-fault: `reason` the event id (from the header line), `address` word 2 and `access` RnW
 * for 0x10–0x13; data { event 'arm-smmu-v3:<NAME>', smmu (the SMMU's device name), sid, ssid?, s2?,
 * stall?, words ["0x…" ×count] }. No `endpoint`: a StreamID is not a PCI address.
 */
export function smmuRawFault(id: number, smmu: string, words: readonly bigint[], count: number): FaultEvent {
  const w0 = words[0]!;
  const ws: string[] = [];
  for (let i = 0; i < count; i++) ws.push(`0x${words[i]!.toString(16).padStart(16, '0')}`);
  const data: Record<string, unknown> = { event: `arm-smmu-v3:${smmuEventName(id)}`, smmu };
  const ev: FaultEvent = { kind: 'trace-fault', access: 0, reason: id, data };
  if (count >= 1) {
    data.sid = Number(w0 >> 32n);
    if ((w0 >> 11n) & 1n) data.ssid = Number((w0 >> 12n) & 0xfffffn);
  }
  if (count >= 2 && smmuAddressed(id)) {
    const w1 = words[1]!;
    ev.access = (w1 >> 35n) & 1n ? 1 : 2;
    if ((w1 >> 39n) & 1n) data.s2 = true;
    if ((w1 >> 31n) & 1n) data.stall = true;
  }
  if (count >= 3 && smmuAddressed(id)) ev.address = words[2]!;
  data.words = ws;
  if (count < 4) data.incomplete = true;
  return ev;
}

/**
 * The decoded SMMUv3 event (arm-smmu-v3.c arm_smmu_dump_event, after the raw dump), VERBATIM
 * formats read from upstream source (the reference marks them UNVERIFIED; accepted leniently, any
 * number as `%#x`, i.e. `0` or `0x…`):
 * - `event: %s client: %s sid: %#x ssid: %#x iova: %#llx ipa: %#llx` (0x10–0x13);
 * - `event: %s client: %s sid: %#x ssid: %#x fetch_addr: %#llx` (F_STE_FETCH, F_CD_FETCH, F_VMS_FETCH);
 * - `event: %s client: %s sid: %#x ssid: %#x` (others).
 * `client` is the master's device name or `(unassigned sid)`.
 * Groups: 1 name, 2 client, 3 sid, 4 ssid, 5 iova, 6 ipa, 7 fetch_addr.
 */
const SMMU_DECODED =
  /event: (\S+) client: (.+?) sid: (0x[0-9a-fA-F]+|\d+) ssid: (0x[0-9a-fA-F]+|\d+)(?: iova: (0x[0-9a-fA-F]+|\d+) ipa: (0x[0-9a-fA-F]+|\d+)| fetch_addr: (0x[0-9a-fA-F]+|\d+))?\s*$/y;
/** Its access line: `%s %s %s %s "%s"%s%s stag: %#x` (priv|unpriv, inst|data, read|write, s1|s2, class, ttd, stall). */
const SMMU_ACCESS = /(priv|unpriv) (inst|data) (read|write) (s1|s2) "([^"]*)"( ttd_read| ttd_write)?( stall)?(?: stag: (0x[0-9a-fA-F]+|\d+))?\s*$/y;

/** What a decoded SMMUv3 line carries: the fault (access 0 until its access line) and its StreamID. */
export interface SmmuDecoded {
  readonly ev: FaultEvent;
  readonly sid: number;
  /** Whether an access line follows (the 0x10–0x13 form). */
  readonly hasAccess: boolean;
}

/**
 * A decoded SMMUv3 event line, body at `p` (`event: …`), from the SMMU `smmu`: → the fault
 * (`reason` the id of the name; `address` the iova; `endpoint` when the client is a PCI
 * address; data { event 'arm-smmu-v3:<NAME>', smmu, device? (the client), sid, ssid, ipa?,
 * fetchAddr? }), or an error.
 */
export function parseSmmuDecoded(line: string, p: number, smmu: string): SmmuDecoded | string {
  SMMU_DECODED.lastIndex = p;
  const m = SMMU_DECODED.exec(line);
  if (m === null) return "arm-smmu-v3: expected 'event: NAME client: DEV sid: 0x… ssid: 0x… [iova: 0x… ipa: 0x…|fetch_addr: 0x…]'";
  const name = m[1]!;
  const id = SMMU_EVENT_IDS[name];
  const client = m[2]!;
  const sid = Number(numBig(m[3]!));
  const data: Record<string, unknown> = { event: `arm-smmu-v3:${name}`, smmu };
  const ev: FaultEvent = { kind: 'trace-fault', access: 0, data };
  if (id !== undefined) ev.reason = id;
  if (client !== '(unassigned sid)') {
    data.device = client;
    const r = pciRid(client);
    if (r >= 0) ev.endpoint = r;
  }
  data.sid = sid;
  data.ssid = Number(numBig(m[4]!));
  if (m[5] !== undefined) {
    ev.address = numBig(m[5]);
    data.ipa = hex(numBig(m[6]!));
  }
  if (m[7] !== undefined) data.fetchAddr = hex(numBig(m[7]));
  return { ev, sid, hasAccess: m[5] !== undefined };
}

/**
 * The access line that follows a decoded 0x10–0x13 event, body at `p`, applied to `ev` (access
 * 1 read / 2 write; data.access the line as printed). Returns false when the line is not one.
 */
export function applySmmuAccess(line: string, p: number, ev: FaultEvent): boolean {
  SMMU_ACCESS.lastIndex = p;
  const m = SMMU_ACCESS.exec(line);
  if (m === null) return false;
  ev.access = m[3] === 'read' ? 1 : 2;
  const data = ev.data as Record<string, unknown>;
  data.access = line.slice(p).trimEnd();
  if (m[4] === 's2') data.s2 = true;
  if (m[7] !== undefined) data.stall = true;
  return true;
}

/** Whether the body at `p` is a decoded-event access line (see applySmmuAccess). */
export function isSmmuAccessLine(line: string, p: number): boolean {
  SMMU_ACCESS.lastIndex = p;
  return SMMU_ACCESS.test(line);
}

// ---- arm-smmu (SMMUv1/v2, drivers/iommu/arm/arm-smmu/arm-smmu.c arm_smmu_context_fault) -----

/**
 * `Unhandled context fault: fsr=0x%x, iova=0x%08lx, fsynr=0x%x, cbfrsynra=0x%x, cb=%d` (reference
 * A1b: a VERBATIM LKML line, source not pinned, UNVERIFIED; older kernels without `cbfrsynra=`,
 * accepted). Groups: 1 fsr, 2 iova, 3 fsynr, 4 cbfrsynra, 5 cb.
 */
const SMMU_CONTEXT_FAULT = new RegExp(
  `Unhandled context fault: fsr=0x(${HEX}+), iova=0x(${HEX}+), fsynr=0x(${HEX}+), (?:cbfrsynra=0x(${HEX}+), )?cb=(\\d+)\\s*$`,
  'y',
);
/** ARM_SMMU_FSYNR0_WNR (arm-smmu.h): the faulting access was a write. */
const FSYNR0_WNR = 0x10;

/**
 * An arm-smmu context fault, body at `p`: → trace-fault (`reason` FSR, `address` iova, `access`
 * from FSYNR0.WNR; data { event 'arm-smmu:context-fault', smmu, fsr, fsynr, cbfrsynra?, sid?
 * (CBFRSYNRA[15:0], the StreamID), cb }), or an error.
 */
export function parseSmmuContextFault(line: string, p: number, smmu: string): TraceEvent | string {
  SMMU_CONTEXT_FAULT.lastIndex = p;
  const m = SMMU_CONTEXT_FAULT.exec(line);
  if (m === null) return "arm-smmu: expected 'Unhandled context fault: fsr=0x…, iova=0x…, fsynr=0x…, [cbfrsynra=0x…, ]cb=N'";
  const fsr = parseInt(m[1]!, 16);
  const fsynr = parseInt(m[3]!, 16);
  const data: Record<string, unknown> = { event: 'arm-smmu:context-fault', smmu, fsr: `0x${m[1]!.toLowerCase()}`, fsynr: `0x${m[3]!.toLowerCase()}` };
  if (m[4] !== undefined) {
    data.cbfrsynra = `0x${m[4].toLowerCase()}`;
    data.sid = parseInt(m[4], 16) & 0xffff;
  }
  data.cb = parseInt(m[5]!, 10);
  return { kind: 'trace-fault', address: hexBig(m[2]!), access: fsynr & FSYNR0_WNR ? 2 : 1, reason: fsr, data };
}

// ---- virtio-iommu guest driver (drivers/iommu/virtio-iommu.c viommu_fault_handler, probe) -----

/**
 * `%s fault from EP %u at %#llx [%s%s%s]` (F_ADDRESS set) or `%s fault from EP %u` (reference
 * virtio-iommu.md "Faults (eventq)"); the reason `domain` / `page` / `unknown` (newer patches:
 * `permission`, `access`, `output address`); a proposed `PASID %u` variant accepted. `%#llx` of 0
 * prints `0`. Groups: 1 reason, 2 EP, 3 pasid, 4 address, 5 R/W/X letters.
 */
const VIOMMU_FAULT = /(.+?) fault from EP (\d+)(?: PASID (\d+))?(?: at (0x[0-9a-fA-F]+|0) \[([RWX]*)\])?\s*$/y;
/** The reason codes the driver prints by name (virtio spec §5.13.6.9: R_UNKNOWN 0, R_DOMAIN 1, R_MAPPING 2). */
const VIOMMU_REASONS: Readonly<Record<string, number>> = { unknown: 0, domain: 1, page: 2 };

/**
 * A virtio-iommu fault report, body at `p`: → trace-fault (`endpoint` the EP ID; `reason` 0/1/2
 * when printed by name, absent for the newer names; `access` 2 when W, else 1 when R, else 0;
 * data { event 'virtio-iommu:fault', device, reasonText, flags (the letters), pasid? }), or an error.
 */
export function parseViommuFault(line: string, p: number, device: string | undefined): TraceEvent | string {
  VIOMMU_FAULT.lastIndex = p;
  const m = VIOMMU_FAULT.exec(line);
  if (m === null) return "virtio-iommu: expected '<reason> fault from EP N [at 0x… [RWX]]'";
  const data: Record<string, unknown> = { event: 'virtio-iommu:fault' };
  if (device !== undefined) data.device = device;
  data.reasonText = m[1]!;
  const ev: FaultEvent = { kind: 'trace-fault', access: 0, endpoint: Number(m[2]!) >>> 0, data };
  const r = VIOMMU_REASONS[m[1]!];
  if (r !== undefined) ev.reason = r;
  if (m[3] !== undefined) data.pasid = Number(m[3]);
  if (m[4] !== undefined) {
    ev.address = numBig(m[4]);
    const f = m[5]!;
    data.flags = f;
    ev.access = f.includes('W') ? 2 : f.includes('R') ? 1 : 0;
  }
  return ev;
}

// ---- line prefixes (used by ./kmsg.ts) ------------------------------------------------------

/**
 * Past a dmesg -r log level `<N>` (`<NN>`, `<NNN>` with a facility: digits only, so ftrace's
 * `<idle>-0` / `<...>-1234` task names are not one) at `i`, or 0.
 */
export function levelEnd(line: string, i: number): number {
  let j = i + 1;
  while (j < i + 4 && line.charCodeAt(j) >= 0x30 && line.charCodeAt(j) <= 0x39) j++;
  return j > i + 1 && line.charCodeAt(j) === 0x3e /* > */ ? j + 1 : 0;
}

/**
 * ns since the Unix epoch of a journalctl `-o short-iso` date matched by kmsg.ts ISO (groups 1–6
 * date and time, 7 fraction, 8 zone); a missing zone is UTC.
 */
export function isoSecFrac(m: RegExpExecArray): [number, number] {
  let ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  const z = m[8];
  if (z !== undefined && z !== 'Z') {
    const sign = z.charCodeAt(0) === 0x2d ? -1 : 1;
    const hh = Number(z.slice(1, 3));
    const mm = Number(z.slice(z.length - 2));
    ms -= sign * (hh * 60 + mm) * 60000;
  }
  let frac = 0;
  const f = m[7];
  if (f !== undefined) frac = Number(f.padEnd(9, '0'));
  return [ms / 1000, frac];
}

/** A trace-note with `data` (which must hold `event` and `text`). */
export function note(data: Record<string, unknown>): NoteEvent {
  return { kind: 'trace-note', data };
}
