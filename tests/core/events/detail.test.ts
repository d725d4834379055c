/**
 * The event detail (core/events/detail.ts): every field with names resolved, u64 in hex, and raw
 * request bytes equal to the bytes the device actually read, for every request of a run (single
 * request steps with reserved fields, raw `request` steps: from StepResult.request as the runner
 * records it; workload iterations: re-encoded from the request event's fields).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { EventRow } from '../../../core/contract/index.ts';
import { bytesToHex, eventDetail, type DetailContext } from '../../../core/events/detail.ts';
import { formatEvent } from '../../../core/events/format.ts';
import type { SeqEvent } from '../../../core/events/sink.ts';
import { runConfig } from '../../../core/run/config.ts';
import { ScenarioRun } from '../../../core/run/runner.ts';
import type { StepResult } from '../../../core/contract/index.ts';
import { parseScenario, type Scenario } from '../../../core/scenario/index.ts';
import { VirtioIommuDevice } from '../../../core/viommu/virtio-iommu/device.ts';

const TEXT = `name: detail
viommu: {model: virtio-iommu, aw-bits: 64}
devices:
  - {name: nic0, bdf: "00:03.0"}
  - {name: disk, bdf: "01:00.1"}
steps:
  - attach: {domain: 1, endpoint: nic0, reserved: 0x11223344}
  - map: {domain: 1, virt-start: 0xfffffffffffff000, virt-end: 0xffffffffffffffff, phys-start: 0x1000, flags: [read, write]}
  - unmap: {domain: 1, virt-start: 0x0, virt-end: 0xfff, reserved: 7}
  - probe: {endpoint: disk}
  - dma: {endpoint: nic0, addr: 0x5000, access: write}
  - request: {hex: "03 00 00 00 01 00"}
  - request: {hex: "09 aa bb cc"}
  - workload: {domain: 1, endpoint: nic0, count: 3, size: 4096, iova-base: 0x100000000, phys-base: 0x80000000}
  - detach: {domain: 1, endpoint: nic0}
`;

/** An emitted event as the store gives it back: u64 as "0x…" hex (codec.ts), text formatted. */
function toRow(e: SeqEvent): EventRow {
  const { kind, step, seq, ...payload } = e as SeqEvent & Record<string, unknown>;
  const fields = Object.fromEntries(Object.entries(payload).map(([k, v]) => [k, typeof v === 'bigint' ? `0x${v.toString(16)}` : v]));
  return { seq, step, kind, fields, text: formatEvent(kind, fields), problem: kind === 'fault' };
}

function parsed(): Scenario {
  const { scenario, diagnostics } = parseScenario(TEXT, 'detail.yaml');
  expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return scenario!;
}

afterEach(() => vi.restoreAllMocks());

/** Runs the scenario to the end: its events and a detail context maker (devices, the event's step result). */
function runAll(): { events: SeqEvent[]; ctx: (e: SeqEvent) => DetailContext; results: StepResult[] } {
  const scenario = parsed();
  const run = new ScenarioRun(scenario);
  while (run.advance(100));
  const results = run.stepResults();
  const devices = runConfig(scenario).devices;
  return { events: run.takeEvents(), results, ctx: (e) => ({ devices, step: results.find((r) => r.index === e.step) }) };
}

describe('eventDetail', () => {
  it('gives every request event the bytes the device read', () => {
    // Record each request's readable bytes as the device receives them (copied: workloads patch in place).
    const read: string[] = [];
    const into = VirtioIommuDevice.prototype.handleRequestInto;
    const handle = VirtioIommuDevice.prototype.handleRequest;
    vi.spyOn(VirtioIommuDevice.prototype, 'handleRequestInto').mockImplementation(function (this: VirtioIommuDevice, r: Uint8Array, w: Uint8Array) {
      read.push(bytesToHex(r));
      return into.call(this, r, w);
    });
    vi.spyOn(VirtioIommuDevice.prototype, 'handleRequest').mockImplementation(function (this: VirtioIommuDevice, r: Uint8Array, n: number) {
      read.push(bytesToHex(r));
      return handle.call(this, r, n);
    });
    const { events, ctx, results } = runAll();
    const requests = events.filter((e) => e.kind === 'request');
    expect(requests.length).toBe(read.length);
    expect(read.length).toBe(1 + 1 + 1 + 1 + 2 + 3 * 2 + 1);
    requests.forEach((e, i) => {
      const d = eventDetail(toRow(e), ctx(e));
      expect(d.raw?.hex, `request #${i} (step ${e.step})`).toBe(read[i]);
      expect(d.raw?.source).toBe(e.step === 7 ? 'encoded' : 'step');
    });
    // Single-request steps record the bytes they sent: the attach's reserved field, the raw step's own (short) bytes.
    expect(results[0].request).toBe('01000000' + '01000000' + '18000000' + '00000000' + '44332211');
    expect(results[0].request).toBe(read[0]);
    expect(results[5].request).toBe('030000000100');
    const short = eventDetail(toRow(requests[4]), ctx(requests[4]));
    expect(short.raw).toEqual({ hex: '030000000100', source: 'step', layout: [{ name: 'head.type', offset: 0, size: 1 }, { name: 'head.reserved', offset: 1, size: 3 }] });
    // Without the step's result (a run in progress), a request is re-encoded from its fields.
    const wl = requests.filter((e) => e.step === 7);
    expect(wl).toHaveLength(6);
    expect(eventDetail(toRow(requests[1]), { devices: [] }).raw).toEqual({ ...eventDetail(toRow(requests[1]), ctx(requests[1])).raw, source: 'encoded' });
    expect(eventDetail(toRow(requests[4]), { devices: [] }).raw).toBeNull(); // a short MAP has no fields to encode
  });

  it('shows the effects of a single-request step with that request, and DMA events without bytes', () => {
    const { events, ctx } = runAll();
    const map = events.find((e) => e.kind === 'map' && e.step === 1)!;
    const d = eventDetail(toRow(map), ctx(map));
    expect(d.raw?.hex.slice(0, 8)).toBe('03000000');
    expect(d.raw?.layout.map((f) => f.name)).toEqual(['head.type', 'head.reserved', 'domain', 'virt_start', 'virt_end', 'phys_start', 'flags']);
    const fault = events.find((e) => e.kind === 'fault')!;
    expect(eventDetail(toRow(fault), ctx(fault)).raw).toBeNull();
    const expectation = events.find((e) => e.kind === 'expectation');
    if (expectation) expect(eventDetail(toRow(expectation), ctx(expectation)).raw).toBeNull();
  });

  it('resolves names: endpoint device and BDF, status, reason, request type, flags; u64 in hex', () => {
    const { events, ctx } = runAll();
    const devices = ctx(events[0]).devices;
    const field = (e: SeqEvent, name: string) => eventDetail(toRow(e), ctx(e)).fields.find((f) => f.name === name);

    const fault = events.find((e) => e.kind === 'fault')!;
    expect(field(fault, 'endpoint')).toMatchObject({ value: '24 (0x18)', meaning: 'nic0 · 00:03.0' });
    expect(field(fault, 'reason')).toMatchObject({ value: '2', meaning: 'MAPPING' });
    expect(field(fault, 'address')).toMatchObject({ value: '0x5000' });
    // QEMU reports the fault without the access bits (flags = F_ADDRESS only).
    expect(field(fault, 'flags')).toMatchObject({ value: '256 (0x100)', meaning: 'ADDRESS' });

    const attachReq = events.find((e) => e.kind === 'request' && e.step === 0)!;
    expect(field(attachReq, 'reqType')).toMatchObject({ value: '1', meaning: 'ATTACH' });
    expect(field(attachReq, 'status')).toMatchObject({ value: '0', meaning: 'OK' });

    const map = events.find((e) => e.kind === 'map')!;
    expect(field(map, 'virtEnd')?.value).toBe('0xffffffffffffffff');
    expect(field(map, 'flags')?.meaning).toBe('RW');
    expect(field(map, 'virtStart')?.doc).toMatch(/IOVA/);

    const probe = events.find((e) => e.kind === 'probe')!;
    expect(field(probe, 'endpoint')?.meaning).toBe('disk · 01:00.1');
    const regions = field(probe, 'regions')!;
    expect(regions.children?.[0].children?.find((c) => c.name === 'subtype')?.meaning).toBe('MSI');
    expect(regions.children?.[0].children?.find((c) => c.name === 'start')?.value).toBe('0xfee00000');

    const unknown = events.find((e) => e.kind === 'request' && e.step === 6)!;
    expect(field(unknown, 'reqType')?.meaning).toBe('UNKNOWN');
    // An endpoint nobody declared keeps its BDF.
    const row: EventRow = { seq: 0, step: 0, kind: 'endpoint-alloc', fields: { endpoint: 0x28 }, text: '', problem: false };
    expect(eventDetail(row, { devices }).fields[0].meaning).toBe('00:05.0 (not declared)');
  });
});

describe('runConfig', () => {
  it('gives the effective values, machine defaults resolved', () => {
    expect(runConfig(parsed())).toEqual({
      machine: 'q35',
      model: 'virtio-iommu',
      conformance: 'qemu',
      granule: 'host',
      awBits: 64,
      devices: [
        { name: 'nic0', bdf: '00:03.0', endpoint: 0x18 },
        { name: 'disk', bdf: '01:00.1', endpoint: 0x101 },
      ],
    });
    const virt = parseScenario('name: v\nmachine: virt\nviommu: {model: virtio-iommu, conformance: spec}\nsteps: []\n', 'v.yaml').scenario!;
    expect(runConfig(virt)).toMatchObject({ machine: 'virt', conformance: 'spec', awBits: 48 });
  });
});

describe('eventDetail of host-side events: meanings declared in the catalog', () => {
  const row = (kind: EventRow['kind'], fields: Record<string, unknown>): EventRow => ({ seq: 0, step: 0, kind, fields, text: formatEvent(kind, fields), problem: false });
  const meanings = (r: EventRow) => Object.fromEntries(eventDetail(r, { devices: [{ name: 'nic0', bdf: '00:03.0', endpoint: 0x18 }] as DetailContext['devices'] }).fields.map((f) => [f.name, f.meaning]));

  it('a host call shows its errno by name and its backend', () => {
    const m = meanings(row('host-call', { backend: 3, errno: 22, id: 2, iova: '0x10000', length: '0x1000', call: { op: 'map-dma', ioctl: 'VFIO_IOMMU_MAP_DMA', args: {}, out: {} } }));
    expect(m.errno).toBe('EINVAL');
    expect(m.backend).toBe('iommufd-vfio-compat');
    expect(meanings(row('host-call', { backend: 1, errno: 0, call: { op: 'ioas-alloc', ioctl: 'IOMMU_IOAS_ALLOC', args: {}, out: {} } })).errno).toBe('OK');
  });

  it('statuses of realize, set_iommu_device and plug are their own words, not virtio-iommu status names', () => {
    expect(meanings(row('hiod-realize', { status: 1, data: { device: 'vf0' } })).status).toBe('failed');
    expect(meanings(row('set-iommu-device', { endpoint: 0x18, status: 1, data: { device: 'nic0' } })).status).toBe('refused');
    const plug = meanings(row('device-plug', { endpoint: 0x18, action: 1, status: 0, data: { device: 'nic0' } }));
    expect(plug).toMatchObject({ action: 'hotplug', status: 'done' });
  });

  it("a host DMA's endpoint is the host device's address, not a guest device's name", () => {
    const m = meanings(row('host-dma', { endpoint: 0x18, iova: '0x1000', size: '0x8', access: 2, outcome: 1, data: { device: 'vf0', iommu: 'dmar0' } }));
    expect(m.endpoint).toBe('00:03.0');
    expect(m).toMatchObject({ access: 'write', outcome: 'fault' });
  });
});
