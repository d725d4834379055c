/**
 * The host store against a fake lab (renderer/src/api mocked): the run's components are listed
 * when a run is shown; selecting a guest event fetches the host calls it caused, selecting a host
 * call fetches the guest event it links back to; the object view fetches the table at the
 * selected seq only while it is on; the component filter is sent with queryEvents; revealSeq
 * clears a filter that hides the linked event. Plus the display helpers.
 */
import { createPinia, setActivePinia } from 'pinia';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { EventRow, Method, Params } from '../../core/contract/index.ts';

type Call = { method: Method; params: Record<string, unknown> };
const calls: Call[] = [];
const rows: EventRow[] = [
  { seq: 0, step: 0, kind: 'request', fields: { status: 0 }, text: 'REQUEST MAP → OK', problem: false, component: 'viommu0' },
  { seq: 1, step: 0, kind: 'host-call', fields: { errno: 0, cause: 0 }, text: 'IOMMU_IOAS_MAP → OK', problem: false, component: 'iommufd0' },
  { seq: 2, step: 0, kind: 'host-call', fields: { errno: 22, cause: 0 }, text: 'IOMMU_IOAS_MAP → EINVAL', problem: true, component: 'iommufd0' },
];

vi.mock('../../renderer/src/api/index.ts', () => ({
  transport: 'browser',
  lab: {
    call: async (method: Method, params: Record<string, unknown>) => {
      calls.push({ method, params });
      switch (method) {
        case 'queryEvents': {
          const p = params as Params<'queryEvents'>;
          const list = rows.filter((r) => p.component === undefined || r.component === p.component);
          return { total: list.length, rows: list.slice(p.offset, p.offset + p.limit) };
        }
        case 'locateEvent': {
          const p = params as Params<'locateEvent'>;
          const list = rows.filter((r) => p.component === undefined || r.component === p.component);
          const i = list.findIndex((r) => r.seq >= (p.seq ?? 0));
          return i < 0 ? null : { index: i, seq: list[i].seq, step: 0 };
        }
        case 'getEventDetail': {
          const r = rows[(params as { seq: number }).seq];
          return { seq: r.seq, step: 0, kind: r.kind, kindDoc: '', text: r.text, problem: r.problem, fields: [], raw: null };
        }
        case 'listComponents':
          return [{ id: 'viommu0', kind: 'virtio-iommu', layer: 'viommu', events: 1, problems: 0 }, { id: 'iommufd0', kind: 'iommufd', layer: 'backend', events: 2, problems: 1 }];
        case 'getCausedEvents':
          return (params as { seq: number }).seq === 0 ? rows.slice(1) : [];
        case 'getHostObjects':
          return { seq: (params as { seq: number }).seq, calls: 1, objects: [] };
        default:
          return null;
      }
    },
    listen: () => () => {},
  },
}));

// No DOM here: a Map-backed localStorage for the object view toggle.
const stored = new Map<string, string>();
vi.stubGlobal('localStorage', {
  getItem: (k: string) => stored.get(k) ?? null,
  setItem: (k: string, v: string) => void stored.set(k, String(v)),
  removeItem: (k: string) => void stored.delete(k),
  clear: () => stored.clear(),
});

// The stores are loaded by a computed path (workbench-stores.test.ts): their imports (api/, the
// DOM) are the renderer's (tsconfig.web.json), outside this test's node type-check. The parts
// used here are typed below.
interface EventsStore {
  filter: { component: string | null };
  total: number;
  selectedIndex: number | null;
  selectedSeq: number | null;
  show(id: number): Promise<void>;
  select(index: number): Promise<void>;
  toggleComponent(id: string): void;
  revealSeq(seq: number): Promise<boolean>;
}
interface HostStore {
  components: { id: string }[];
  caused: EventRow[];
  cause: { seq: number; kind: string } | null;
  toggleObjects(on?: boolean): void;
}
const STORES = '../../renderer/src/stores/';
const { useEventsStore } = (await import(/* @vite-ignore */ `${STORES}events.ts`)) as { useEventsStore: () => EventsStore };
const { useHostStore, causeSeq } = (await import(/* @vite-ignore */ `${STORES}host.ts`)) as { useHostStore: () => HostStore; causeSeq: (v: unknown) => number | null };
const { formatVirtualTime, layerLabel, layerTitle, objectTypeName } = await import('../../renderer/src/format.ts');

const tick = () => new Promise((r) => setTimeout(r, 0));
const of = (m: Method) => calls.filter((c) => c.method === m).map((c) => c.params);

beforeEach(() => {
  setActivePinia(createPinia());
  calls.length = 0;
  localStorage.clear();
});

describe('host store', () => {
  it('lists components, links a guest request to its host calls and back, and fetches objects only while shown', async () => {
    const events = useEventsStore();
    const host = useHostStore();
    await events.show(7);
    await tick();
    expect(host.components.map((c) => c.id)).toEqual(['viommu0', 'iommufd0']);
    expect(of('getHostObjects')).toEqual([]);

    await events.select(0);
    await tick();
    expect(host.caused.map((r) => r.seq)).toEqual([1, 2]);
    expect(host.cause).toBeNull();

    await events.select(2);
    await tick();
    expect(of('getEventDetail').at(-1)).toEqual({ runId: 7, seq: 0 });
    expect(host.cause).toMatchObject({ seq: 0, kind: 'request' });
    expect(host.caused).toEqual([]);

    host.toggleObjects(true);
    await tick();
    expect(of('getHostObjects').at(-1)).toEqual({ runId: 7, seq: 2 });
    expect(localStorage.getItem('iommu-lab.objects')).toBe('1');
  });

  it('sends the component filter and clears it to reveal a linked event it hides', async () => {
    const events = useEventsStore();
    await events.show(7);
    events.toggleComponent('viommu0');
    await tick();
    expect(of('queryEvents').at(-1)).toMatchObject({ component: 'viommu0' });
    expect(events.total).toBe(1);
    expect(await events.revealSeq(2)).toBe(true);
    expect(events.filter.component).toBeNull();
    expect(events.selectedSeq).toBe(2);
    expect(events.selectedIndex).toBe(2);
  });
});

describe('display helpers', () => {
  it('formats cause seqs, virtual time, layers and object types', () => {
    expect([causeSeq(5), causeSeq('0x10'), causeSeq('12'), causeSeq(-1), causeSeq('x'), causeSeq(null)]).toEqual([5, 16, 12, null, null, null]);
    expect([formatVirtualTime(1500), formatVirtualTime(1234567890), formatVirtualTime(null)]).toEqual(['1.500', '1,234,567.890', '']);
    expect([layerLabel('host-iommu-device'), layerLabel('iommu'), layerLabel('x')]).toEqual(['hiod', 'IOMMU', 'x']);
    expect([layerTitle('host-iommu-device'), layerTitle('x')]).toEqual(['HostIOMMUDevice', 'x']);
    expect([objectTypeName('hwpt-paging'), objectTypeName('vfio-container'), objectTypeName('odd')]).toEqual(['HWPT_PAGING', 'CONTAINER', 'ODD']);
  });
});
