import { describe, it, expect } from 'vitest';
import {
  DecodedRequest, decodeRequestInto,
  decodeConfig, decodeFault, decodeProbeProperties, decodeRequest, decodeTail, encodeConfig, encodeFault, encodeHead, encodeRequest,
  encodeResvMemProperties, encodeTail, writableSize, type Request,
} from '../../../../core/viommu/virtio-iommu/codec.ts';
import {
  FAULT_F_ADDRESS, FAULT_F_WRITE, FAULT_R_MAPPING, S_INVAL, STATUS_NAMES, T_ATTACH, T_DETACH, T_MAP, T_PROBE, T_UNMAP, parseStatus, statusName,
} from '../../../../core/viommu/virtio-iommu/constants.ts';
import { hexBytes } from './helpers.ts';

describe('codec: request layouts (spec §5.13.6, exact offsets)', () => {
  it('ATTACH: 20 readable bytes, domain@4 endpoint@8 flags@12 reserved@16', () => {
    const b = encodeRequest({ type: T_ATTACH, domain: 0x11223344, endpoint: 0x0108, flags: 1, reserved: 0xdeadbeef });
    expect(hexBytes(b)).toBe('01000000' + '44332211' + '08010000' + '01000000' + 'efbeadde');
    expect(decodeRequest(b)).toEqual({ kind: 'ok', req: { type: T_ATTACH, domain: 0x11223344, endpoint: 0x108, flags: 1, reserved: 0xdeadbeef } });
  });

  it('DETACH: 20 readable bytes, domain@4 endpoint@8 reserved[8]@12', () => {
    const b = encodeRequest({ type: T_DETACH, domain: 7, endpoint: 0xffffffff, reserved: 0x0102030405060708n });
    expect(hexBytes(b)).toBe('02000000' + '07000000' + 'ffffffff' + '0807060504030201');
    expect(decodeRequest(b)).toEqual({ kind: 'ok', req: { type: T_DETACH, domain: 7, endpoint: 0xffffffff, reserved: 0x0102030405060708n } });
  });

  it('MAP: 36 readable bytes, domain@4 virt_start@8 virt_end@16 phys_start@24 flags@32', () => {
    const b = encodeRequest({ type: T_MAP, domain: 1, virtStart: 0xfffffffffffff000n, virtEnd: 0xffffffffffffffffn, physStart: 0x123456789abcd000n, flags: 7 });
    expect(b.length).toBe(36);
    expect(hexBytes(b)).toBe('03000000' + '01000000' + '00f0ffffffffffff' + 'ffffffffffffffff' + '00d0bc9a78563412' + '07000000');
    expect(decodeRequest(b)).toEqual({ kind: 'ok', req: { type: T_MAP, domain: 1, virtStart: 0xfffffffffffff000n, virtEnd: 0xffffffffffffffffn, physStart: 0x123456789abcd000n, flags: 7 } });
  });

  it('UNMAP: 28 readable bytes, domain@4 virt_start@8 virt_end@16 reserved@24', () => {
    const b = encodeRequest({ type: T_UNMAP, domain: 2, virtStart: 0x1000n, virtEnd: 0x1fffn, reserved: 5 });
    expect(hexBytes(b)).toBe('04000000' + '02000000' + '0010000000000000' + 'ff1f000000000000' + '05000000');
    expect(decodeRequest(b)).toEqual({ kind: 'ok', req: { type: T_UNMAP, domain: 2, virtStart: 0x1000n, virtEnd: 0x1fffn, reserved: 5 } });
  });

  it('PROBE: 72 readable bytes, endpoint@4 reserved[64]@8; writable probe_size + 4', () => {
    const b = encodeRequest({ type: T_PROBE, endpoint: 0x10 });
    expect(b.length).toBe(72);
    expect(hexBytes(b.subarray(0, 8))).toBe('05000000' + '10000000');
    expect([...b.subarray(8)].every((x) => x === 0)).toBe(true);
    const got = decodeRequest(b);
    expect(got.kind === 'ok' && got.req.type === T_PROBE && got.req.endpoint).toBe(0x10);
    expect(writableSize(T_PROBE, 512)).toBe(516);
    expect(writableSize(T_MAP, 512)).toBe(4);
  });

  it('round-trips every type and ignores head reserved bytes and trailing bytes', () => {
    const reqs: Request[] = [
      { type: T_ATTACH, domain: 0, endpoint: 0, flags: 0, reserved: 0 },
      { type: T_DETACH, domain: 0xffffffff, endpoint: 1, reserved: 0n },
      { type: T_MAP, domain: 3, virtStart: 0n, virtEnd: 0n, physStart: 0xffffffffffffffffn, flags: 0 },
      { type: T_UNMAP, domain: 4, virtStart: 1n, virtEnd: 2n, reserved: 0 },
      { type: T_PROBE, endpoint: 5, reserved: new Uint8Array(64).fill(9) },
    ];
    for (const r of reqs) {
      const b = encodeRequest(r, [0xaa, 0xbb, 0xcc]);
      const longer = new Uint8Array(b.length + 8);
      longer.set(b);
      expect(decodeRequest(longer)).toEqual({ kind: 'ok', req: r });
    }
  });

  it('reports malformed requests as values', () => {
    expect(decodeRequest(new Uint8Array(3))).toEqual({ kind: 'short-head', got: 3 });
    expect(decodeRequest(encodeHead(9))).toEqual({ kind: 'unknown-type', type: 9 });
    expect(decodeRequest(encodeHead(0))).toEqual({ kind: 'unknown-type', type: 0 });
    expect(decodeRequest(encodeRequest({ type: T_MAP, domain: 1, virtStart: 0n, virtEnd: 1n, physStart: 0n, flags: 0 }).subarray(0, 35))).toEqual({ kind: 'short-payload', type: T_MAP, need: 36, got: 35 });
  });

  it('rejects values that do not fit (caller bugs)', () => {
    expect(() => encodeRequest({ type: T_ATTACH, domain: -1, endpoint: 0, flags: 0 })).toThrow(RangeError);
    expect(() => encodeRequest({ type: T_MAP, domain: 0, virtStart: 1n << 64n, virtEnd: 0n, physStart: 0n, flags: 0 })).toThrow(RangeError);
  });
});

describe('codec: tail, statuses', () => {
  it('tail is status@0 with zero reserved bytes', () => {
    expect(hexBytes(encodeTail(S_INVAL))).toBe('04000000');
    expect(decodeTail(Uint8Array.of(0, 0, 0, 0, 6, 1, 2, 3), 4)).toEqual({ status: 6, reserved: 0x030201 });
  });

  it('names every status and parses names back', () => {
    expect(STATUS_NAMES).toEqual(['OK', 'IOERR', 'UNSUPP', 'DEVERR', 'INVAL', 'RANGE', 'NOENT', 'FAULT', 'NOMEM']);
    STATUS_NAMES.forEach((n, i) => {
      expect(statusName(i)).toBe(n);
      expect(parseStatus(n)).toBe(i);
      expect(parseStatus(`VIRTIO_IOMMU_S_${n}`)).toBe(i);
      expect(parseStatus(`s_${n.toLowerCase()}`)).toBe(i);
    });
    expect(statusName(9)).toBe('S_9');
    expect(parseStatus('BOGUS')).toBeUndefined();
  });
});

describe('codec: PROBE properties (spec §5.13.6.6-7)', () => {
  it('encodes RESV_MEM as 24-byte properties with length 20, zero-filled to probe_size', () => {
    const b = encodeResvMemProperties([
      { subtype: 0, start: 0x0n, end: 0xfffn },
      { subtype: 1, start: 0xfee00000n, end: 0xfeefffffn },
    ], 64)!;
    expect(b.length).toBe(64);
    expect(hexBytes(b.subarray(0, 24))).toBe('01001400' + '00000000' + '0000000000000000' + 'ff0f000000000000');
    expect(hexBytes(b.subarray(24, 48))).toBe('01001400' + '01000000' + '0000e0fe00000000' + 'ffffeffe00000000');
    expect([...b.subarray(48)].every((x) => x === 0)).toBe(true);
    expect(encodeResvMemProperties([{ subtype: 0, start: 0n, end: 1n }, { subtype: 0, start: 2n, end: 3n }, { subtype: 0, start: 4n, end: 5n }], 71)).toBeNull();
    expect(encodeResvMemProperties([{ subtype: 0, start: 0n, end: 1n }, { subtype: 0, start: 2n, end: 3n }, { subtype: 0, start: 4n, end: 5n }], 72)).not.toBeNull();
  });

  it('parses like a driver: next at +length+4, stops at type 0, keeps unknown and reserved-bit properties', () => {
    const b = new Uint8Array(64);
    // unknown type 0x7 with length 4, reserved bits set in the header (0x1007)
    b.set([0x07, 0x10, 0x04, 0x00, 1, 2, 3, 4], 0);
    // RESV_MEM at 8
    b.set([0x01, 0x00, 0x14, 0x00, 0x01, 0, 0, 0, 0, 0, 0x09, 0x08, 0, 0, 0, 0, 0xff, 0xff, 0x09, 0x08, 0, 0, 0, 0], 8);
    const got = decodeProbeProperties(b);
    expect(got.truncated).toBe(false);
    expect(got.properties).toEqual([
      { offset: 0, type: 7, reservedBits: 1, length: 4 },
      { offset: 8, type: 1, reservedBits: 0, length: 20, resvMem: { subtype: 1, reserved: 0, start: 0x08090000n, end: 0x0809ffffn } },
    ]);
    const cut = new Uint8Array(12);
    cut.set([0x01, 0x00, 0x14, 0x00], 0);
    expect(decodeProbeProperties(cut)).toEqual({ properties: [], truncated: true });
  });
});

describe('codec: fault record (24 bytes, spec §5.13.6.9)', () => {
  it('reason@0 flags@4 endpoint@8 reserved1@12 address@16, reserved fields zero', () => {
    const b = encodeFault({ reason: FAULT_R_MAPPING, flags: FAULT_F_ADDRESS | FAULT_F_WRITE, endpoint: 0x0108, address: 0xfffffffffffff123n });
    expect(hexBytes(b)).toBe('02000000' + '02010000' + '08010000' + '00000000' + '23f1ffffffffffff');
    expect(decodeFault(b)).toEqual({ reason: 2, reserved: 0, flags: 0x102, endpoint: 0x108, reserved1: 0, address: 0xfffffffffffff123n });
  });
});

describe('codec: config space (40 bytes, spec §5.13.4)', () => {
  it('lays out page_size_mask@0 input_range@8/16 domain_range@24/28 probe_size@32 bypass@36', () => {
    const c = { pageSizeMask: 0xfffffffffffff000n, inputRange: { start: 0n, end: 0x7fffffffffn }, domainRange: { start: 0, end: 0xffffffff }, probeSize: 512, bypass: 1 };
    const b = encodeConfig(c);
    expect(hexBytes(b)).toBe('00f0ffffffffffff' + '0000000000000000' + 'ffffffff7f000000' + '00000000' + 'ffffffff' + '00020000' + '01000000');
    expect(decodeConfig(b)).toEqual(c);
  });
});

describe('codec: decodeRequestInto (the device decodes each request once)', () => {
  const hi = (v: bigint) => Number(v >> 32n);
  const lo = (v: bigint) => Number(v & 0xffffffffn);
  it('holds the same fields as decodeRequest, u64 as u32 halves, for every type', () => {
    const q = new DecodedRequest();
    decodeRequestInto(encodeRequest({ type: T_ATTACH, domain: 0xffffffff, endpoint: 8, flags: 1, reserved: 7 }), q);
    expect(q).toMatchObject({ type: T_ATTACH, whole: true, domain: 0xffffffff, endpoint: 8, flags: 1, reserved: 7 });
    decodeRequestInto(encodeRequest({ type: T_DETACH, domain: 3, endpoint: 0x999 }), q);
    expect(q).toMatchObject({ type: T_DETACH, whole: true, domain: 3, endpoint: 0x999 });
    const s = 0xfffffffffffff000n;
    const e = 0xffffffffffffffffn;
    const p = 0x123456789abc000n;
    decodeRequestInto(encodeRequest({ type: T_MAP, domain: 2, virtStart: s, virtEnd: e, physStart: p, flags: 3 }), q);
    expect(q).toMatchObject({ type: T_MAP, whole: true, domain: 2, startHi: hi(s), startLo: lo(s), endHi: hi(e), endLo: lo(e), physHi: hi(p), physLo: lo(p), flags: 3 });
    decodeRequestInto(encodeRequest({ type: T_UNMAP, domain: 4, virtStart: 0x1000n, virtEnd: 0x1fffn }), q);
    expect(q).toMatchObject({ type: T_UNMAP, whole: true, domain: 4, startHi: 0, startLo: 0x1000, endHi: 0, endLo: 0x1fff });
    decodeRequestInto(encodeRequest({ type: T_PROBE, endpoint: 16 }), q);
    expect(q).toMatchObject({ type: T_PROBE, whole: true, endpoint: 16 });
  });
  it('is not whole for a short payload, an unknown type or an empty readable part', () => {
    const q = new DecodedRequest();
    decodeRequestInto(encodeRequest({ type: T_MAP, domain: 2, virtStart: 0n, virtEnd: 0xfffn, physStart: 0n, flags: 3 }).subarray(0, 35), q);
    expect([q.type, q.whole]).toEqual([T_MAP, false]);
    decodeRequestInto(encodeHead(9), q);
    expect([q.type, q.whole]).toEqual([9, false]);
    decodeRequestInto(new Uint8Array(0), q);
    expect([q.type, q.whole]).toEqual([0, false]);
  });
});
