/**
 * virtio-iommu wire format: bytes ↔ typed values, nothing else (no device state).
 *
 * Every multi-byte field is little-endian; offsets are exact and there is no implicit padding
 * (virtio spec §5.13.4, §5.13.6; Linux include/uapi/linux/virtio_iommu.h; reference
 * ../../../shared/reference/virtio-iommu.md §1). u64 fields are bigint, u32/u16/u8 are numbers.
 *
 * Decoding never throws on guest bytes: a malformed request is a value (`DecodeResult`).
 * Encoding throws RangeError only when given values that do not fit their field (a caller bug).
 */
import {
  CONFIG_SIZE, FAULT_RECORD_SIZE, HEAD_SIZE, PROBE_PROPERTY_HEADER_SIZE, PROBE_RESV_MEM_SIZE, PROBE_T_MASK,
  PROBE_T_NONE, PROBE_T_RESV_MEM, READABLE_SIZE, T_ATTACH, T_DETACH, T_MAP, T_PROBE, T_UNMAP, TAIL_SIZE,
} from './constants.ts';

/** ATTACH (SPEC §5.13.6.2): 20 readable bytes. `reserved` is the le32 read from bytes 16..19. */
export interface AttachRequest { type: typeof T_ATTACH; domain: number; endpoint: number; flags: number; reserved: number }
/** DETACH (SPEC §5.13.6.3): 20 readable bytes. `reserved` is the le64 read from bytes 12..19. */
export interface DetachRequest { type: typeof T_DETACH; domain: number; endpoint: number; reserved: bigint }
/** MAP (SPEC §5.13.6.4): 36 readable bytes; virtEnd is inclusive. */
export interface MapRequest { type: typeof T_MAP; domain: number; virtStart: bigint; virtEnd: bigint; physStart: bigint; flags: number }
/** UNMAP (SPEC §5.13.6.5): 28 readable bytes; `reserved` is the le32 at bytes 24..27. */
export interface UnmapRequest { type: typeof T_UNMAP; domain: number; virtStart: bigint; virtEnd: bigint; reserved: number }
/** PROBE (SPEC §5.13.6.6): 72 readable bytes; `reserved` holds bytes 8..71. */
export interface ProbeRequest { type: typeof T_PROBE; endpoint: number; reserved: Uint8Array }
/** Any decoded request. */
export type Request = AttachRequest | DetachRequest | MapRequest | UnmapRequest | ProbeRequest;

/** Request fields for encoding: reserved fields default to zero, `headReserved` to [0, 0, 0]. */
export type RequestInit =
  | (Omit<AttachRequest, 'reserved'> & { reserved?: number })
  | (Omit<DetachRequest, 'reserved'> & { reserved?: bigint })
  | MapRequest
  | (Omit<UnmapRequest, 'reserved'> & { reserved?: number })
  | (Omit<ProbeRequest, 'reserved'> & { reserved?: Uint8Array });

/**
 * Outcome of decoding the device-readable part of a request.
 * - `ok`: the request.
 * - `short-head`: fewer than 4 readable bytes (QEMU: virtio_error "bad head/tail size").
 * - `unknown-type`: head.type is not 1..5 (QEMU writes S_UNSUPP; the spec says leave it unwritten).
 * - `short-payload`: fewer readable bytes than the type needs (QEMU writes S_INVAL).
 */
export type DecodeResult =
  | { kind: 'ok'; req: Request }
  | { kind: 'short-head'; got: number }
  | { kind: 'unknown-type'; type: number }
  | { kind: 'short-payload'; type: number; need: number; got: number };

function le32(b: Uint8Array, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}
function le64(b: Uint8Array, o: number): bigint {
  return (BigInt(le32(b, o + 4)) << 32n) | BigInt(le32(b, o));
}
function put32(b: Uint8Array, o: number, v: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`virtio-iommu codec: ${what} is not a u32: ${v}`);
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = (v >>> 24) & 0xff;
}
function put64(b: Uint8Array, o: number, v: bigint, what: string): void {
  if (v < 0n || v > 0xffffffffffffffffn) throw new RangeError(`virtio-iommu codec: ${what} is not a u64: ${v}`);
  put32(b, o, Number(v & 0xffffffffn), what);
  put32(b, o + 4, Number(v >> 32n), what);
}

/** Reads a le32 at byte offset `o` (exported for tests and the device's fast decode). */
export const readLe32 = le32;
/** Reads a le64 at byte offset `o` as bigint. */
export const readLe64 = le64;

/** Number of device-readable bytes a request of `type` occupies (head included), or undefined. */
export function readableSize(type: number): number | undefined {
  return READABLE_SIZE[type];
}

/** Device-writable size of a request: probe_size + 4 for PROBE, else 4 (the tail). */
export function writableSize(type: number, probeSize: number): number {
  return type === T_PROBE ? probeSize + TAIL_SIZE : TAIL_SIZE;
}

/**
 * Encodes the device-readable part of a request (head + payload: 20/20/36/28/72 bytes).
 * `headReserved` fills head bytes 1..3 (the device must ignore them). Throws RangeError when a
 * value does not fit its field.
 */
export function encodeRequest(req: RequestInit, headReserved: [number, number, number] = [0, 0, 0]): Uint8Array {
  const size = READABLE_SIZE[req.type];
  const b = new Uint8Array(size);
  b[0] = req.type;
  b[1] = headReserved[0] & 0xff;
  b[2] = headReserved[1] & 0xff;
  b[3] = headReserved[2] & 0xff;
  switch (req.type) {
    case T_ATTACH:
      put32(b, 4, req.domain, 'domain');
      put32(b, 8, req.endpoint, 'endpoint');
      put32(b, 12, req.flags, 'flags');
      put32(b, 16, req.reserved ?? 0, 'reserved');
      break;
    case T_DETACH:
      put32(b, 4, req.domain, 'domain');
      put32(b, 8, req.endpoint, 'endpoint');
      put64(b, 12, req.reserved ?? 0n, 'reserved');
      break;
    case T_MAP:
      put32(b, 4, req.domain, 'domain');
      put64(b, 8, req.virtStart, 'virt_start');
      put64(b, 16, req.virtEnd, 'virt_end');
      put64(b, 24, req.physStart, 'phys_start');
      put32(b, 32, req.flags, 'flags');
      break;
    case T_UNMAP:
      put32(b, 4, req.domain, 'domain');
      put64(b, 8, req.virtStart, 'virt_start');
      put64(b, 16, req.virtEnd, 'virt_end');
      put32(b, 24, req.reserved ?? 0, 'reserved');
      break;
    case T_PROBE:
      put32(b, 4, req.endpoint, 'endpoint');
      if (req.reserved) {
        if (req.reserved.length !== 64) throw new RangeError('virtio-iommu codec: PROBE reserved must be 64 bytes');
        b.set(req.reserved, 8);
      }
      break;
  }
  return b;
}

/** Lowercase hex of bytes, two digits each, no separators (StepResult.request, the event detail). */
export function bytesToHex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

/** Bytes of lowercase or uppercase hex text without separators (bytesToHex's inverse); null when malformed. */
export function hexToBytes(hex: string): Uint8Array | null {
  if (hex.length % 2 !== 0 || !/^[0-9a-f]*$/i.test(hex)) return null;
  const b = new Uint8Array(hex.length / 2);
  for (let i = 0; i < b.length; i++) b[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return b;
}

/** Encodes a bare 4-byte head of any type (e.g. an unknown request type). */
export function encodeHead(type: number): Uint8Array {
  const b = new Uint8Array(HEAD_SIZE);
  b[0] = type & 0xff;
  return b;
}

/**
 * Decodes the device-readable part of a request into a `Request` value (bigint u64 fields, every
 * reserved field): the form for tools and tests; the device uses decodeRequestInto. Bytes past the
 * type's size are ignored, as QEMU does (iov_to_buf reads exactly the payload size). Never throws.
 */
export function decodeRequest(readable: Uint8Array): DecodeResult {
  if (readable.length < HEAD_SIZE) return { kind: 'short-head', got: readable.length };
  const type = readable[0];
  const need = READABLE_SIZE[type];
  if (need === undefined) return { kind: 'unknown-type', type };
  if (readable.length < need) return { kind: 'short-payload', type, need, got: readable.length };
  const b = readable;
  switch (type) {
    case T_ATTACH:
      return { kind: 'ok', req: { type, domain: le32(b, 4), endpoint: le32(b, 8), flags: le32(b, 12), reserved: le32(b, 16) } };
    case T_DETACH:
      return { kind: 'ok', req: { type, domain: le32(b, 4), endpoint: le32(b, 8), reserved: le64(b, 12) } };
    case T_MAP:
      return { kind: 'ok', req: { type, domain: le32(b, 4), virtStart: le64(b, 8), virtEnd: le64(b, 16), physStart: le64(b, 24), flags: le32(b, 32) } };
    case T_UNMAP:
      return { kind: 'ok', req: { type, domain: le32(b, 4), virtStart: le64(b, 8), virtEnd: le64(b, 16), reserved: le32(b, 24) } };
    default:
      return { kind: 'ok', req: { type: T_PROBE, endpoint: le32(b, 4), reserved: b.slice(8, 72) } };
  }
}

/**
 * A request decoded in place, the device's typed request (requests.ts decodes each request once
 * into one of these, executes it, and builds its 'request' event from it). Numbers only: u64 fields
 * as u32 halves, so the MAP/UNMAP hot path decodes without bigint or allocation. Which fields hold
 * a value depends on `type` (the others keep stale values; read them only for that type):
 *  - ATTACH: domain, endpoint, flags, reserved (le32 at 16);
 *  - DETACH: domain, endpoint (its le64 reserved is not decoded: neither mode checks it);
 *  - MAP: domain, start/end (virt_start, virt_end inclusive), phys, flags;
 *  - UNMAP: domain, start/end (its reserved is not decoded: ignored in both modes);
 *  - PROBE: endpoint (its 64 reserved bytes are not decoded).
 * `whole` is false when the readable part is shorter than the type needs (or the type is unknown):
 * then no field is decoded.
 */
export class DecodedRequest {
  /** head.type: readable[0] (0 for an empty readable part). */
  type = 0;
  /** The readable part holds the whole request of a known type (READABLE_SIZE). */
  whole = false;
  domain = 0;
  endpoint = 0;
  flags = 0;
  reserved = 0;
  startHi = 0;
  startLo = 0;
  endHi = 0;
  endLo = 0;
  physHi = 0;
  physLo = 0;
}

/**
 * Decodes the readable part of a request into `q` (see DecodedRequest for the fields of each type).
 * Bytes past the type's size are ignored, as QEMU does. Never throws.
 */
export function decodeRequestInto(readable: Uint8Array, q: DecodedRequest): void {
  const b = readable;
  const type = b.length > 0 ? b[0] : 0;
  q.type = type;
  const need = READABLE_SIZE[type];
  q.whole = need !== undefined && b.length >= need;
  if (!q.whole) return;
  if (type === T_PROBE) {
    q.endpoint = le32(b, 4);
    return;
  }
  q.domain = le32(b, 4);
  if (type === T_MAP || type === T_UNMAP) {
    q.startLo = le32(b, 8);
    q.startHi = le32(b, 12);
    q.endLo = le32(b, 16);
    q.endHi = le32(b, 20);
    if (type === T_MAP) {
      q.physLo = le32(b, 24);
      q.physHi = le32(b, 28);
      q.flags = le32(b, 32);
    }
    return;
  }
  q.endpoint = le32(b, 8);
  if (type === T_ATTACH) {
    q.flags = le32(b, 12);
    q.reserved = le32(b, 16);
  }
}

/** struct virtio_iommu_req_tail: status at byte 0, reserved bytes 1..3 (zero when written by this device). */
export function encodeTail(status: number): Uint8Array {
  const b = new Uint8Array(TAIL_SIZE);
  b[0] = status & 0xff;
  return b;
}

/** Decoded tail: `reserved` holds bytes 1..3 as a little-endian number (0 when zeroed). */
export interface Tail { status: number; reserved: number }

/** Decodes the 4-byte tail at `offset`. Throws RangeError when the bytes are too short (caller bug). */
export function decodeTail(bytes: Uint8Array, offset = 0): Tail {
  if (bytes.length < offset + TAIL_SIZE) throw new RangeError('virtio-iommu codec: tail out of bounds');
  return { status: bytes[offset], reserved: bytes[offset + 1] | (bytes[offset + 2] << 8) | (bytes[offset + 3] << 16) };
}

/** One reserved region as reported by a RESV_MEM property (SPEC §5.13.6.7.1); end is inclusive. */
export interface ResvMem { subtype: number; start: bigint; end: bigint }

/**
 * Fills a PROBE `properties` buffer of `probeSize` bytes with one RESV_MEM property (24 bytes,
 * length = 20) per region, in the given order, zero-filling the rest (SPEC §5.13.6.6 device rules).
 * Returns null when 24 × regions > probeSize: the device then writes no property (S_INVAL).
 */
export function encodeResvMemProperties(regions: readonly ResvMem[], probeSize: number): Uint8Array | null {
  if (regions.length * PROBE_RESV_MEM_SIZE > probeSize) return null;
  const b = new Uint8Array(probeSize);
  let o = 0;
  for (const r of regions) {
    b[o] = PROBE_T_RESV_MEM; // le16 type (bits 12-15 reserved = 0)
    b[o + 2] = PROBE_RESV_MEM_SIZE - PROBE_PROPERTY_HEADER_SIZE; // le16 length = 20
    b[o + 4] = r.subtype & 0xff; // subtype; bytes 5..7 reserved = 0
    put64(b, o + 8, r.start, 'start');
    put64(b, o + 16, r.end, 'end');
    o += PROBE_RESV_MEM_SIZE;
  }
  return b;
}

/** One PROBE property as parsed by a driver; `resvMem` is set for a well-formed RESV_MEM. */
export interface ProbeProperty {
  /** Byte offset of the property header inside `properties`. */
  offset: number;
  /** Bits 0-11 of the first le16. */
  type: number;
  /** Bits 12-15 of the first le16; a driver MUST ignore the property when non-zero. */
  reservedBits: number;
  /** Value size in bytes, header excluded. */
  length: number;
  resvMem?: ResvMem & { reserved: number };
}

/**
 * Parses PROBE properties the way the spec tells a driver to (SPEC §5.13.6.6 driver rules): walk
 * headers, the next one `length + 4` bytes further, until a type 0 or the end of the buffer; a
 * property whose value would run past the end stops the walk (`truncated`). Properties with
 * non-zero reserved bits and unknown types are returned too (callers decide to ignore them).
 */
export function decodeProbeProperties(properties: Uint8Array): { properties: ProbeProperty[]; truncated: boolean } {
  const out: ProbeProperty[] = [];
  let o = 0;
  while (o + PROBE_PROPERTY_HEADER_SIZE <= properties.length) {
    const t16 = properties[o] | (properties[o + 1] << 8);
    const type = t16 & PROBE_T_MASK;
    if (type === PROBE_T_NONE) return { properties: out, truncated: false };
    const length = properties[o + 2] | (properties[o + 3] << 8);
    if (o + PROBE_PROPERTY_HEADER_SIZE + length > properties.length) return { properties: out, truncated: true };
    const p: ProbeProperty = { offset: o, type, reservedBits: t16 >>> 12, length };
    if (type === PROBE_T_RESV_MEM && length + PROBE_PROPERTY_HEADER_SIZE >= PROBE_RESV_MEM_SIZE) {
      p.resvMem = {
        subtype: properties[o + 4],
        reserved: properties[o + 5] | (properties[o + 6] << 8) | (properties[o + 7] << 16),
        start: le64(properties, o + 8),
        end: le64(properties, o + 16),
      };
    }
    out.push(p);
    o += PROBE_PROPERTY_HEADER_SIZE + length;
  }
  return { properties: out, truncated: false };
}

/** struct virtio_iommu_fault fields (SPEC §5.13.6.9). */
export interface FaultRecord {
  /** FAULT_R_* (u8 at 0). */
  reason: number;
  /** FAULT_F_* (le32 at 4). */
  flags: number;
  /** Endpoint ID (le32 at 8). */
  endpoint: number;
  /** Faulting address (le64 at 16), valid when FAULT_F_ADDRESS is set. */
  address: bigint;
}

/** Encodes a 24-byte fault record; reserved bytes 1..3 and reserved1 (12..15) are zero. */
export function encodeFault(f: FaultRecord): Uint8Array {
  const b = new Uint8Array(FAULT_RECORD_SIZE);
  b[0] = f.reason & 0xff;
  put32(b, 4, f.flags, 'flags');
  put32(b, 8, f.endpoint, 'endpoint');
  put64(b, 16, f.address, 'address');
  return b;
}

/** Decodes a 24-byte fault record, exposing the reserved fields a driver must check/ignore. */
export function decodeFault(b: Uint8Array): FaultRecord & { reserved: number; reserved1: number } {
  if (b.length < FAULT_RECORD_SIZE) throw new RangeError('virtio-iommu codec: fault record shorter than 24 bytes');
  return {
    reason: b[0],
    reserved: b[1] | (b[2] << 8) | (b[3] << 16),
    flags: le32(b, 4),
    endpoint: le32(b, 8),
    reserved1: le32(b, 12),
    address: le64(b, 16),
  };
}

/** struct virtio_iommu_config (SPEC §5.13.4): 40 bytes. Ranges are inclusive. */
export interface VirtioIommuConfig {
  /** le64 at 0: supported page sizes; the lowest set bit is the granule. */
  pageSizeMask: bigint;
  /** le64 at 8 and 16. */
  inputRange: { start: bigint; end: bigint };
  /** le32 at 24 and 28. */
  domainRange: { start: number; end: number };
  /** le32 at 32: PROBE properties size in bytes. */
  probeSize: number;
  /** u8 at 36 (bytes 37..39 reserved). */
  bypass: number;
}

/** Encodes the 40-byte config space. */
export function encodeConfig(c: VirtioIommuConfig): Uint8Array {
  const b = new Uint8Array(CONFIG_SIZE);
  put64(b, 0, c.pageSizeMask, 'page_size_mask');
  put64(b, 8, c.inputRange.start, 'input_range.start');
  put64(b, 16, c.inputRange.end, 'input_range.end');
  put32(b, 24, c.domainRange.start, 'domain_range.start');
  put32(b, 28, c.domainRange.end, 'domain_range.end');
  put32(b, 32, c.probeSize, 'probe_size');
  b[36] = c.bypass & 0xff;
  return b;
}

/** Decodes the 40-byte config space. Throws RangeError when shorter than 40 bytes (caller bug). */
export function decodeConfig(b: Uint8Array): VirtioIommuConfig {
  if (b.length < CONFIG_SIZE) throw new RangeError('virtio-iommu codec: config shorter than 40 bytes');
  return {
    pageSizeMask: le64(b, 0),
    inputRange: { start: le64(b, 8), end: le64(b, 16) },
    domainRange: { start: le32(b, 24), end: le32(b, 28) },
    probeSize: le32(b, 32),
    bypass: b[36],
  };
}
