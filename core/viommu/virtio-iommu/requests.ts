/**
 * Request execution: one requestq element (readable part + writable part) → status written into the
 * writable part, used length returned. Framing here; the readable part is decoded once into the
 * state's DecodedRequest (codec.ts decodeRequestInto), each request type is executed from it by its
 * own function returning a status value (never throwing on guest input), and the 'request' event is
 * built from it too: the bytes are read once.
 *
 * Modes (reference ../../../shared/reference/virtio-iommu.md §2):
 *  - qemu: QDEV virtio_iommu_handle_command and virtio_iommu_{attach,detach,map,unmap,probe},
 *    deviations included, with QEMU's check order;
 *  - spec: the virtio spec §5.13.6 device requirements, plus the project's choices where the spec
 *    names no status (documented at each check).
 *
 * Hot path (MAP/UNMAP): fields are decoded as u32 halves into a reused DecodedRequest; no bigint
 * and no allocation unless the event sink is enabled.
 */
import { UNMAP_OK } from '../../engine/mapping-store.ts';
import { leanU64 } from '../../engine/u64.ts';
import { decodeRequestInto, encodeResvMemProperties, type DecodedRequest } from './codec.ts';
import {
  ATTACH_F_BYPASS, ATTACH_F_MASK, MAP_F_MASK, MAP_F_MMIO, READABLE_SIZE, S_DEVERR, S_INVAL, S_NOENT, S_OK, S_RANGE,
  S_UNSUPP, T_ATTACH, T_DETACH, T_MAP, T_PROBE, T_UNMAP, TAIL_SIZE,
} from './constants.ts';
import { emit, hex, notifyMap, notifyUnmap, type DeviceState, type Domain, type ResvTable } from './state.ts';
import type { EventPayload } from '../../events/catalog.ts';

/** Marker status: the device leaves the buffers unwritten (used length 0). */
const UNWRITTEN = -1;

/** a < b for u64 halves. */
function lt(ah: number, al: number, bh: number, bl: number): boolean {
  return ah < bh || (ah === bh && al < bl);
}

/**
 * Executes one request. `writable` is the device-writable part (its length is the writable size);
 * the device writes the reply there and the return value is the used length: 4, probe_size + 4 for
 * PROBE, or 0 when nothing was written. Emits effect events, then one 'request' event.
 */
export function handleRequestInto(st: DeviceState, readable: Uint8Array, writable: Uint8Array): number {
  const q = st.req;
  decodeRequestInto(readable, q);
  const wsize = writable.length;
  const type = q.type;
  if (st.broken) return done(st, q, UNWRITTEN, 0);
  if (readable.length < 4 || wsize < TAIL_SIZE) {
    // QDEV: virtio_error + element detached with length 0. Spec: cannot find the tail → unwritten.
    if (st.qemu) st.deviceError('virtio-iommu bad head/tail size');
    return done(st, q, UNWRITTEN, 0);
  }
  if (type === T_PROBE) return probe(st, q, writable);
  let status: number;
  if (READABLE_SIZE[type] === undefined) {
    // QDEV writes S_UNSUPP; SPEC §5.13.6: SHOULD NOT write, used length 0.
    status = st.qemu ? S_UNSUPP : UNWRITTEN;
  } else if (!q.whole) {
    // QDEV virtio_iommu_iov_to_req → S_INVAL. SPEC: too small to parse → unwritten.
    status = st.qemu ? S_INVAL : UNWRITTEN;
  } else if (type === T_MAP) {
    status = execMap(st, q);
  } else if (type === T_UNMAP) {
    status = execUnmap(st, q);
  } else if (type === T_ATTACH) {
    status = execAttach(st, q);
  } else {
    status = execDetach(st, q);
  }
  if (status === UNWRITTEN) return done(st, q, UNWRITTEN, 0);
  writable[0] = status;
  writable[1] = 0;
  writable[2] = 0;
  writable[3] = 0;
  return done(st, q, status, TAIL_SIZE);
}

/** Emits the 'request' event of `q` (its fields from the decoded request) and returns `used`. */
function done(st: DeviceState, q: DecodedRequest, status: number, used: number): number {
  if (st.sink.enabled) {
    const type = q.type;
    const k = st.sink;
    // MAP and UNMAP answered (the requests a run sends by the million): one object of its final shape.
    if (q.whole && status !== UNWRITTEN && type === T_MAP) {
      emit(k, 'request', { reqType: type, used, status, domain: q.domain, virtStart: leanU64(k, q.startHi, q.startLo), virtEnd: leanU64(k, q.endHi, q.endLo), physStart: leanU64(k, q.physHi, q.physLo), reqFlags: q.flags });
      return used;
    }
    if (q.whole && status !== UNWRITTEN && type === T_UNMAP) {
      emit(k, 'request', { reqType: type, used, status, domain: q.domain, virtStart: leanU64(k, q.startHi, q.startLo), virtEnd: leanU64(k, q.endHi, q.endLo) });
      return used;
    }
    const p: EventPayload<'request'> = { reqType: type, used };
    if (status !== UNWRITTEN) p.status = status;
    if (q.whole) {
      if (type !== T_PROBE) p.domain = q.domain;
      if (type === T_ATTACH || type === T_DETACH || type === T_PROBE) p.endpoint = q.endpoint;
      if (type === T_MAP || type === T_UNMAP) {
        p.virtStart = leanU64(st.sink, q.startHi, q.startLo);
        p.virtEnd = leanU64(st.sink, q.endHi, q.endLo);
      }
      if (type === T_MAP) {
        p.physStart = leanU64(st.sink, q.physHi, q.physLo);
        p.reqFlags = q.flags;
      }
      if (type === T_ATTACH) p.reqFlags = q.flags;
    }
    emit(st.sink, 'request', p);
  }
  return used;
}

/** ATTACH (SPEC §5.13.6.2; QDEV virtio_iommu_attach). */
function execAttach(st: DeviceState, q: DecodedRequest): number {
  const domainId = q.domain;
  const epId = q.endpoint;
  const flags = q.flags;
  const bypass = (flags & ATTACH_F_BYPASS) !== 0;
  if (st.qemu) {
    // QDEV order: flags → endpoint → implicit detach → bypass match. `reserved` is not checked.
    if ((flags & ~ATTACH_F_MASK) !== 0) return S_INVAL;
    if (!st.existing.has(epId)) return S_NOENT;
    const e = st.getEndpoint(epId);
    // Implicit detach first, even when re-attaching to the same domain: a sole endpoint's domain
    // (and its mappings) is destroyed and re-created empty.
    if (e.domain !== null) st.detach(e, true);
    let d = st.domains.get(domainId);
    if (d === undefined) d = st.createDomain(domainId, bypass);
    else if (d.bypass !== bypass) return S_INVAL; // the endpoint stays detached (QEMU quirk)
    st.attach(e, d);
    return S_OK;
  }
  // Spec order (project choice): reserved → flags → BYPASS without BYPASS_CONFIG → domain_range →
  // endpoint → bypass consistency; any failure leaves the state untouched.
  if (q.reserved !== 0) return S_INVAL; // MUST reject reserved != 0
  if ((flags & ~ATTACH_F_MASK) !== 0) return S_INVAL; // MUST reject unknown flags
  if (bypass && !st.negBypassConfig) return S_INVAL; // project: flag not available → unrecognized
  if (st.domainOutOfRange(domainId)) return S_RANGE; // project: no status specified
  if (!st.existing.has(epId)) return S_NOENT;
  const cur = st.endpoints.get(epId);
  const target = st.domains.get(domainId);
  if (cur !== undefined && cur.domain !== null && cur.domain.id === domainId) {
    // Already attached to this very domain: nothing to detach; only the flag must match.
    return cur.domain.bypass === bypass ? S_OK : S_INVAL;
  }
  if (target !== undefined && target.bypass !== bypass) return S_INVAL; // SHOULD reject
  const e = st.getEndpoint(epId);
  if (e.domain !== null) st.detach(e, true); // SHOULD behave as DETACH then ATTACH
  st.attach(e, st.domains.get(domainId) ?? st.createDomain(domainId, bypass));
  return S_OK;
}

/** DETACH (SPEC §5.13.6.3; QDEV virtio_iommu_detach). `reserved` is ignored in both modes. */
function execDetach(st: DeviceState, q: DecodedRequest): number {
  const domainId = q.domain;
  const epId = q.endpoint;
  if (!st.qemu) {
    if (st.domainOutOfRange(domainId)) return S_RANGE; // project: no status specified
    if (!st.existing.has(epId)) return S_NOENT; // MUST
  }
  // QDEV looks the endpoint up in its tree, which holds attached endpoints only (9.1+): a
  // never-attached or already-detached endpoint gives NOENT there; the spec's MAY gives INVAL.
  const e = st.endpoints.get(epId);
  if (e === undefined) return st.qemu ? S_NOENT : S_INVAL;
  if (e.domain === null || e.domain.id !== domainId) return S_INVAL;
  st.detach(e, false);
  st.putEndpoint(e);
  return S_OK;
}

/** MAP (SPEC §5.13.6.4; QDEV virtio_iommu_map). */
function execMap(st: DeviceState, q: DecodedRequest): number {
  const domainId = q.domain;
  const sLo = q.startLo;
  const sHi = q.startHi;
  const eLo = q.endLo;
  const eHi = q.endHi;
  const pLo = q.physLo;
  const pHi = q.physHi;
  const flags = q.flags;
  if (st.qemu) {
    // QDEV order: flags → domain → bypass → overlap. Alignment, input_range, reserved regions
    // and MMIO negotiation are not checked.
    if ((flags & ~MAP_F_MASK) !== 0) return S_INVAL;
    const d = st.domains.get(domainId);
    if (d === undefined) return S_NOENT;
    if (d.bypass) return S_INVAL;
    if (lt(eHi, eLo, sHi, sLo)) {
      // virt_start > virt_end: QEMU's GTree lookup with the inverted interval matches a mapping
      // holding both bounds (→ INVAL); otherwise it inserts the inverted node and says OK. That
      // node corrupts the tree order and no lookup can use it, so the lab stores nothing.
      return d.store.lookup(sHi, sLo) && !lt(eHi, eLo, d.store.rStartHi, d.store.rStartLo) ? S_INVAL : S_OK;
    }
    if (!d.store.insert(sHi, sLo, eHi, eLo, pHi, pLo, flags)) return S_INVAL;
    if (st.sink.enabled) emitMap(st, domainId, sHi, sLo, eHi, eLo, pHi, pLo, flags);
    if (st.notifier !== null) notifyDomainMap(st, d, sHi, sLo, eHi, eLo, pHi, pLo, flags);
    return S_OK;
  }
  // Spec order (project choice): MAP_UNMAP → flags → MMIO → domain_range → domain → bypass →
  // start > end → alignment → input_range → reserved regions → overlap.
  if (!st.negMapUnmap) return S_UNSUPP; // project: MAP is only available with F_MAP_UNMAP
  if ((flags & ~MAP_F_MASK) !== 0) return S_INVAL; // MUST
  if ((flags & MAP_F_MMIO) !== 0 && !st.negMmio) return S_INVAL; // project: unrecognized flag
  if (st.domainOutOfRange(domainId)) return S_RANGE; // project
  const d = st.domains.get(domainId);
  if (d === undefined) return S_NOENT; // SHOULD
  if (d.bypass) return S_INVAL; // SHOULD
  if (lt(eHi, eLo, sHi, sLo)) return S_INVAL; // project: driver MUST send virt_end > virt_start
  const g = st.granuleMask;
  // SHOULD reject unaligned virt_start, phys_start, virt_end + 1 (virt_end = U64_MAX wraps to 0).
  if ((sLo & g) !== 0 || (pLo & g) !== 0 || ((eLo + 1) & g) !== 0) return S_RANGE;
  if (st.props.offer.inputRange && lt(st.inEndHi, st.inEndLo, eHi, eLo)) return S_RANGE; // project; input_range.start is 0
  // SHOULD reject a MAP overlapping a RESV_MEM region of an attached endpoint (project: INVAL).
  // Every endpoint shares the device's regions unless it has its own (host holes): then each
  // attached endpoint's table is checked.
  if (st.epResv === null) {
    if (overlapsResv(st, sHi, sLo, eHi, eLo)) return S_INVAL;
  } else {
    for (const e of d.endpoints) if (overlapsResv(st.resvOf(e.id), sHi, sLo, eHi, eLo)) return S_INVAL;
  }
  if (!d.store.insert(sHi, sLo, eHi, eLo, pHi, pLo, flags)) return S_INVAL; // SHOULD
  if (st.sink.enabled) emitMap(st, domainId, sHi, sLo, eHi, eLo, pHi, pLo, flags);
  if (st.notifier !== null) notifyDomainMap(st, d, sHi, sLo, eHi, eLo, pHi, pLo, flags);
  return S_OK;
}

/** Does [s, e] overlap a region of table `t`? */
function overlapsResv(t: ResvTable, sHi: number, sLo: number, eHi: number, eLo: number): boolean {
  for (let i = 0; i < t.rType.length; i++) {
    if (!lt(t.rEHi[i], t.rELo[i], sHi, sLo) && !lt(eHi, eLo, t.rSHi[i], t.rSLo[i])) return true;
  }
  return false;
}

/**
 * The end of QEMU's virtio_iommu_map: QLIST_FOREACH endpoint of the domain (most recently attached
 * first), virtio_iommu_notify_map on its IOMMU MR — for an assigned endpoint, VFIO's map notifier
 * (core/host/shadow.ts). Its outcome never reaches the request's status (the notifier is void).
 */
function notifyDomainMap(st: DeviceState, d: Domain, sHi: number, sLo: number, eHi: number, eLo: number, pHi: number, pLo: number, flags: number): void {
  const n = st.notifier!;
  if (d.bypass) return;
  const eps = d.endpoints;
  for (let i = 0; i < eps.length; i++) if (n.has(eps[i].id)) notifyMap(n, eps[i].id, sHi, sLo, eHi, eLo, pHi, pLo, flags);
}

/** Does a notifier listen on an endpoint of `d`? */
function domainNotified(st: DeviceState, d: Domain): boolean {
  const n = st.notifier;
  if (n === null || d.bypass) return false;
  const eps = d.endpoints;
  for (let i = 0; i < eps.length; i++) if (n.has(eps[i].id)) return true;
  return false;
}

function emitMap(st: DeviceState, domain: number, sHi: number, sLo: number, eHi: number, eLo: number, pHi: number, pLo: number, flags: number): void {
  const k = st.sink;
  emit(k, 'map', { domain, virtStart: leanU64(k, sHi, sLo), virtEnd: leanU64(k, eHi, eLo), physStart: leanU64(k, pHi, pLo), flags });
}

/** The 'unmap' event of one whole mapping [s, e] → phys, flags that left `domain` (QEMU trace virtio_iommu_unmap_done). */
function emitUnmap(k: DeviceState['sink'], domain: number, sHi: number, sLo: number, eHi: number, eLo: number, pHi: number, pLo: number, flags: number): void {
  emit(k, 'unmap', { domain, virtStart: leanU64(k, sHi, sLo), virtEnd: leanU64(k, eHi, eLo), physStart: leanU64(k, pHi, pLo), flags });
}

/** QEMU virtio_iommu_notify_unmap of [s, e] on every notified endpoint of `d` (a whole mapping left it). */
function notifyDomainUnmap(n: NonNullable<DeviceState['notifier']>, d: Domain, sHi: number, sLo: number, eHi: number, eLo: number): void {
  const eps = d.endpoints;
  for (let i = 0; i < eps.length; i++) if (n.has(eps[i].id)) notifyUnmap(n, eps[i].id, sHi, sLo, eHi, eLo);
}

/**
 * UNMAP (SPEC §5.13.6.5; QDEV virtio_iommu_unmap). Only the first and the last mapping touched by
 * [s, e] can be partial. qemu: mappings are removed in ascending address order until the first
 * partial one (QEMU's order follows its GTree search; ascending is the lab's documented order), so
 * a partial first mapping removes nothing and a partial last mapping leaves the earlier ones
 * removed; status RANGE. spec: a partial mapping → RANGE and nothing removed (atomic).
 */
function execUnmap(st: DeviceState, q: DecodedRequest): number {
  const domainId = q.domain;
  const sLo = q.startLo;
  const sHi = q.startHi;
  const eLo = q.endLo;
  const eHi = q.endHi;
  if (!st.qemu) {
    if (!st.negMapUnmap) return S_UNSUPP; // project
    if (st.domainOutOfRange(domainId)) return S_RANGE; // project
  }
  // `reserved` != 0: QEMU does not check it; the spec only says MAY → ignored in both modes.
  const d = st.domains.get(domainId);
  if (d === undefined) return S_NOENT;
  if (d.bypass) return S_INVAL;
  const store = d.store;
  if (lt(eHi, eLo, sHi, sLo)) {
    if (!st.qemu) return S_INVAL; // project
    // QEMU's inverted-interval search matches only a mapping holding both bounds: partial → RANGE.
    return store.lookup(sHi, sLo) && !lt(eHi, eLo, store.rStartHi, store.rStartLo) ? S_RANGE : S_OK;
  }
  const notified = st.notifier !== null && domainNotified(st, d);
  // UNMAP of exactly one page that holds a one-page mapping (a Linux guest's usual UNMAP) or
  // nothing is one probe: the removed mapping's phys and flags come back in UNMAPPED, so its unmap
  // event is the one the walk's visitor would emit (onUnmapRemove), and its notification needs
  // only the range (QEMU virtio_iommu_notify_unmap of [s, e]). Anything else takes the walk below.
  const k = st.sink;
  const one = store.unmapPage(sHi, sLo, eHi, eLo, UNMAPPED);
  if (one === 1) {
    if (k.enabled) emitUnmap(k, domainId, sHi, sLo, eHi, eLo, UNMAPPED[0], UNMAPPED[1], UNMAPPED[2]);
    if (notified) notifyDomainUnmap(st.notifier!, d, sHi, sLo, eHi, eLo);
    return S_OK;
  }
  if (one === 0) return S_OK;
  if (!k.enabled && !notified) return store.unmapRange(sHi, sLo, eHi, eLo, !st.qemu) === UNMAP_OK ? S_OK : S_RANGE;
  // The visitor is one module-level function reading the request from `unmapSt` / `unmapDomain` /
  // `unmapId` / `unmapNotified` (no closure per request); saved and restored around the walk.
  const pSt = unmapSt;
  const pD = unmapDomain;
  const pId = unmapId;
  const pN = unmapNotified;
  unmapSt = st;
  unmapDomain = d;
  unmapId = domainId;
  unmapNotified = notified;
  let code: number;
  try {
    code = store.unmapRange(sHi, sLo, eHi, eLo, !st.qemu, onUnmapRemove);
  } finally {
    unmapSt = pSt;
    unmapDomain = pD;
    unmapId = pId;
    unmapNotified = pN;
  }
  return code === UNMAP_OK ? S_OK : S_RANGE;
}

let unmapSt: DeviceState | null = null;
let unmapDomain: Domain | null = null;
let unmapId = 0;
let unmapNotified = false;

/** The phys halves and flags of the mapping a one-page UNMAP removed (MappingStore.unmapPage `out`). */
const UNMAPPED = new Uint32Array(3);

/** execUnmap's visitor: one whole mapping [a:b, c:e] → phys f:g, flags h left the domain's tree. */
function onUnmapRemove(a: number, b: number, c: number, e: number, f: number, g: number, h: number): void {
  const st = unmapSt!;
  const k = st.sink;
  if (k.enabled) emitUnmap(k, unmapId, a, b, c, e, f, g, h);
  // QEMU virtio_iommu_unmap: each whole mapping removed is notified as unmapped on every
  // endpoint's MR (virtio_iommu_notify_unmap) as it leaves the tree.
  if (unmapNotified) notifyDomainUnmap(st.notifier!, unmapDomain!, a, b, c, e);
}

/**
 * PROBE (SPEC §5.13.6.6; QDEV virtio_iommu_probe + handle_command). The reply is probe_size bytes
 * of properties (one RESV_MEM per reserved region, ascending, zero-filled) and the tail.
 */
function probe(st: DeviceState, q: DecodedRequest, writable: Uint8Array): number {
  const probeSize = st.props.probeSize;
  const out = probeSize + TAIL_SIZE;
  if (!st.qemu && (!st.props.offer.probe || writable.length < out)) {
    // SPEC: PROBE without F_PROBE offered → SHOULD NOT write. A writable part smaller than
    // probe_size + 4 has no tail where the spec puts it → unwritten (project).
    return done(st, q, UNWRITTEN, 0);
  }
  if (!st.qemu && !q.whole) return done(st, q, UNWRITTEN, 0);
  const reply = new Uint8Array(out);
  let status: number;
  if (!q.whole) {
    status = S_INVAL; // QDEV virtio_iommu_iov_to_req
  } else {
    const epId = q.endpoint;
    // Both modes: the endpoint exists if a device sits at that ID; it need not be attached.
    if (!st.existing.has(epId)) status = S_NOENT;
    else {
      const resv = st.resvOf(epId).resv;
      const props = encodeResvMemProperties(resv, probeSize);
      if (props === null) status = S_INVAL; // 24 × regions > probe_size: no property written
      else {
        reply.set(props, 0);
        status = S_OK;
      }
    }
    if (st.sink.enabled) {
      const regions = status === S_OK ? st.resvOf(epId).resv.map((x) => ({ subtype: x.subtype, start: hex(x.start), end: hex(x.end) })) : [];
      emit(st.sink, 'probe', { endpoint: epId, status, regions });
    }
  }
  reply[probeSize] = status;
  if (writable.length < out) {
    // QDEV (qemu mode only): iov_from_buf writes what fits, notices the short write, then writes
    // a lone tail with S_DEVERR at offset 0 of the writable part; used length 4.
    writable.set(reply.subarray(0, writable.length), 0);
    writable[0] = S_DEVERR;
    writable[1] = 0;
    writable[2] = 0;
    writable[3] = 0;
    return done(st, q, S_DEVERR, TAIL_SIZE);
  }
  writable.set(reply, 0);
  // virtio_iommu_probe: sdev->probe_done once the properties are filled.
  if (status === S_OK) st.probeDone.add(q.endpoint);
  return done(st, q, status, out);
}
