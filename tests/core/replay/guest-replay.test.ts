/**
 * Replay of a guest's DMA API calls (core/replay, issue 9 §2): a Linux ftrace's dma:* calls become
 * the configuration's guest calls, the late DMA the trace's IOMMU reported becomes the device's
 * access into the replay's buffer, and the trace's time becomes waits.
 *
 * The golden test: a map / unmap / late DMA sequence recorded with strict invalidation faults when
 * replayed strict, and does not fault when replayed lazy (the flush queue still holds the UNMAP:
 * reference trace-formats-and-guest-dma.md B3) — a divergence with both chains.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ImportDriver } from '../../../core/import/driver.ts';
import { FtraceImporter } from '../../../core/import/ftrace.ts';
import { deriveIntent, type TraceRow } from '../../../core/replay/intent.ts';
import { replayAgainst } from '../../../core/replay/replay.ts';
import { variantNames } from '../../../core/scenario/variant-names.ts';
import { GUEST_LATE_DMA_FTRACE_LINES } from '../../support/traces.ts';

/** The trace through the import driver, as stored rows (seq, kind, line, time, fields). */
function rows(lines: readonly string[] = GUEST_LATE_DMA_FTRACE_LINES): TraceRow[] {
  const out: TraceRow[] = [];
  const d = new ImportDriver([new FtraceImporter()], 'ftrace');
  const push = (e: object & { kind: string; time?: number }, line: number) => out.push({ seq: out.length, kind: e.kind, line, time: e.time ?? null, fields: e as Record<string, unknown> });
  d.push(lines.join('\n') + '\n', push);
  d.end(push);
  return out;
}

const CONFIG = (guest: string, devices = '  - {name: nic0, bdf: "00:03.0"}') => `name: ${guest}
machine: q35
guest: {iommu-dma: ${guest}}
devices:
${devices}
steps:
  - read-config: {}
`;

describe('guest intent from a Linux ftrace', () => {
  it('turns dma_map_phys / dma_unmap_phys into dma-map / dma-unmap of one handle, the fault into an access into that buffer, and the time between calls into waits', () => {
    const intent = deriveIntent(rows());
    expect(intent.guest).toBe(true);
    expect(intent.steps.map((s) => [s.index, s.line, s.op])).toEqual([
      [0, 3, 'dma-map'],
      [1, 5, 'wait'],
      [2, 5, 'dma-unmap'],
      [3, 6, 'wait'],
      [4, 6, 'dma'],
    ]);
    expect(intent.steps[0]).toMatchObject({ device: '0000:00:03.0', endpoint: 0x18, size: 4096n, dir: 2, phys: 0x40000000n, offset: 0, out: 't3' });
    expect(intent.steps[1]).toMatchObject({ ns: 100_000 });
    expect(intent.steps[2]).toMatchObject({ handle: 't3', endpoint: 0x18 });
    // The write 0x10 bytes into the buffer the trace mapped at 0xfffff000.
    expect(intent.steps[4]).toMatchObject({ endpoint: 0x18, addr: 0xfffff010n, handle: 't3', offset: 0x10n, access: 2, size: 1n });
    expect(intent.traceFaultOf.get(4)).toMatchObject({ line: 6 });
    expect(intent.notDerived).toEqual([{ event: 'iommu:map', count: 1, firstLine: 4, why: "the IOMMU core's map/unmap the traced DMA API calls caused: the replay recomputes them" }]);
    expect(intent.assumptions.join('\n')).toMatch(/1 faulting access replayed at the same offset into the buffer/);
  });

  it('a buffer no later access names is held in a slot reused after its unmap, not by name, so the guest\'s names do not grow with the trace', () => {
    const lines = [...GUEST_LATE_DMA_FTRACE_LINES];
    lines.splice(5, 0, '            nvme-77      [000] .....   100.000210: dma_map_phys: 0000:00:03.0 dir=TO_DEVICE dma_addr=ffffe000 size=512 phys_addr=40001000 attrs=', '            nvme-77      [000] .....   100.000220: dma_unmap_phys: 0000:00:03.0 dir=TO_DEVICE dma_addr=ffffe000 size=512 attrs=');
    const intent = deriveIntent(rows(lines));
    const maps = intent.steps.filter((s) => s.op === 'dma-map').map((s) => [s.out, s.slot]);
    const unmaps = intent.steps.filter((s) => s.op === 'dma-unmap').map((s) => [s.handle, s.slot]);
    // t3 is named by the late write (kept by name); t6 is not (slot 0).
    expect(maps).toEqual([['t3', undefined], ['t6', 0]]);
    expect(unmaps).toEqual([['t3', undefined], ['t6', 0]]);
    const { outcome } = replayAgainst(intent, CONFIG('strict'), 'strict.yaml');
    expect(outcome).toMatchObject({ faults: 1, divergences: [] });
  });

  it('an unmap of an address the trace never mapped, a scatterlist of several entries and dma_sync are counted with their reasons, not replayed', () => {
    const intent = deriveIntent(
      rows([
        '            nvme-77      [000] .....   1.000000: dma_unmap_phys: 0000:00:03.0 dir=TO_DEVICE dma_addr=ffffe000 size=512 attrs=',
        '            nvme-77      [000] .....   1.000001: dma_map_sg: 0000:00:03.0 dir=TO_DEVICE dma_addrs={0xffffe000,0xffffd000} sizes={4096,4096} phys_addrs={0x1000,0x2000} attrs=',
        '            nvme-77      [000] .....   1.000002: dma_sync_single_for_cpu: 0000:00:03.0 dir=FROM_DEVICE dma_addr=ffffe000 size=64',
      ]),
    );
    expect(intent.steps).toEqual([]);
    expect(intent.guest).toBe(false);
    expect(intent.notDerived.map((n) => [n.event, n.firstLine, n.why])).toEqual([
      ['dma:dma_unmap_phys (not mapped in the trace)', 1, 'an unmap of a DMA address no traced map returned (mapped before the trace began)'],
      ['dma:dma_map_sg', 2, "a scatterlist of several entries (its merged IOVA layout is the replay's to compute), or a call without its address and size"],
      ['dma:dma_sync_single_for_cpu', 3, 'cache maintenance: no IOMMU effect'],
    ]);
  });
});

describe('golden replay: map / unmap / late DMA, strict against lazy', () => {
  it('strict invalidation reproduces the trace: the late write faults at the replay buffer, no divergence', () => {
    const { diagnostics, outcome } = replayAgainst(deriveIntent(rows()), CONFIG('strict'), 'strict.yaml');
    expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(outcome).toMatchObject({ failure: null, steps: 5, faults: 1, divergences: [], unbound: [] });
    // A replay keeps the notable step results: the access (the map went well).
    expect(outcome!.stepResults.map((r) => [r.index, r.op])).toEqual([[4, 'dma']]);
    // QEMU reports a missing mapping with VIRTIO_IOMMU_FAULT_F_ADDRESS only (virtio_iommu_translate).
    expect(outcome!.stepResults[0]!.outcome).toEqual({ fault: { reason: 'MAPPING', flags: ['address'], address: '0xfffff010' } });
  });

  it('lazy invalidation does not reproduce it: the UNMAP is still in the flush queue, the write goes through a stale translation — a divergence with both chains', () => {
    const { outcome } = replayAgainst(deriveIntent(rows()), CONFIG('lazy'), 'lazy.yaml');
    expect(outcome).toMatchObject({ failure: null, faults: 0 });
    expect(outcome!.stepResults[0]!.outcome).toMatchObject({ translated: '0x40000010', stale: true });
    expect(outcome!.divergences).toEqual([
      { step: 4, traceLine: 6, trace: 'line 6: iommu:io_page_fault 0000:00:03.0 address=0xfffff010 (write)', replay: null },
    ]);
  });

  it('lazy, but the late DMA 20 ms after the unmap: the flush-queue timer (10 ms) has delivered the UNMAP, so it faults again', () => {
    const lines = [...GUEST_LATE_DMA_FTRACE_LINES];
    lines[5] = lines[5]!.replace('100.000300', '100.020200');
    const { outcome } = replayAgainst(deriveIntent(rows(lines)), CONFIG('lazy'), 'lazy.yaml');
    expect(outcome).toMatchObject({ faults: 1, divergences: [] });
  });

  it('a configuration without the trace\'s device replays none of its calls and says which device', () => {
    const { outcome } = replayAgainst(deriveIntent(rows()), CONFIG('strict', '  - {name: disk0, bdf: "00:04.0"}'), 'other.yaml');
    expect(outcome).toMatchObject({ steps: 2, faults: 0 });
    expect(outcome!.unbound).toEqual([{ event: 'calls of 00:03.0', count: 3, firstLine: 3, why: 'no device at 00:03.0 in other.yaml: its DMA API calls and accesses are not replayed' }]);
  });

  it('intel-iommu cannot take the guest calls: refused with the reason, nothing replayed', () => {
    const text = CONFIG('strict').replace('guest: {iommu-dma: strict}\n', 'viommu: {model: intel-iommu}\n').replace('read-config: {}', 'reset: system');
    const { outcome } = replayAgainst(deriveIntent(rows()), text, 'vtd.yaml');
    expect(outcome?.failure).toBe("the trace's DMA API calls drive the guest DMA layer, which drives virtio-iommu only; vtd.yaml models intel-iommu (nothing replayed)");
  });
});

describe('what a Linux trace holds that the replay recomputes', () => {
  it('invalidations, attaches and group changes are counted with the reason the configuration decides them', () => {
    const intent = deriveIntent(
      rows([
        '     kworker/0:1-40      [000] .....   1.000000: qi_submit: iotlb_inv dmar0: 0x12 0x0 0x0 0x0',
        '     kworker/0:1-12      [000] .....   1.000001: attach_device_to_domain: IOMMU: device=0000:00:03.0',
        '     kworker/0:1-12      [000] .....   1.000002: add_device_to_group: IOMMU: groupID=3 device=0000:00:03.0',
      ]),
    );
    expect(intent.steps).toEqual([]);
    expect(intent.notDerived.map((n) => [n.firstLine, n.why.split(':')[0]])).toEqual([
      [1, 'an IOTLB invalidation'],
      [2, 'a device attached to a domain by the traced kernel'],
      [3, 'IOMMU group membership'],
    ]);
  });
});

describe('a kernel log of faults alone', () => {
  it('replays on intel-iommu too (device accesses only): the DMAR fault, accessed at its address, translates (no DMA remapping yet)', () => {
    const row: TraceRow = { seq: 0, kind: 'trace-fault', line: 1, time: null, fields: { address: 0xfffff000n, access: 2, endpoint: 0x18, reason: 6, data: { event: 'DMAR', device: '00:03.0' } } };
    const intent = deriveIntent([row]);
    expect(intent.steps).toMatchObject([{ op: 'dma', endpoint: 0x18, addr: 0xfffff000n, access: 2 }]);
    const text = CONFIG('strict').replace('guest: {iommu-dma: strict}\n', 'viommu: {model: intel-iommu}\n').replace('read-config: {}', 'reset: system');
    const { outcome } = replayAgainst(intent, text, 'vtd.yaml');
    expect(outcome).toMatchObject({ failure: null, faults: 0 });
    expect(outcome!.divergences).toEqual([{ step: 0, traceLine: 1, trace: 'line 1: DMAR 00:03.0 address=0xfffff000 (write)', replay: null }]);
  });
});

describe('a scenario with variants: one configuration per variant', () => {
  const text = readFileSync(new URL('../../../examples/variants-strict-lazy.yaml', import.meta.url), 'utf8');
  it('variantNames reads the names; each variant replays alone, named by it; without one, an error lists them', () => {
    expect(variantNames(text)).toEqual(['strict', 'lazy']);
    expect(variantNames(CONFIG('strict'))).toEqual([]);
    const intent = deriveIntent(rows());
    const strict = replayAgainst(intent, text, 'v.yaml', undefined, undefined, 'strict');
    const lazy = replayAgainst(intent, text, 'v.yaml', undefined, undefined, 'lazy');
    expect(strict.outcome).toMatchObject({ file: 'v.yaml [strict]', name: 'Variants: strict vs lazy invalidation [strict]', faults: 1, divergences: [] });
    expect(lazy.outcome).toMatchObject({ file: 'v.yaml [lazy]', faults: 0 });
    expect(lazy.outcome!.divergences).toHaveLength(1);
    const none = replayAgainst(intent, text, 'v.yaml');
    expect(none.outcome).toBeUndefined();
    expect(none.diagnostics.at(-1)).toMatchObject({ severity: 'error', path: 'variants', message: 'v.yaml has 2 variants (strict, lazy): a replay takes one configuration — replay against each variant by name' });
    expect(replayAgainst(intent, text, 'v.yaml', undefined, undefined, 'eager').diagnostics.at(-1)!.message).toBe('v.yaml has no variant "eager" (its variants: strict, lazy)');
  });
});
