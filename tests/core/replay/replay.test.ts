/**
 * Replay, first slice (core/replay): a QEMU -trace log's virtio-iommu requests and device accesses
 * become steps (intent.ts), everything else is counted by source event with the reason; replayed
 * against two configurations (replay.ts), the faults the trace recorded are compared access by
 * access, and each disagreement is a divergence with both chains.
 */
import { describe, expect, it } from 'vitest';
import { ImportDriver } from '../../../core/import/driver.ts';
import { QemuTraceImporter } from '../../../core/import/qemu.ts';
import { deriveIntent, type TraceRow } from '../../../core/replay/intent.ts';
import { replayAgainst } from '../../../core/replay/replay.ts';
import { QEMU_REPLAY_LOG_LINES } from '../../support/traces.ts';

// The shared log, plus a second fault that follows no fresh access.
const LOG = [...QEMU_REPLAY_LOG_LINES, '9@100.000008:virtio_iommu_report_fault FAULT reason=1 flags=0 endpoint=32 address =0x0', ''].join('\n');

/** The log through the import driver, as stored rows (seq, kind, line, fields). */
function rows(): TraceRow[] {
  const out: TraceRow[] = [];
  const d = new ImportDriver([new QemuTraceImporter()], 'qemu');
  const push = (e: object & { kind: string }, line: number) => out.push({ seq: out.length, kind: e.kind, line, fields: e as Record<string, unknown> });
  d.push(LOG, push);
  d.end(push);
  return out;
}

const SCENARIO = (viommu: string, step = 'read-config: {}') => `name: replay target
machine: q35
viommu: ${viommu}
devices:
  - {name: nic0, bdf: "00:03.0"}
steps:
  - ${step}
`;

describe('replay intent from a QEMU trace', () => {
  it('turns requests and accesses into steps with their trace lines, ties each fault to its access, and says what it did not use', () => {
    const intent = deriveIntent(rows());
    expect(intent.steps.map((s) => [s.index, s.line, s.op])).toEqual([
      [0, 1, 'attach'],
      [1, 2, 'map'],
      [2, 4, 'dma'],
      [3, 5, 'unmap'],
      [4, 6, 'dma'],
    ]);
    expect(intent.steps[1]).toMatchObject({ domain: 1, virtStart: 0x8000000000n, virtEnd: 0x8000000fffn, physStart: 0x40000000n, flags: 3 });
    expect(intent.steps[4]).toMatchObject({ endpoint: 24, addr: 0x8000000010n, size: 1n, access: 2 });
    expect([...intent.traceFaultOf].map(([step, f]) => [step, f?.line ?? null])).toEqual([
      [2, null],
      [4, 7],
    ]);
    // The second fault follows an access that already faulted: not tied to one.
    expect(intent.unattributedFaults.map((f) => f.line)).toEqual([8]);
    expect(intent.notDerived).toEqual([{ event: 'iommufd_backend_map_dma', count: 1, firstLine: 3, why: "QEMU's host side: what the replay recomputes" }]);
    expect(intent.assumptions[0]).toMatch(/^2 device accesses from virtio_iommu_translate: the trace gives no access size/);
  });
});

describe('replay against configurations', () => {
  it('the configuration the trace came from reproduces its faults: no divergence', () => {
    const { outcome } = replayAgainst(deriveIntent(rows()), SCENARIO('{model: virtio-iommu, conformance: qemu, aw-bits: 64}'), 'qemu64.yaml');
    expect(outcome).toMatchObject({ failure: null, steps: 5, faults: 1, divergences: [] });
    expect(outcome!.requests).toEqual({ ATTACH: { OK: 1 }, MAP: { OK: 1 }, UNMAP: { OK: 1 } });
  });

  it('a 39-bit input range in spec mode refuses the MAP above 2^39, so the first access faults where the trace translated: a divergence with both chains', () => {
    const { outcome } = replayAgainst(deriveIntent(rows()), SCENARIO('{model: virtio-iommu, conformance: spec, aw-bits: 39}'), 'spec39.yaml');
    expect(outcome!.requests.MAP).toEqual({ RANGE: 1 });
    expect(outcome!.divergences).toEqual([{ step: 2, traceLine: 4, trace: null, replay: 'FAULT MAPPING ep=00:03.0 addr=0x8000000010 flags=ADDRESS' }]);
  });

  it('refuses a scenario of another vIOMMU model, and gives back the diagnostics of one that does not parse', () => {
    const intel = replayAgainst(deriveIntent(rows()), SCENARIO('{model: intel-iommu}', 'dma: {endpoint: nic0, addr: 0x1000, size: 4, access: read}'), 'intel.yaml');
    expect(intel.outcome!.failure).toBe("the trace's requests are virtio-iommu requests; intel.yaml models intel-iommu (nothing replayed)");
    const bad = replayAgainst(deriveIntent(rows()), 'name: x\nmachine: pdp11\n', 'bad.yaml');
    expect(bad.outcome).toBeUndefined();
    expect(bad.diagnostics.some((d) => d.severity === 'error' && d.file === 'bad.yaml')).toBe(true);
  });
});
