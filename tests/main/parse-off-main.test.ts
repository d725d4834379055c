/**
 * Issue 6 §5.3 and §5.4 through LabService: a scenario is parsed in the run worker that runs it
 * (never on the main thread, so other clients are answered while a huge or hostile text is
 * parsed), and a huge dma step is cut into work units: its progress moves and cancelRun stops it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Notifications } from '../../core/contract/index.ts';
import { LabService, waitForRun } from '../../main/service/lab-service.ts';

let dir: string;
let services: LabService[] = [];
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommu-lab-parse-'));
});
afterEach(async () => {
  await Promise.all(services.map((s) => s.close()));
  services = [];
  fs.rmSync(dir, { recursive: true, force: true });
});

function open(): LabService {
  const s = new LabService({ dbPath: path.join(dir, 'lab.db'), examplesDir: dir, runOptions: { commitIntervalMs: 20 } });
  services.push(s);
  return s;
}

const HEAD = 'name: huge\nviommu: {model: virtio-iommu}\nsteps:\n';

describe('startRun parses off the main thread', () => {
  it('answers other calls while a big invalid scenario is parsed, then returns its diagnostics', async () => {
    const s = open();
    await s.ready();
    const text = HEAD + '  - {map: {domain: 1}}\n'.repeat(4_000);
    const order: string[] = [];
    const started = s.call('startRun', { text, file: 'bad.yaml' }).then((r) => {
      order.push('startRun');
      return r;
    });
    const runs = s.call('listRuns', {}).then((r) => {
      order.push('listRuns');
      return r;
    });
    expect(await runs).toEqual([]);
    const r = await started;
    // Parsed on the main thread, startRun would have resolved first (its handler ran to the end
    // before listRuns was even called).
    expect(order).toEqual(['listRuns', 'startRun']);
    expect(r.runId).toBeNull();
    expect(r.diagnostics.length).toBe(1001);
    expect(r.diagnostics[0]).toMatchObject({ file: 'bad.yaml', line: 4, message: 'steps.0.map: missing required key "virt-start"' });
    expect(await s.call('listRuns', {})).toEqual([]); // nothing stored
  });

  it('listExamples parses only small example files on the main thread', async () => {
    const s = open();
    fs.writeFileSync(path.join(dir, 'small.yaml'), HEAD.replace('huge', 'Small one') + '  - read-config: {}\n');
    fs.writeFileSync(path.join(dir, 'big.yaml'), HEAD.replace('huge', 'Big one') + '  - read-config: {}\n'.repeat(20_000));
    expect(await s.call('listExamples', {})).toEqual([
      { name: 'big', title: 'big', group: 'virtio-iommu', line: '' },
      { name: 'small', title: 'Small one', group: 'virtio-iommu', line: '' },
    ]);
  });

  it('a 1 TiB dma step: progress in pages, and cancelRun stops it', async () => {
    const s = open();
    const { runId } = await s.call('startRun', { text: HEAD + '  - dma: {endpoint: 0, addr: 0, size: 0x10000000000, access: read}\n', file: 'huge.yaml' });
    expect(runId).not.toBeNull();
    const seen: Notifications['runProgress'][] = [];
    await new Promise<void>((resolve) => {
      const off = s.listen('runProgress', (p) => {
        if (p.runId !== runId) return;
        seen.push(p);
        if (seen.length >= 2 && seen.at(-1)!.step > seen[0].step && seen[0].step > 0) {
          off();
          resolve();
        }
      });
    });
    expect(seen[0].steps).toBe(2 ** 28);
    expect(await s.call('cancelRun', { runId: runId! })).toEqual({ cancelled: true });
    expect(await waitForRun(s, runId!)).toEqual({ runId, status: 'cancelled', error: null });
    const run = (await s.call('getRun', { runId: runId! }))!;
    expect(run.status).toBe('cancelled');
    // One 'translate' per page decided (plus the setup's features event), each page one unit.
    expect(run.events).toBeGreaterThanOrEqual(seen.at(-1)!.step);
    expect(run.events).toBeLessThan(2 ** 28);
  });
});
