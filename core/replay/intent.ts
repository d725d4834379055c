/**
 * Guest intent from an imported trace (issue 9 §2, first slice): the trace's virtio-iommu
 * requests as scenario steps a machine can run again, the faults the trace recorded after each
 * device access, and everything the trace holds that the replay cannot use — counted by source
 * event with the reason, never invented.
 *
 * What becomes a step (QEMU `-trace` events, hw/virtio/trace-events; reference A2):
 * - virtio_iommu_attach / detach (domain, endpoint) → attach / detach;
 * - virtio_iommu_map (domain, virt_start, virt_end inclusive, phys_start, flags) → map;
 * - virtio_iommu_unmap (domain, virt_start, virt_end) → unmap;
 * - virtio_iommu_translate (mr, rid, addr, flag: IOMMUAccessFlags 1 RO, 2 WO, 3 RW) → a DMA of
 *   the endpoint at addr (a write when the flag has WO). The trace gives no access size: the
 *   replay accesses one byte, and says so.
 * A virtio_iommu_report_fault belongs to the last translate before it (QEMU reports the fault
 * inside virtio_iommu_translate). What does not become a step, by source event:
 * - Linux's iommu:map / iommu:unmap and dma:* (include/trace/events/iommu.h, dma.h): the IOMMU
 *   core's map and unmap carry no domain and no device, so they cannot be sent as requests;
 * - QEMU's host side (iommufd_backend_*, vfio_*, virtio_iommu_notify_*): what a replay recomputes;
 * - every other event: not a request or an access.
 */
import type { ScenarioStep } from '../scenario/model.ts';

/** A stored trace event as the replay reads it (an EventRow: kind, line, fields; u64 as "0x…"). */
export interface TraceRow {
  seq: number;
  kind: string;
  line?: number | null;
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
  /** attach / detach / map / unmap / dma steps; `line` is the trace line, `index` the position. */
  steps: ScenarioStep[];
  /** For each dma step (by its index): the fault the trace recorded for that access, or null. */
  traceFaultOf: Map<number, TraceFault | null>;
  /** Faults in the trace with no translate before them (not tied to an access). */
  unattributedFaults: TraceFault[];
  notDerived: NotDerived[];
  /** Notes on what the replay assumed (the DMA size). */
  assumptions: string[];
}

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

/** Why an event the replay does not use is left out (see the file comment). */
function whyNot(kind: string, event: string): string {
  if (event === 'iommu:map' || event === 'iommu:unmap') return "the IOMMU core's map/unmap carries no domain and no device (include/trace/events/iommu.h)";
  if (event.startsWith('dma:')) return 'a DMA API call: this replay sends virtio-iommu requests, and the call names no IOVA domain';
  if (event.startsWith('iommufd_') || event.startsWith('vfio_') || event.startsWith('virtio_iommu_notify')) return "QEMU's host side: what the replay recomputes";
  if (kind === 'trace-fault') return 'a fault of another IOMMU than virtio-iommu';
  return 'not a virtio-iommu request or device access';
}

/** Derives the replay's steps from a trace's events in seq order (see the file comment). */
export function deriveIntent(rows: Iterable<TraceRow>): ReplayIntent {
  const steps: ScenarioStep[] = [];
  const traceFaultOf = new Map<number, TraceFault | null>();
  const unattributedFaults: TraceFault[] = [];
  const skipped = new Map<string, NotDerived>();
  let lastDma = -1;
  let dmaCount = 0;
  const skip = (row: TraceRow, event: string) => {
    const s = skipped.get(event);
    if (s) s.count++;
    else skipped.set(event, { event, count: 1, firstLine: row.line ?? 0, why: whyNot(row.kind, event) });
  };
  for (const row of rows) {
    const f = row.fields;
    const data = (f.data ?? {}) as Record<string, unknown>;
    const event = typeof data.event === 'string' ? data.event : row.kind;
    const line = row.line ?? 0;
    const index = steps.length;
    if (row.kind === 'trace-attach' && (event === 'virtio_iommu_attach' || event === 'virtio_iommu_detach')) {
      const domain = int(f.domain);
      const endpoint = int(f.endpoint);
      if (domain === undefined || endpoint === undefined) {
        skip(row, event);
        continue;
      }
      steps.push(event === 'virtio_iommu_attach' ? { index, line, op: 'attach', domain, endpoint, flags: 0, reserved: 0 } : { index, line, op: 'detach', domain, endpoint });
    } else if ((row.kind === 'trace-map' && event === 'virtio_iommu_map') || (row.kind === 'trace-unmap' && event === 'virtio_iommu_unmap')) {
      const domain = int(f.domain);
      const iova = big(f.iova);
      const size = big(f.size);
      if (domain === undefined || iova === undefined || size === undefined || size === 0n) {
        skip(row, event);
        continue;
      }
      const virtEnd = iova + size - 1n > U64_MAX ? U64_MAX : iova + size - 1n;
      if (row.kind === 'trace-map') {
        const phys = big(f.phys);
        if (phys === undefined) {
          skip(row, event);
          continue;
        }
        steps.push({ index, line, op: 'map', domain, virtStart: iova, virtEnd, physStart: phys, flags: int(f.flags) ?? 0 });
      } else steps.push({ index, line, op: 'unmap', domain, virtStart: iova, virtEnd, reserved: 0 });
    } else if (row.kind === 'trace-note' && event === 'virtio_iommu_translate') {
      const endpoint = int(data.rid);
      const addr = big(data.addr);
      const flag = int(data.flag);
      if (endpoint === undefined || addr === undefined || flag === undefined) {
        skip(row, event);
        continue;
      }
      steps.push({ index, line, op: 'dma', endpoint, addr, size: 1n, access: (flag & 2) !== 0 ? 2 : 1 });
      traceFaultOf.set(index, null);
      lastDma = index;
      dmaCount++;
    } else if (row.kind === 'trace-fault' && event === 'virtio_iommu_report_fault') {
      const fault: TraceFault = { line, seq: row.seq, text: `line ${line}: virtio_iommu_report_fault endpoint=${f.endpoint ?? '?'} address=${f.address ?? '?'}` };
      if (lastDma >= 0 && traceFaultOf.get(lastDma) === null) traceFaultOf.set(lastDma, fault);
      else unattributedFaults.push(fault);
    } else skip(row, event);
  }
  const assumptions = dmaCount > 0 ? [`${dmaCount} device access${dmaCount === 1 ? '' : 'es'} from virtio_iommu_translate: the trace gives no access size, so each is replayed as a 1-byte access at its address`] : [];
  return { steps, traceFaultOf, unattributedFaults, notDerived: [...skipped.values()].sort((a, b) => b.count - a.count), assumptions };
}
