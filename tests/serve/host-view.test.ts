// The component and host panels' contract methods (main/service/host-view.ts over
// main/store/host-view.ts): components by layer with event and problem counts, the component
// filter of queryEvents/locateEvent, a guest request's caused host calls, and the host object
// table at any seq folded forward and back through checkpoints; bad params refused with the path.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { validateParams } from '../../core/contract/index.ts';
import type { SeqEvent } from '../../core/events/sink.ts';
import { neutralEvent } from '../support/events.ts';
import { EventWriter, LabStore } from '../../main/store/index.ts';
import { HostViewReader } from '../../main/store/host-view.ts';
import { CHECKPOINT_CALLS, HostViewSource } from '../../main/service/host-view.ts';

let dir: string;
let dbPath: string;
let store: LabStore;
let view: HostViewReader;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommu-lab-host-view-'));
  dbPath = path.join(dir, 'lab.db');
  store = new LabStore(dbPath);
  view = new HostViewReader(dbPath);
});
afterEach(() => {
  view.close();
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** An event of `kind` with every required field neutral, then `over` (tests/support/events.ts). */
const ev = neutralEvent;

const hostCall = (op: string, args: Record<string, unknown>, out: Record<string, unknown>, errno = 0, cause?: number) =>
  ev('host-call', 'iommufd0', { backend: 1, errno, call: { op, ioctl: op.toUpperCase(), args, out }, ...(cause === undefined ? {} : { cause: BigInt(cause) }) });

/** Writes a finished run of `events` (seq assigned in order) and returns its id. */
function run(events: Omit<SeqEvent, 'seq'>[], status: 'done' | 'running' = 'done'): number {
  const runId = store.createRun({ name: 'h', file: 'h.yaml', scenarioText: 'name: h', steps: 1, totalUnits: 1 });
  const w = new EventWriter(dbPath, runId);
  w.write(events.map((e, seq) => ({ ...e, seq }) as SeqEvent));
  w.commit(1, 1);
  if (status === 'running') w.abort();
  else w.finish({ status, doneUnits: 1, totalUnits: 1, metrics: null, stepResults: [], failedExpectations: 0, error: null });
  return runId;
}

describe('host view', () => {
  it('lists components guest side first with their counts, and filters events by component', () => {
    const runId = run([
      hostCall('ioas-alloc', {}, { 'out-ioas-id': 1 }),
      ev('request', 'viommu0', { status: 0 }),
      hostCall('ioas-map', { 'ioas-id': 1, iova: '0x1000', length: '0x1000' }, { iova: '0x1000' }, 0, 1),
      ev('qemu-error', 'hiod0', { data: { message: 'vfio_container_dma_map(…) = -22 (Invalid argument)', level: 'error' }, cause: 1n }),
      ev('expectation', '', { held: 0, detail: { message: 'x' } }),
      hostCall('destroy', { id: 1 }, {}, 16),
    ]);
    const src = new HostViewSource(view, store.reader);
    expect(src.listComponents(runId)).toEqual([
      { id: 'viommu0', kind: 'virtio-iommu', layer: 'viommu', events: 1, problems: 0 },
      { id: 'hiod0', kind: 'host-iommu-device', layer: 'host-iommu-device', events: 1, problems: 1 },
      { id: 'iommufd0', kind: 'backend', layer: 'backend', events: 3, problems: 1 },
      { id: '', kind: 'run', layer: 'run', events: 1, problems: 1 },
    ]);
    expect(src.listComponents(999)).toEqual([]);
    const q = store.reader.queryEvents({ runId, offset: 0, limit: 10, component: 'iommufd0' });
    expect([q.total, q.rows.map((r) => r.seq)]).toEqual([3, [0, 2, 5]]);
    expect(store.reader.queryEvents({ runId, offset: 0, limit: 10, component: '' }).rows.map((r) => r.kind)).toEqual(['expectation']);
    expect(store.reader.queryEvents({ runId, offset: 0, limit: 10, component: 'nope' }).total).toBe(0);
    expect(store.reader.locateEvent({ runId, component: 'iommufd0', seq: 3 })).toEqual({ index: 2, seq: 5, step: 0 });
    // With a free-text search (the scan's SQL carries the component condition).
    expect(store.reader.queryEvents({ runId, offset: 0, limit: 10, component: 'iommufd0', search: 'ioas-map' }).rows.map((r) => r.seq)).toEqual([2]);
    expect(store.reader.queryEvents({ runId, offset: 0, limit: 10, component: 'viommu0', search: 'ioas-map' }).total).toBe(0);
  });

  it("gives a guest request's caused host calls and QEMU errors, with their errno", () => {
    const runId = run([
      hostCall('ioas-alloc', {}, { 'out-ioas-id': 1 }),
      ev('request', 'viommu0', { status: 0 }),
      hostCall('ioas-map', { 'ioas-id': 1, iova: '0x1000', length: '0x1000' }, { iova: '0x1000' }, 0, 1),
      hostCall('ioas-map', { 'ioas-id': 1, iova: '0x8000000000', length: '0x1000' }, {}, 22, 1),
      ev('qemu-error', 'hiod0', { data: { message: 'vfio_container_dma_map', level: 'error' }, cause: 1n }),
      ev('request', 'viommu0', { status: 0 }),
      hostCall('ioas-unmap', { 'ioas-id': 1, iova: '0x1000', length: '0x1000' }, { length: '0x1000' }, 0, 5),
      ev('map', 'viommu0', { domain: 1 }),
      hostCall('ioas-map', { 'ioas-id': 1, iova: '0x2000', length: '0x1000' }, { iova: '0x2000' }, 0, 7),
      ev('request', 'viommu0', { status: 0 }),
      ev('request', 'viommu0', { status: 0 }),
    ]);
    const src = new HostViewSource(view, store.reader);
    expect(src.causedEvents(runId, 1).map((r) => [r.seq, r.kind, r.fields.errno, r.component])).toEqual([
      [2, 'host-call', 0, 'iommufd0'],
      [3, 'host-call', 22, 'iommufd0'],
      [4, 'qemu-error', undefined, 'hiod0'],
    ]);
    expect(src.causedEvents(runId, 5).map((r) => r.seq)).toEqual([6]);
    // A request event: the calls caused by any event of that request (its 'map' before it).
    expect(src.causedEvents(runId, 9).map((r) => r.seq)).toEqual([8]);
    expect(src.causedEvents(runId, 7).map((r) => r.seq)).toEqual([8]);
    expect(src.causedEvents(runId, 10).map((r) => r.seq)).toEqual([]);
    expect(src.causedEvents(runId, 0)).toEqual([]);
    expect(src.causedEvents(runId, 99)).toEqual([]);
  });

  it('folds the object table at any seq, forward and back through checkpoints, clamped to the stored events', () => {
    const n = CHECKPOINT_CALLS * 2 + 10;
    const events = [hostCall('ioas-alloc', {}, { 'out-ioas-id': 1 })];
    for (let i = 0; i < n; i++) events.push(hostCall('ioas-map', { 'ioas-id': 1, iova: `0x${(i * 0x1000).toString(16)}`, length: '0x1000' }, {}));
    events.push(hostCall('destroy', { id: 1 }, {}));
    const runId = run(events);
    const src = new HostViewSource(view, store.reader);
    const at = (seq: number) => src.hostObjects(runId, seq);
    expect(at(0)).toMatchObject({ seq: 0, calls: 1, objects: [{ type: 'ioas', id: 1, areas: 0 }] });
    expect(at(n)).toMatchObject({ seq: n, calls: n + 1, objects: [{ areas: n, bytes: String(n * 0x1000) }] });
    // Back: from the checkpoint below, the same table.
    expect(at(CHECKPOINT_CALLS + 5)).toMatchObject({ calls: CHECKPOINT_CALLS + 6, objects: [{ areas: CHECKPOINT_CALLS + 5 }] });
    expect(at(3).objects[0].areas).toBe(3);
    expect(at(n + 5)).toMatchObject({ seq: n + 1, objects: [] });
    expect(src.hostObjects(999, 3)).toEqual({ seq: -1, calls: 0, objects: [] });
  });

  it('refuses bad params with their field path', () => {
    expect(() => validateParams('getHostObjects', { runId: 1, seq: -1 })).toThrow(/getHostObjects: invalid params at \/seq/);
    expect(() => validateParams('getCausedEvents', { runId: 0, seq: 1 })).toThrow(/at \/runId/);
    expect(() => validateParams('listComponents', {})).toThrow(/at \/runId/);
    expect(() => validateParams('queryEvents', { runId: 1, offset: 0, limit: 1, component: 7 })).toThrow(/at \/component/);
    expect(() => validateParams('queryEvents', { runId: 1, offset: 0, limit: 1, component: 'x'.repeat(201) })).toThrow(/at \/component/);
  });
});
