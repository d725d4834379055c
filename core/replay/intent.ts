/**
 * Guest intent from an imported trace (issue 9 §2): the trace's requests and DMA API calls as
 * scenario steps a machine can run again, the faults the trace recorded after each device access,
 * and everything the trace holds that the replay cannot use — counted by source event with the
 * reason, never invented.
 *
 * Two layers of intent, from two kinds of trace:
 *
 * 1. **vIOMMU requests** (a QEMU `-trace` log; hw/virtio/trace-events; reference A2):
 *    - virtio_iommu_attach / detach (domain, endpoint) → attach / detach;
 *    - virtio_iommu_map (domain, virt_start, virt_end inclusive, phys_start, flags) → map;
 *    - virtio_iommu_unmap (domain, virt_start, virt_end) → unmap;
 *    - virtio_iommu_translate (mr, rid, addr, flag: IOMMUAccessFlags 1 RO, 2 WO, 3 RW) → a DMA of
 *      the endpoint at addr (a write when the flag has WO). The trace gives no access size: the
 *      replay accesses one byte, and says so.
 *    A virtio_iommu_report_fault belongs to the last translate before it (QEMU reports the fault
 *    inside virtio_iommu_translate).
 *
 * 2. **The guest's DMA API calls** (a Linux ftrace of the guest; include/trace/events/dma.h and
 *    iommu.h; reference A1 and B): the calls a driver made, which the replayed configuration's
 *    guest DMA layer (core/guest) makes again — with its own IOVA allocator, invalidation policy
 *    and vIOMMU, so the DMA addresses may differ from the trace's:
 *    - dma_map_phys / dma_map_page / dma_map_resource, dma_alloc / dma_alloc_pages, and
 *      dma_map_sg / dma_alloc_sgt of one entry → `dma-map` of the device (the size, the direction
 *      — dma_data_direction 0 BIDIRECTIONAL, 1 TO_DEVICE, 2 FROM_DEVICE —, the phys address's
 *      offset in its page) bound to a handle (held by name when a later access names it, else in
 *      a slot reused after its unmap);
 *    - their unmaps and frees → `dma-unmap` of the handle the traced map at that DMA address got
 *      (a call on an address no traced map covers — mapped before the trace began — is counted,
 *      not replayed);
 *    - iommu:io_page_fault (and any fault line naming a PCI device and an address) → the device's
 *      access that faulted, replayed at the same offset into the buffer the trace's address fell in
 *      (the last map of that device covering it, live or unmapped), so a late DMA to an unmapped
 *      buffer is a late DMA to the replay's buffer too; an address no traced map covers is
 *      accessed as is. A Linux trace records only the accesses that faulted: the replay can
 *      diverge only by not faulting (or by failing to map);
 *    - the time between calls (the trace's clock) → `wait` steps, so flush-queue timeouts fire
 *      when they did (gaps under WAIT_MIN_NS are carried over, not dropped).
 *    The devices are named by PCI address: the replay binds them to the configuration's devices
 *    of the same address (bindIntent), and counts calls of devices it does not have.
 *
 * What does not become a step, by source event:
 * - Linux's iommu:map / iommu:unmap (include/trace/events/iommu.h): the IOMMU core's map and unmap
 *   carry no domain and no device — with dma:* calls in the trace they are what the replay
 *   recomputes, without them they cannot be sent as requests;
 * - dma_sync_* (cache maintenance: no IOMMU effect), scatterlists of several entries (the IOVA
 *   layout iommu_dma_map_sg gives a merged list is the replay's to compute, not the trace's), the
 *   *_err events of failed calls;
 * - QEMU's host side (iommufd_backend_*, vfio_*, virtio_iommu_notify_*): what a replay recomputes;
 * - every other event: not a request, a call or an access.
 */
import { pciRequesterId } from '../import/ftrace-events.ts';
import type { DmaDir } from '../scenario/guest-model.ts';
import type { ScenarioStep } from '../scenario/model.ts';

/** A stored trace event as the replay reads it (an EventRow: kind, line, time, fields; u64 as "0x…"). */
export interface TraceRow {
  seq: number;
  kind: string;
  line?: number | null;
  /** Virtual time in ns on the trace's clock (EventRow.time), when the line had a timestamp. */
  time?: number | null;
  fields: Readonly<Record<string, unknown>>;
}

/** A fault the trace recorded. */
export interface TraceFault {
  line: number;
  seq: number;
  text: string;
}

/** What the replay could not use, by source event. */
export interface NotDerived {
  event: string;
  count: number;
  firstLine: number;
  why: string;
}

/** The steps to replay, and what the trace says about them (see the file comment). */
export interface ReplayIntent {
  /**
   * attach / detach / map / unmap / dma / dma-map / dma-unmap / wait steps; `line` is the trace
   * line, `index` the position. Guest steps name their device by its PCI address ("0000:00:03.0")
   * and endpoint (requester ID): a configuration's guest layer finds its device by the endpoint.
   */
  steps: ScenarioStep[];
  /** Steps by op (opCounts of `steps`). */
  byOp: Record<string, number>;
  /** The endpoints the guest calls (and the accesses into their buffers) name, ascending: a configuration needs these devices (bindIntent). */
  endpoints: number[];
  /** For each dma step (by its index): the fault the trace recorded for that access, or null. */
  traceFaultOf: Map<number, TraceFault | null>;
  /** Faults in the trace with no access before them to tie them to. */
  unattributedFaults: TraceFault[];
  notDerived: NotDerived[];
  /** Notes on what the replay assumed (the access size, the wait granularity). */
  assumptions: string[];
  /** True when the steps include the guest's DMA API calls (the replay needs a guest DMA layer). */
  guest: boolean;
}

/** Steps by op ({ 'dma-map': n, wait: n, … }): a replay's record and report. */
export function opCounts(steps: readonly ScenarioStep[]): Record<string, number> {
  const byOp: Record<string, number> = {};
  for (const s of steps) byOp[s.op] = (byOp[s.op] ?? 0) + 1;
  return byOp;
}

/** Gaps between guest calls shorter than this (ns) are carried into the next wait, not a wait of their own. */
export const WAIT_MIN_NS = 10_000;

/** A field as a bigint (stored u64 "0x…", a number, a bigint), or undefined. */
function big(v: unknown): bigint | undefined {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return BigInt(v);
  if (typeof v === 'string' && /^(0x[0-9a-fA-F]+|\d+)$/.test(v)) return BigInt(v);
  return undefined;
}

/** A field as a non-negative integer, or undefined. */
function int(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v);
  return undefined;
}

const U64_MAX = 0xffffffffffffffffn;

/** The dma:* events that map one buffer (dma_map_sg / dma_alloc_sgt only with one entry). */
const DMA_MAPS = new Set(['dma_map_phys', 'dma_map_page', 'dma_map_resource', 'dma_alloc', 'dma_alloc_pages', 'dma_map_sg', 'dma_alloc_sgt']);
/** The dma:* events that unmap one buffer. */
const DMA_UNMAPS = new Set(['dma_unmap_phys', 'dma_unmap_page', 'dma_unmap_resource', 'dma_free', 'dma_free_pages', 'dma_unmap_sg', 'dma_free_sgt']);
/** The dma:* allocations (coherent buffers: mapped bidirectional, include/trace/events/dma.h prints no dir). */
const DMA_ALLOCS = new Set(['dma_alloc', 'dma_alloc_pages', 'dma_alloc_sgt']);

/** Why an event the replay does not use is left out (see the file comment). */
function whyNot(kind: string, name: string, guest: boolean): string {
  const event = name.startsWith('dma:') ? name.slice(4) : name;
  if (event === 'iommu:map' || event === 'iommu:unmap' || event === 'map' || event === 'unmap') {
    return guest ? "the IOMMU core's map/unmap the traced DMA API calls caused: the replay recomputes them" : "the IOMMU core's map/unmap carries no domain and no device (include/trace/events/iommu.h)";
  }
  if (event.startsWith('dma_sync_')) return 'cache maintenance: no IOMMU effect';
  if (event.endsWith('_err')) return 'a DMA API call that failed in the trace: nothing was mapped';
  if (DMA_MAPS.has(event) || DMA_UNMAPS.has(event)) return 'a scatterlist of several entries (its merged IOVA layout is the replay\'s to compute), or a call without its address and size';
  if (event.startsWith('dma_')) return 'a DMA API call the replay does not model';
  if (event.startsWith('iommufd_') || event.startsWith('vfio_') || event.startsWith('virtio_iommu_notify')) return "QEMU's host side: what the replay recomputes";
  if (kind === 'trace-fault') return 'a fault that names no device the replay can tie to an access';
  if (kind === 'trace-inval') return "an IOTLB invalidation: the replayed configuration issues its own, as its invalidation policy (strict or lazy) and vIOMMU decide";
  if (kind === 'trace-attach') return "a device attached to a domain by the traced kernel: the replay's guest DMA layer attaches the configuration's devices itself (at boot or hotplug)";
  if (kind === 'trace-group') return "IOMMU group membership: the replayed configuration's topology decides its groups";
  return 'not a request, a DMA API call or a device access';
}

/** A traced mapping of a device's buffer: its trace DMA address and size, the replay's handle name. */
interface TracedMap {
  addr: bigint;
  end: bigint;
  handle: string;
  live: boolean;
}

/** Unmapped buffers remembered per device for late-DMA faults (the most recent ones). */
const UNMAPPED_KEPT = 4096;

/** A device's traced buffers: live by DMA address, and the recently unmapped ones (oldest first). */
interface DeviceMaps {
  live: Map<bigint, TracedMap>;
  unmapped: TracedMap[];
}

/** Derives the replay's steps from a trace's events in seq order (see the file comment). */
export function deriveIntent(rows: Iterable<TraceRow>): ReplayIntent {
  const steps: ScenarioStep[] = [];
  const traceFaultOf = new Map<number, TraceFault | null>();
  const unattributedFaults: TraceFault[] = [];
  const skipped = new Map<string, NotDerived>();
  const devices = new Map<number, DeviceMaps>();
  /** Endpoints of the dma-map steps. */
  const callers = new Set<number>();
  /** The handles a later access names (kept by name; the others in slots). */
  const named = new Set<string>();
  let lastDma = -1;
  let translates = 0;
  let guestCalls = 0;
  let guestFaults = 0;
  let rawFaults = 0;
  let waits = 0;
  let lastTime: number | null = null;
  let carried = 0;
  // The reason is filled in at the end (whyNot) unless given: it depends on the whole trace.
  const kindOf = new Map<string, string>();
  const skipNow = (row: TraceRow, event: string, why = '') => {
    const s = skipped.get(event);
    if (s) s.count++;
    else {
      skipped.set(event, { event, count: 1, firstLine: row.line ?? 0, why });
      kindOf.set(event, row.kind);
    }
  };
  // Before each guest call: a wait for the trace's time since the previous one.
  const waitFor = (row: TraceRow) => {
    const t = row.time;
    if (typeof t !== 'number') return;
    if (lastTime !== null && t > lastTime) carried += t - lastTime;
    lastTime = t;
    if (carried >= WAIT_MIN_NS) {
      steps.push({ index: steps.length, line: row.line ?? 0, op: 'wait', ns: carried });
      waits++;
      carried = 0;
    }
  };
  const deviceMaps = (ep: number): DeviceMaps => {
    let d = devices.get(ep);
    if (d === undefined) devices.set(ep, (d = { live: new Map(), unmapped: [] }));
    return d;
  };
  for (const row of rows) {
    const f = row.fields;
    const data = (f.data ?? {}) as Record<string, unknown>;
    const event = typeof data.event === 'string' ? data.event : row.kind;
    // dma:* events are stored with their subsystem ("dma:dma_map_phys").
    const call = event.startsWith('dma:') ? event.slice(4) : event;
    const line = row.line ?? 0;
    const index = steps.length;
    if (row.kind === 'trace-attach' && (event === 'virtio_iommu_attach' || event === 'virtio_iommu_detach')) {
      const domain = int(f.domain);
      const endpoint = int(f.endpoint);
      if (domain === undefined || endpoint === undefined) {
        skipNow(row, event);
        continue;
      }
      steps.push(event === 'virtio_iommu_attach' ? { index, line, op: 'attach', domain, endpoint, flags: 0, reserved: 0 } : { index, line, op: 'detach', domain, endpoint });
    } else if ((row.kind === 'trace-map' && event === 'virtio_iommu_map') || (row.kind === 'trace-unmap' && event === 'virtio_iommu_unmap')) {
      const domain = int(f.domain);
      const iova = big(f.iova);
      const size = big(f.size);
      if (domain === undefined || iova === undefined || size === undefined || size === 0n) {
        skipNow(row, event);
        continue;
      }
      const virtEnd = iova + size - 1n > U64_MAX ? U64_MAX : iova + size - 1n;
      if (row.kind === 'trace-map') {
        const phys = big(f.phys);
        if (phys === undefined) {
          skipNow(row, event);
          continue;
        }
        steps.push({ index, line, op: 'map', domain, virtStart: iova, virtEnd, physStart: phys, flags: int(f.flags) ?? 0 });
      } else steps.push({ index, line, op: 'unmap', domain, virtStart: iova, virtEnd, reserved: 0 });
    } else if (row.kind === 'trace-note' && event === 'virtio_iommu_translate') {
      const endpoint = int(data.rid);
      const addr = big(data.addr);
      const flag = int(data.flag);
      if (endpoint === undefined || addr === undefined || flag === undefined) {
        skipNow(row, event);
        continue;
      }
      steps.push({ index, line, op: 'dma', endpoint, addr, size: 1n, access: (flag & 2) !== 0 ? 2 : 1 });
      traceFaultOf.set(index, null);
      lastDma = index;
      translates++;
    } else if (row.kind === 'trace-fault' && event === 'virtio_iommu_report_fault') {
      const fault: TraceFault = { line, seq: row.seq, text: `line ${line}: virtio_iommu_report_fault endpoint=${f.endpoint ?? '?'} address=${f.address ?? '?'}` };
      if (lastDma >= 0 && traceFaultOf.get(lastDma) === null) traceFaultOf.set(lastDma, fault);
      else unattributedFaults.push(fault);
    } else if (row.kind === 'trace-dma' && (DMA_MAPS.has(call) || DMA_UNMAPS.has(call))) {
      const device = typeof data.device === 'string' ? data.device : '';
      const endpoint = pciRequesterId(device);
      const addr = big(f.addr);
      const size = big(f.size);
      if (endpoint < 0 || addr === undefined || size === undefined || size === 0n || size > 0xffffffffn) {
        skipNow(row, event);
        continue;
      }
      const dev = deviceMaps(endpoint);
      if (DMA_MAPS.has(call)) {
        const d = int(f.dir);
        const dir: DmaDir | undefined = DMA_ALLOCS.has(call) || d === 0 || d === undefined ? 3 : d === 1 ? 1 : d === 2 ? 2 : undefined;
        if (dir === undefined) {
          skipNow(row, event);
          continue;
        }
        waitFor(row);
        const handle = `t${line}`;
        const phys = big(f.phys);
        // Every dma-map step of one shape (slot set below or not), and every dma-unmap: the runner's property loads stay fast.
        steps.push({ index: steps.length, line, op: 'dma-map', device, endpoint, size, dir, phys, offset: Number(addr & 0xfffn), cpu: 0, out: handle, slot: undefined });
        callers.add(endpoint); // its unmaps and the accesses into its buffers name the same endpoint
        const m: TracedMap = { addr, end: addr + size, handle, live: true };
        const old = dev.live.get(addr);
        if (old !== undefined) retire(dev, old); // mapped again at the same address: the trace lost an unmap
        dev.live.set(addr, m);
      } else {
        const m = dev.live.get(addr);
        if (m === undefined) {
          skipNow(row, `${event} (not mapped in the trace)`, 'an unmap of a DMA address no traced map returned (mapped before the trace began)');
          continue;
        }
        waitFor(row);
        steps.push({ index: steps.length, line, op: 'dma-unmap', handle: m.handle, device, endpoint, cpu: 0, slot: undefined });
        dev.live.delete(addr);
        retire(dev, m);
      }
      guestCalls++;
    } else if (row.kind === 'trace-fault' && int(f.endpoint) !== undefined && big(f.address) !== undefined) {
      // A device access that faulted (iommu:io_page_fault, a DMAR / AMD-Vi / SMMU fault line).
      const endpoint = int(f.endpoint)!;
      const address = big(f.address)!;
      const access: 1 | 2 = f.access === 2 ? 2 : 1;
      const fault: TraceFault = { line, seq: row.seq, text: `line ${line}: ${event} ${typeof data.device === 'string' ? data.device : endpoint} address=0x${address.toString(16)}${access === 2 ? ' (write)' : ' (read)'}` };
      const dev = devices.get(endpoint);
      const m = dev === undefined ? undefined : covering(dev, address);
      if (guestCalls > 0 || m !== undefined) waitFor(row);
      const step: ScenarioStep = m !== undefined ? { index: steps.length, line, op: 'dma', endpoint, addr: address, size: 1n, access, handle: m.handle, offset: address - m.addr } : { index: steps.length, line, op: 'dma', endpoint, addr: address, size: 1n, access };
      if (m !== undefined) {
        guestFaults++;
        named.add(m.handle);
      } else rawFaults++;
      traceFaultOf.set(steps.length, fault);
      steps.push(step);
    } else skipNow(row, event);
  }
  // Buffers no access names are held in slots, each reused after its buffer's unmap, not by name:
  // the guest keeps only the names it needs, and a slot costs no lookup (GuestStepRunner).
  const free: number[] = [];
  let slots = 0;
  const slotOf = new Map<string, number>();
  for (const s of steps) {
    if (s.op === 'dma-map' && s.out !== undefined && !named.has(s.out)) {
      const k = free.pop() ?? slots++;
      s.slot = k;
      slotOf.set(s.out, k);
    } else if (s.op === 'dma-unmap' && s.handle !== undefined) {
      const k = slotOf.get(s.handle);
      if (k === undefined) continue;
      s.slot = k;
      slotOf.delete(s.handle);
      free.push(k);
    }
  }
  const guest = guestCalls > 0;
  for (const n of skipped.values()) if (n.why === '') n.why = whyNot(kindOf.get(n.event) ?? '', n.event, guest);
  const assumptions: string[] = [];
  if (translates > 0) assumptions.push(`${translates} device access${translates === 1 ? '' : 'es'} from virtio_iommu_translate: the trace gives no access size, so each is replayed as a 1-byte access at its address`);
  if (guestFaults > 0) assumptions.push(`${guestFaults} faulting access${guestFaults === 1 ? '' : 'es'} replayed at the same offset into the buffer the trace's address fell in (the replay's DMA address for it may differ), 1 byte each`);
  if (rawFaults > 0) assumptions.push(`${rawFaults} faulting access${rawFaults === 1 ? '' : 'es'} at an address no traced map covers: replayed at the trace's address, 1 byte each`);
  if (waits > 0) assumptions.push(`the trace's time between calls is replayed as ${waits} wait${waits === 1 ? '' : 's'} (gaps under ${WAIT_MIN_NS / 1000} µs carried into the next)`);
  if (guest) assumptions.push('every DMA API call is made on guest CPU 0 (dma:* events do not record the CPU the replay uses for the per-CPU caches and flush queues)');
  return { steps, byOp: opCounts(steps), endpoints: [...callers].sort((a, b) => a - b), traceFaultOf, unattributedFaults, notDerived: [...skipped.values()].sort((a, b) => b.count - a.count), assumptions, guest };

  function retire(dev: DeviceMaps, m: TracedMap): void {
    m.live = false;
    dev.unmapped.push(m);
    if (dev.unmapped.length > UNMAPPED_KEPT * 2) dev.unmapped.splice(0, dev.unmapped.length - UNMAPPED_KEPT);
  }
}

/** The buffer of a device that holds `address`: a live one, else the most recently unmapped. */
function covering(dev: DeviceMaps, address: bigint): TracedMap | undefined {
  for (const m of dev.live.values()) if (address >= m.addr && address < m.end) return m;
  for (let i = dev.unmapped.length - 1; i >= 0; i--) {
    const m = dev.unmapped[i]!;
    if (address >= m.addr && address < m.end) return m;
  }
  return undefined;
}
