/**
 * Scripted uAPI calls (a scenario's `iommufd:` and `vfio:` steps, core/scenario/host-schema.ts)
 * executed on the engines: the step's kebab-case arguments become the engine's uAPI arguments
 * (flag names folded into the uAPI bits, defaults filled), and the engine's outputs come back by
 * their kebab-case uAPI names (what `expect` compares and StepResult.outputs carries). Pure
 * translation: the errno is the engine's (core/host/backend/*, reference
 * ../../../../shared/reference/iommufd-vfio-hostiommu.md §1-§4); nothing here decides one, except
 * the two argument shapes the uAPI cannot express (none today).
 */
import type { Iommufd } from '../backend/iommufd/iommufd.ts';
import {
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_ALLOC_PASID,
  IOMMU_HWPT_DATA_ARM_SMMUV3,
  IOMMU_HWPT_DATA_NONE,
  IOMMU_HWPT_DATA_VTD_S1,
  IOMMU_HWPT_DIRTY_TRACKING_ENABLE,
  IOMMU_HWPT_FAULT_ID_VALID,
  IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR,
  IOMMU_HWPT_INVALIDATE_DATA_VTD_S1,
  IOMMU_HW_INFO_FLAG_INPUT_TYPE,
  IOMMU_IOAS_MAP_FIXED_IOVA,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  IOMMU_OPTION_HUGE_PAGES,
  IOMMU_OPTION_OP_GET,
  IOMMU_OPTION_OP_SET,
  IOMMU_OPTION_RLIMIT_MODE,
  IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3,
  IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
  IOMMU_VIOMMU_TYPE_DEFAULT,
  IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV,
} from '../backend/iommufd/uapi.ts';
import { IOMMU_TYPE_BY_NAME, MAP_FLAG_NAMES, UNMAP_FLAG_NAMES, VFIO_EXT } from '../backend/vfio-type1/constants.ts';
import type { VfioContainerBackend } from '../backend/vfio-api.ts';

/** An argument after reference resolution: numbers, bigints, booleans, names, lists and maps of them. */
export type ResolvedArg = number | bigint | boolean | string | readonly ResolvedArg[] | { readonly [k: string]: ResolvedArg };

/** An output value: u32 as number, u64 as bigint, lists of [start, last] pairs or words, hex text. */
export type OutputValue = number | bigint | string | readonly OutputValue[] | { readonly [k: string]: OutputValue };

/** What one scripted call did. */
export interface CallOutcome {
  /** 0 or the Linux errno. */
  errno: number;
  /** The ioctl name (IOMMU_IOAS_MAP, VFIO_IOMMU_MAP_DMA, …; "open(/dev/vfio/vfio)" for container-open). */
  ioctl: string;
  /** The arguments as the call passed them (kebab uAPI names, flags as bits), for the host-call event. */
  args: Record<string, OutputValue>;
  /** The outputs by kebab uAPI name: on success, and those the kernel writes back on failure. */
  outputs: Record<string, OutputValue>;
  /** What the step's `out` binds: the object ID / container number / IOVA returned (absent: nothing). */
  bound?: bigint;
  /** The object the call acts on (host-call `id`), its IOVA and length, when it has them. */
  id?: number;
  iova?: bigint;
  length?: bigint;
}

const U64_MAX = 0xffffffffffffffffn;

/** An argument as a u32 (IDs, counts); 0 when absent (an ID the kernel does not have). */
const u32 = (v: ResolvedArg | undefined): number => (typeof v === 'number' ? v : typeof v === 'bigint' ? (v > 0xffffffffn ? 0xffffffff : Number(v)) : 0);
/** An argument as a u64; `dflt` when absent. */
const u64 = (v: ResolvedArg | undefined, dflt = 0n): bigint => (typeof v === 'bigint' ? v : typeof v === 'number' ? BigInt(v) : dflt);
/** A flags list (names and raw numbers) folded into bits by `names`. */
function fold(v: ResolvedArg | undefined, names: Readonly<Record<string, number>>): number {
  let bits = 0;
  if (Array.isArray(v)) for (const x of v as ResolvedArg[]) bits |= typeof x === 'number' ? x : typeof x === 'string' ? (names[x] ?? 0) : 0;
  return bits >>> 0;
}
/** A name-or-number enum argument. */
const enumOf = (v: ResolvedArg | undefined, names: Readonly<Record<string, number>>, dflt: number): number => (typeof v === 'number' ? v : typeof v === 'string' ? (names[v] ?? dflt) : dflt);

const IOAS_MAP_FLAG_NAMES = { 'fixed-iova': IOMMU_IOAS_MAP_FIXED_IOVA, writeable: IOMMU_IOAS_MAP_WRITEABLE, readable: IOMMU_IOAS_MAP_READABLE };
const HWPT_ALLOC_FLAG_NAMES = { 'nest-parent': IOMMU_HWPT_ALLOC_NEST_PARENT, 'dirty-tracking': IOMMU_HWPT_ALLOC_DIRTY_TRACKING, 'fault-id-valid': IOMMU_HWPT_FAULT_ID_VALID, pasid: IOMMU_HWPT_ALLOC_PASID };
const HWPT_DATA_TYPES = { none: IOMMU_HWPT_DATA_NONE, 'vtd-s1': IOMMU_HWPT_DATA_VTD_S1, 'arm-smmuv3': IOMMU_HWPT_DATA_ARM_SMMUV3 };
/** sizeof the driver data of each hwpt data type: struct iommu_hwpt_vtd_s1 (24), struct iommu_hwpt_arm_smmuv3 (16). */
const HWPT_DATA_LEN: Readonly<Record<number, number>> = { [IOMMU_HWPT_DATA_NONE]: 0, [IOMMU_HWPT_DATA_VTD_S1]: 24, [IOMMU_HWPT_DATA_ARM_SMMUV3]: 16 };
const INVALIDATE_TYPES = { 'vtd-s1': IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, 'arm-smmuv3': IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3 };
/** sizeof struct iommu_hwpt_vtd_s1_invalidate (24) and struct iommu_viommu_arm_smmuv3_invalidate (16). */
const INVALIDATE_ENTRY_LEN: Readonly<Record<number, number>> = { [IOMMU_HWPT_INVALIDATE_DATA_VTD_S1]: 24, [IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3]: 16 };
const VIOMMU_TYPES = { default: IOMMU_VIOMMU_TYPE_DEFAULT, 'arm-smmuv3': IOMMU_VIOMMU_TYPE_ARM_SMMUV3, 'tegra241-cmdqv': IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV };
/** VFIO_CHECK_EXTENSION names (core/scenario/host-schema.ts VFIO_EXTENSION_NAMES). */
const EXTENSIONS: Readonly<Record<string, number>> = {
  type1: VFIO_EXT.TYPE1_IOMMU,
  'spapr-tce': VFIO_EXT.SPAPR_TCE_IOMMU,
  type1v2: VFIO_EXT.TYPE1v2_IOMMU,
  'dma-cc-iommu': VFIO_EXT.DMA_CC_IOMMU,
  eeh: VFIO_EXT.EEH,
  'type1-nesting': VFIO_EXT.TYPE1_NESTING_IOMMU,
  'spapr-tce-v2': VFIO_EXT.SPAPR_TCE_v2_IOMMU,
  noiommu: VFIO_EXT.NOIOMMU_IOMMU,
  'unmap-all': VFIO_EXT.UNMAP_ALL,
  'update-vaddr': VFIO_EXT.UPDATE_VADDR,
};

/** The iommufd context a scripted iommufd call runs on, and how `device-bind` binds a host device (from-platform.ts hostBackends().bind). */
export interface IommufdTarget {
  engine: Iommufd;
  bind(device: string): { errno: number; outDevId: number };
  /** A fresh user VA for an ioas-map without `user-va` and without fixed-iova (1 GiB-aligned buffers). */
  nextUserVa(length: bigint): bigint;
}

/** Hex text of bytes. */
function hexBytes(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

/**
 * Executes one scripted iommufd call (`op`, arguments by kebab uAPI name with references already
 * resolved to numbers). Unknown ops cannot reach here (the schema lists them).
 */
export function iommufdCall(t: IommufdTarget, op: string, a: Readonly<Record<string, ResolvedArg>>): CallOutcome {
  const fd = t.engine;
  switch (op) {
    case 'ioas-alloc': {
      const r = fd.ioasAlloc();
      return { errno: r.errno, ioctl: 'IOMMU_IOAS_ALLOC', args: {}, outputs: r.errno === 0 ? { 'out-ioas-id': r.outIoasId } : {}, bound: BigInt(r.outIoasId), id: r.outIoasId || undefined };
    }
    case 'ioas-map': {
      const flags = fold(a.flags, IOAS_MAP_FLAG_NAMES);
      const fixed = (flags & IOMMU_IOAS_MAP_FIXED_IOVA) !== 0;
      const length = u64(a.length);
      const iova = u64(a.iova);
      const userVa = a['user-va'] !== undefined ? u64(a['user-va']) : fixed ? iova : t.nextUserVa(length);
      const ioasId = u32(a.ioas);
      const r = fd.ioasMap({ ioasId, flags, userVa, length, iova: fixed ? iova : undefined });
      const args: Record<string, OutputValue> = { 'ioas-id': ioasId, flags, 'user-va': userVa, length };
      if (fixed) args.iova = iova;
      return { errno: r.errno, ioctl: 'IOMMU_IOAS_MAP', args, outputs: r.errno === 0 ? { iova: r.iova } : {}, bound: r.errno === 0 ? r.iova : 0n, id: ioasId, iova: r.errno === 0 ? r.iova : iova, length };
    }
    case 'ioas-copy': {
      const flags = fold(a.flags, IOAS_MAP_FLAG_NAMES);
      const fixed = (flags & IOMMU_IOAS_MAP_FIXED_IOVA) !== 0;
      const c = { flags, dstIoasId: u32(a['dst-ioas']), srcIoasId: u32(a['src-ioas']), length: u64(a.length), srcIova: u64(a['src-iova']), dstIova: fixed ? u64(a['dst-iova']) : undefined };
      const r = fd.ioasCopy(c);
      const args: Record<string, OutputValue> = { flags, 'dst-ioas-id': c.dstIoasId, 'src-ioas-id': c.srcIoasId, length: c.length, 'src-iova': c.srcIova };
      if (fixed) args['dst-iova'] = c.dstIova!;
      return { errno: r.errno, ioctl: 'IOMMU_IOAS_COPY', args, outputs: r.errno === 0 ? { 'dst-iova': r.dstIova } : {}, bound: r.errno === 0 ? r.dstIova : 0n, id: c.dstIoasId, iova: r.dstIova, length: c.length };
    }
    case 'ioas-unmap': {
      const ioasId = u32(a.ioas);
      const iova = u64(a.iova);
      const length = u64(a.length);
      const r = fd.ioasUnmap(ioasId, iova, length);
      return { errno: r.errno, ioctl: 'IOMMU_IOAS_UNMAP', args: { 'ioas-id': ioasId, iova, length }, outputs: r.errno === 0 ? { length: r.length } : {}, id: ioasId, iova, length };
    }
    case 'ioas-iova-ranges': {
      const ioasId = u32(a.ioas);
      const num = a['num-iovas'] === undefined ? 64 : u32(a['num-iovas']);
      const r = fd.ioasIovaRanges(ioasId, num);
      // num_iovas is written back on EMSGSIZE too (the count needed; reference §2.4).
      const outputs: Record<string, OutputValue> = r.errno === 0 ? { 'num-iovas': r.numIovas, ranges: r.ranges.map((x) => [x.start, x.last]), 'out-iova-alignment': r.outIovaAlignment } : r.errno === 90 ? { 'num-iovas': r.numIovas } : {};
      return { errno: r.errno, ioctl: 'IOMMU_IOAS_IOVA_RANGES', args: { 'ioas-id': ioasId, 'num-iovas': num }, outputs, id: ioasId };
    }
    case 'ioas-allow-iovas': {
      const ioasId = u32(a.ioas);
      const ranges = (Array.isArray(a.ranges) ? (a.ranges as ResolvedArg[]) : []).map((r) => {
        const [s, l] = r as readonly ResolvedArg[];
        return { start: u64(s), last: u64(l) };
      });
      const errno = fd.ioasAllowIovas(ioasId, ranges);
      return { errno, ioctl: 'IOMMU_IOAS_ALLOW_IOVAS', args: { 'ioas-id': ioasId, 'num-iovas': ranges.length, 'allowed-iovas': ranges.map((r) => [r.start, r.last]) }, outputs: {}, id: ioasId };
    }
    case 'option': {
      const optionId = a.option === 'huge-pages' ? IOMMU_OPTION_HUGE_PAGES : IOMMU_OPTION_RLIMIT_MODE;
      const set = a.val64 !== undefined;
      const objectId = u32(a.ioas);
      const r = fd.option({ optionId, op: set ? IOMMU_OPTION_OP_SET : IOMMU_OPTION_OP_GET, objectId, val64: set ? u64(a.val64) : undefined });
      const args: Record<string, OutputValue> = { 'option-id': optionId, op: set ? IOMMU_OPTION_OP_SET : IOMMU_OPTION_OP_GET, 'object-id': objectId };
      if (set) args.val64 = u64(a.val64);
      return { errno: r.errno, ioctl: 'IOMMU_OPTION', args, outputs: r.errno === 0 ? { val64: r.val64 } : {}, id: objectId || undefined };
    }
    case 'device-bind': {
      const device = String(a.device);
      const r = t.bind(device);
      return { errno: r.errno, ioctl: 'VFIO_DEVICE_BIND_IOMMUFD', args: { device }, outputs: r.errno === 0 ? { 'out-dev-id': r.outDevId } : {}, bound: BigInt(r.outDevId), id: r.outDevId || undefined };
    }
    case 'device-unbind': {
      const devId = u32(a.dev);
      return { errno: fd.deviceUnbind(devId), ioctl: 'close(vfio device)', args: { 'dev-id': devId }, outputs: {}, id: devId };
    }
    case 'device-attach':
    case 'device-replace': {
      const devId = u32(a.dev);
      const ptId = u32(a.pt);
      const r = op === 'device-attach' ? fd.deviceAttach(devId, ptId) : fd.deviceReplace(devId, ptId);
      return { errno: r.errno, ioctl: op === 'device-attach' ? 'VFIO_DEVICE_ATTACH_IOMMUFD_PT' : 'iommufd_device_replace', args: { 'dev-id': devId, 'pt-id': ptId }, outputs: r.errno === 0 ? { 'pt-id': r.ptId } : {}, bound: BigInt(r.ptId), id: devId };
    }
    case 'device-detach': {
      const devId = u32(a.dev);
      return { errno: fd.deviceDetach(devId), ioctl: 'VFIO_DEVICE_DETACH_IOMMUFD_PT', args: { 'dev-id': devId }, outputs: {}, id: devId };
    }
    case 'hwpt-alloc': {
      const flags = fold(a.flags, HWPT_ALLOC_FLAG_NAMES);
      const dataType = enumOf(a['data-type'], HWPT_DATA_TYPES, IOMMU_HWPT_DATA_NONE);
      const dataLen = a['data-len'] !== undefined ? u32(a['data-len']) : (HWPT_DATA_LEN[dataType] ?? 0);
      const c = { flags, devId: u32(a.dev), ptId: u32(a.pt), dataType, dataLen, faultId: a['fault-id'] !== undefined ? u32(a['fault-id']) : undefined };
      const r = fd.hwptAlloc(c);
      return {
        errno: r.errno,
        ioctl: 'IOMMU_HWPT_ALLOC',
        args: { flags, 'dev-id': c.devId, 'pt-id': c.ptId, 'data-type': dataType, 'data-len': dataLen },
        outputs: r.errno === 0 ? { 'out-hwpt-id': r.outHwptId } : {},
        bound: BigInt(r.outHwptId),
        id: c.ptId,
      };
    }
    case 'hwpt-set-dirty-tracking': {
      const hwptId = u32(a.hwpt);
      const flags = a.enable === true ? IOMMU_HWPT_DIRTY_TRACKING_ENABLE : 0;
      return { errno: fd.hwptSetDirtyTracking(hwptId, flags), ioctl: 'IOMMU_HWPT_SET_DIRTY_TRACKING', args: { 'hwpt-id': hwptId, flags }, outputs: {}, id: hwptId };
    }
    case 'hwpt-get-dirty-bitmap': {
      const c = { hwptId: u32(a.hwpt), flags: fold(a.flags, { 'no-clear': IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR }), iova: u64(a.iova), length: u64(a.length), pageSize: u64(a['page-size'], 4096n) };
      const r = fd.hwptGetDirtyBitmap(c);
      return {
        errno: r.errno,
        ioctl: 'IOMMU_HWPT_GET_DIRTY_BITMAP',
        args: { 'hwpt-id': c.hwptId, flags: c.flags, iova: c.iova, length: c.length, 'page-size': c.pageSize },
        outputs: r.errno === 0 ? { bitmap: r.bitmap } : {},
        id: c.hwptId,
        iova: c.iova,
        length: c.length,
      };
    }
    case 'hwpt-invalidate': {
      const dataType = enumOf(a['data-type'], INVALIDATE_TYPES, 0);
      const entries = (Array.isArray(a.entries) ? (a.entries as ResolvedArg[]) : []).map((e) => {
        const m = e as Readonly<Record<string, ResolvedArg>>;
        return { addr: m.addr !== undefined ? u64(m.addr) : undefined, npages: m.npages !== undefined ? u64(m.npages) : undefined, flags: m.flags !== undefined ? u32(m.flags) : undefined, opcode: m.opcode !== undefined ? u32(m.opcode) : undefined };
      });
      const c = { hwptId: u32(a.hwpt), dataType, entries, entryLen: a['entry-len'] !== undefined ? u32(a['entry-len']) : (INVALIDATE_ENTRY_LEN[dataType] ?? 16), dataUptr: u64(a['data-uptr'], 0x1000n) };
      const r = fd.hwptInvalidate(c);
      return {
        errno: r.errno,
        ioctl: 'IOMMU_HWPT_INVALIDATE',
        args: { 'hwpt-id': c.hwptId, 'data-type': dataType, 'entry-len': c.entryLen, 'entry-num': entries.length, 'data-uptr': c.dataUptr },
        outputs: { 'entry-num': r.entryNum },
        id: c.hwptId,
      };
    }
    case 'viommu-alloc': {
      const c = { type: enumOf(a.type, VIOMMU_TYPES, IOMMU_VIOMMU_TYPE_DEFAULT), devId: u32(a.dev), hwptId: u32(a.hwpt) };
      const r = fd.viommuAlloc(c);
      return { errno: r.errno, ioctl: 'IOMMU_VIOMMU_ALLOC', args: { type: c.type, 'dev-id': c.devId, 'hwpt-id': c.hwptId }, outputs: r.errno === 0 ? { 'out-viommu-id': r.outViommuId } : {}, bound: BigInt(r.outViommuId), id: c.hwptId };
    }
    case 'vdevice-alloc': {
      const c = { viommuId: u32(a.viommu), devId: u32(a.dev), virtId: u64(a['virt-id']) };
      const r = fd.vdeviceAlloc(c);
      return {
        errno: r.errno,
        ioctl: 'IOMMU_VDEVICE_ALLOC',
        args: { 'viommu-id': c.viommuId, 'dev-id': c.devId, 'virt-id': c.virtId },
        outputs: r.errno === 0 ? { 'out-vdevice-id': r.outVdeviceId } : {},
        bound: BigInt(r.outVdeviceId),
        id: c.viommuId,
      };
    }
    case 'get-hw-info': {
      const inType = a['in-data-type'];
      const c = { devId: u32(a.dev), dataLen: a['data-len'] === undefined ? 256 : u32(a['data-len']), flags: inType !== undefined ? IOMMU_HW_INFO_FLAG_INPUT_TYPE : 0, inDataType: inType !== undefined ? u32(inType) : undefined };
      const r = fd.getHwInfo(c);
      return {
        errno: r.errno,
        ioctl: 'IOMMU_GET_HW_INFO',
        args: { 'dev-id': c.devId, 'data-len': c.dataLen, flags: c.flags },
        outputs:
          r.errno === 0 ? { 'out-data-type': r.outDataType, 'out-capabilities': BigInt(r.outCapabilities), 'data-len': r.dataLen, 'out-max-pasid-log2': r.outMaxPasidLog2, data: hexBytes(r.data.subarray(0, Math.min(r.data.length, r.dataLen))) } : {},
        id: c.devId,
      };
    }
    case 'destroy': {
      const id = u32(a.id);
      return { errno: fd.destroy(id), ioctl: 'IOMMU_DESTROY', args: { id }, outputs: {}, id };
    }
    default:
      throw new Error(`iommufd: no op ${op}`);
  }
}

/** Executes one scripted VFIO container call on `v` (type1, or iommufd's VFIO compatibility). */
export function vfioCall(v: VfioContainerBackend, op: string, a: Readonly<Record<string, ResolvedArg>>): CallOutcome {
  const group = (g: ResolvedArg | undefined): number | string => (typeof g === 'string' ? g : u32(g));
  switch (op) {
    case 'container-open': {
      const r = v.containerOpen();
      return { errno: r.errno, ioctl: 'open(/dev/vfio/vfio)', args: {}, outputs: r.errno === 0 ? { container: r.container } : {}, bound: BigInt(r.container), id: r.container || undefined };
    }
    case 'group-set-container': {
      const container = u32(a.container);
      const g = group(a.group);
      return { errno: v.groupSetContainer(g, container).errno, ioctl: 'VFIO_GROUP_SET_CONTAINER', args: { group: g, container }, outputs: {}, id: container };
    }
    case 'group-unset-container': {
      const g = group(a.group);
      return { errno: v.groupUnsetContainer(g).errno, ioctl: 'VFIO_GROUP_UNSET_CONTAINER', args: { group: g }, outputs: {} };
    }
    case 'set-iommu': {
      const container = u32(a.container);
      const type = enumOf(a.type, IOMMU_TYPE_BY_NAME, 0);
      return { errno: v.setIommu(container, type).errno, ioctl: 'VFIO_SET_IOMMU', args: { container, type }, outputs: {}, id: container };
    }
    case 'check-extension': {
      const container = u32(a.container);
      const ext = enumOf(a.extension, EXTENSIONS, 0);
      const r = v.checkExtension(container, ext);
      return { errno: r.errno, ioctl: 'VFIO_CHECK_EXTENSION', args: { container, extension: ext }, outputs: r.errno === 0 ? { value: r.value } : {}, id: container };
    }
    case 'device-open': {
      const device = String(a.device);
      return { errno: v.deviceOpen(device).errno, ioctl: 'VFIO_GROUP_GET_DEVICE_FD', args: { device }, outputs: {} };
    }
    case 'map-dma': {
      const container = u32(a.container);
      const c = { flags: fold(a.flags, MAP_FLAG_NAMES), iova: u64(a.iova), size: u64(a.size), vaddr: a.vaddr !== undefined ? u64(a.vaddr) : undefined, argsz: a.argsz !== undefined ? u32(a.argsz) : undefined };
      const r = v.mapDma(container, c);
      const args: Record<string, OutputValue> = { container, argsz: c.argsz ?? 32, flags: c.flags, vaddr: c.vaddr ?? c.iova, iova: c.iova, size: c.size };
      return { errno: r.errno, ioctl: 'VFIO_IOMMU_MAP_DMA', args, outputs: {}, id: container, iova: c.iova, length: c.size };
    }
    case 'unmap-dma': {
      const container = u32(a.container);
      const c = { flags: fold(a.flags, UNMAP_FLAG_NAMES), iova: u64(a.iova), size: u64(a.size), argsz: a.argsz !== undefined ? u32(a.argsz) : undefined };
      const r = v.unmapDma(container, c);
      // `size` is written back on success (type1 copies the struct back only then); iommufd's VFIO
      // compatibility writes the bytes unmapped back after any iopt_unmap_iova failure too.
      const written = r.errno === 0 || r.size !== c.size;
      return { errno: r.errno, ioctl: 'VFIO_IOMMU_UNMAP_DMA', args: { container, argsz: c.argsz ?? 24, flags: c.flags, iova: c.iova, size: c.size }, outputs: written ? { size: r.size } : {}, id: container, iova: c.iova, length: c.size };
    }
    case 'get-info': {
      const container = u32(a.container);
      const argsz = a.argsz !== undefined ? u32(a.argsz) : undefined;
      const r = v.getInfo(container, argsz);
      const outputs: Record<string, OutputValue> = {};
      if (r.errno === 0) {
        Object.assign(outputs, { argsz: r.argsz, flags: r.flags, 'iova-pgsizes': r.iovaPgsizes, 'cap-offset': r.capOffset });
        const caps = r.capabilities;
        if (caps?.iovaRange) outputs['iova-ranges'] = caps.iovaRange.iovaRanges.map((x) => [x.start, x.end]);
        if (caps) outputs.avail = caps.dmaAvail.avail;
        if (caps?.migration) outputs.migration = { flags: caps.migration.flags, 'pgsize-bitmap': caps.migration.pgsizeBitmap, 'max-dirty-bitmap-size': caps.migration.maxDirtyBitmapSize };
      }
      return { errno: r.errno, ioctl: 'VFIO_IOMMU_GET_INFO', args: { container, ...(argsz !== undefined ? { argsz } : {}) }, outputs, id: container };
    }
    default:
      throw new Error(`vfio: no op ${op}`);
  }
}

/** The "iova 0, length U64_MAX" of IOMMU_IOAS_UNMAP's unmap-all (reference §2.3). */
export const UNMAP_ALL_LENGTH = U64_MAX;
