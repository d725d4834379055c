/**
 * `variants:` through LabService with real run workers (main/service/variant-runs.ts): one run per
 * variant, created at once and run one after the other in order, each storing its own expanded
 * text and its variant record; an invalid variant stores nothing; cancelling any run of the group
 * cancels the running one and the waiting ones (never started, no events).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Notifications } from '../../core/contract/index.ts';
import { parseScenario } from '../../core/scenario/index.ts';
import { LabService, waitForRun } from '../../main/service/lab-service.ts';

let dir: string;
let services: LabService[] = [];
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommu-lab-variants-'));
  fs.mkdirSync(path.join(dir, 'examples'));
});
afterEach(async () => {
  await Promise.all(services.map((s) => s.close()));
  services = [];
  fs.rmSync(dir, { recursive: true, force: true });
});

function open(): LabService {
  const s = new LabService({ dbPath: path.join(dir, 'lab.db'), examplesDir: path.join(dir, 'examples') });
  services.push(s);
  return s;
}

/** Three variants of a small scenario: aw-bits 48 (base), 39, 32, each expecting its own config.input_range. */
function scenario(count = 1, extra = ''): string {
  return `name: widths
viommu: {model: virtio-iommu, aw-bits: 48}
devices:
  - {name: nic0, bdf: "00:03.0"}
steps:
  - attach: {domain: 1, endpoint: nic0}
    expect: OK
  - read-config: {}
    expect: {input-range: [0, 0xffffffffffff]}
    expect-in: {aw-39: {input-range: [0, 0x7fffffffff]}, aw-32: {input-range: [0, 0xffffffff]}}
  - workload: {domain: 1, endpoint: nic0, count: ${count}, size: 4096, iova-base: 0x10000, phys-base: 0x80000000}
variants:
  - {name: aw-48}
  - {name: aw-39, viommu: {aw-bits: 39}}
  - {name: aw-32, viommu: {aw-bits: 32}${extra}}
`;
}

describe('startRun of a scenario with variants', () => {
  it('creates one run per variant, runs them in order, each with its own text and variant record', async () => {
    const s = open();
    const finished: number[] = [];
    const log: string[] = [];
    s.listen('runFinished', (f) => {
      finished.push(f.runId);
      log.push(`finished ${f.runId}`);
    });
    s.listen('runProgress', (p) => log.push(`progress ${p.runId}`));
    const started = await s.call('startRun', { text: scenario(), file: 'widths.yaml' });
    expect(started.runId).not.toBeNull();
    if (started.runId === null) return;
    const ids = started.variantRunIds!;
    expect(ids).toHaveLength(3);
    expect(ids[0]).toBe(started.runId);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    for (const id of ids) await waitForRun(s, id);
    // In order, one after the other: each starts after the one before has finished.
    expect(finished).toEqual(ids);
    const runs = await Promise.all(ids.map((runId) => s.call('getRun', { runId })));
    expect(runs.map((r) => [r!.name, r!.status, r!.failedExpectations])).toEqual([
      ['widths [aw-48]', 'done', 0],
      ['widths [aw-39]', 'done', 0],
      ['widths [aw-32]', 'done', 0],
    ]);
    // Each run's times are its own: a variant starts when the one before it has finished.
    for (let i = 1; i < runs.length; i++) expect(runs[i]!.startedAt >= runs[i - 1]!.finishedAt!).toBe(true);
    // Nothing of a variant happens before the one before it has finished.
    for (let i = 1; i < ids.length; i++) {
      expect(log.indexOf(`progress ${ids[i]}`)).toBeGreaterThan(log.indexOf(`finished ${ids[i - 1]}`));
    }
    const group = runs[0]!.variant!.group;
    expect(runs.map((r) => r!.variant)).toEqual(['aw-48', 'aw-39', 'aw-32'].map((variant, index) => ({ kind: 'variant', variant, scenario: 'widths', index, count: 3, group })));
    // Each run stores its variant's text, which runs alone: the same name and configuration.
    for (const r of runs) {
      expect(r!.scenarioText).not.toContain('variants:');
      const again = parseScenario(r!.scenarioText, 'again.yaml');
      expect(again.diagnostics).toEqual([]);
      expect(again.scenario!.name).toBe(r!.name);
    }
    expect(runs.map((r) => /aw-bits: (\d+)/.exec(r!.scenarioText)![1])).toEqual(['48', '39', '32']);
    expect(runs.map((r) => r!.config)).not.toEqual([runs[0]!.config, runs[0]!.config, runs[0]!.config]);
    // The runs list shows them with their variant.
    const listed = await s.call('listRuns', {});
    expect(listed.filter((r) => r.variant?.group === group).map((r) => r.id).sort()).toEqual([...ids].sort());
  }, 60_000);

  it('an invalid variant stores nothing: its diagnostic names it, at the override', async () => {
    const s = open();
    const text = scenario(1, ', guest: {iommu-dma: lazzy}');
    const r = await s.call('startRun', { text, file: 'widths.yaml' });
    expect(r.runId).toBeNull();
    expect(r.diagnostics.map((d) => `${d.line}:${d.column}: ${d.message}`)).toEqual([`${text.split('\n').findIndex((l) => l.includes('lazzy')) + 1}:${text.split('\n').find((l) => l.includes('lazzy'))!.indexOf('lazzy') + 1}: variant "aw-32": guest.iommu-dma: expected one of strict, lazy; got the string "lazzy"`]);
    expect(await s.call('listRuns', {})).toEqual([]);
  });

  it('a scenario without variants has no variantRunIds and no variant record', async () => {
    const s = open();
    const text = scenario().replace(/variants:[\s\S]*$/, '').replace(/ {4}expect-in: .*\n/, '');
    const r = await s.call('startRun', { text, file: 'plain.yaml' });
    expect(r).toEqual({ runId: expect.any(Number), diagnostics: [] });
    await waitForRun(s, r.runId!);
    const run = await s.call('getRun', { runId: r.runId! });
    expect(run!.variant ?? null).toBeNull();
    expect(run!.scenarioText).toBe(text);
  }, 30_000);

  it('cancelling any run of the group cancels the running one and the waiting ones (never started, no events)', async () => {
    const s = open();
    const finished: Notifications['runFinished'][] = [];
    s.listen('runFinished', (f) => finished.push(f));
    // A long workload: the first variant is still running when the cancel comes.
    const started = await s.call('startRun', { text: scenario(5_000_000), file: 'widths.yaml' });
    if (started.runId === null) throw new Error('not started');
    const ids = started.variantRunIds!;
    await new Promise<void>((resolve) => {
      const off = s.listen('runProgress', (p) => {
        if (p.runId === ids[0] && p.events > 0) {
          off();
          resolve();
        }
      });
    });
    // Cancelled through a waiting variant's id: the whole group stops.
    expect(await s.call('cancelRun', { runId: ids[2] })).toEqual({ cancelled: true });
    for (const id of ids) await waitForRun(s, id);
    const runs = await Promise.all(ids.map((runId) => s.call('getRun', { runId })));
    expect(runs.map((r) => r!.status)).toEqual(['cancelled', 'cancelled', 'cancelled']);
    expect(runs[0]!.events).toBeGreaterThan(0);
    expect(runs.slice(1).map((r) => [r!.events, r!.error])).toEqual([
      [0, `cancelled before it started: the runs of this scenario's variants were cancelled (run ${ids[2]})`],
      [0, `cancelled before it started: the runs of this scenario's variants were cancelled (run ${ids[2]})`],
    ]);
    expect(finished.map((f) => [f.runId, f.status]).sort()).toEqual(ids.map((id) => [id, 'cancelled']).sort());
    // Nothing of the group is left to cancel.
    expect(await s.call('cancelRun', { runId: ids[1] })).toEqual({ cancelled: false });
  }, 60_000);

  it('closing the lab marks the waiting variants cancelled', async () => {
    const s = open();
    const started = await s.call('startRun', { text: scenario(5_000_000), file: 'widths.yaml' });
    if (started.runId === null) throw new Error('not started');
    const ids = started.variantRunIds!;
    await s.close();
    const again = open();
    const runs = await Promise.all(ids.map((runId) => again.call('getRun', { runId })));
    expect(runs.map((r) => r!.status)).toEqual(['cancelled', 'cancelled', 'cancelled']);
    expect(runs.slice(1).map((r) => r!.error)).toEqual(['cancelled before it started: the lab closed', 'cancelled before it started: the lab closed']);
  }, 60_000);
});
