/**
 * `iommu-lab import` (main/cli/import.ts) through the real binary: the --json document the issue
 * specifies, unknown lines by number, malformed lines refused with `file:line: message` and exit 2
 * (nothing stored) unless --partial, a forced format, an unreadable file; then `runs`, `events` and
 * `show` of the stored trace.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GUEST_LATE_DMA_FTRACE_LINES, QEMU_REPLAY_LOG_LINES } from '../support/traces.ts';
import { runCli, type CliResult } from '../support/cli.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
let dir: string;
let db: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommu-lab-cli-import-'));
  db = path.join(dir, 'lab.db');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const cli = (args: string[]): CliResult => runCli(args, db, dir);
function file(name: string, text: string): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, text);
  return f;
}

// Lines written from the TP_printk strings of include/trace/events/iommu.h (reference A1) in the
// `trace` layout: comm-pid [cpu] flags timestamp: event: body.
const FTRACE = [
  '# tracer: nop',
  '#',
  '  qemu-kvm-4321    [002] .....  5012.000100: map: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 paddr=0x0000000123456000 size=4096',
  '  qemu-kvm-4321    [002] .....  5012.000200: unmap: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 size=4096 unmapped_size=4096',
  'this line is not a trace line',
  '  kworker/2:1-88   [002] d.h1.  5012.000300: io_page_fault: IOMMU:AMD-Vi 0000:3b:00.0 iova=0x00000000fffff000 flags=0x0001',
  '',
].join('\n');

describe('iommu-lab import', () => {
  it('imports an ftrace file: the --json document, then runs / events / show of the trace', () => {
    const r = cli(['import', file('host.trace', FTRACE), '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ trace: 1, format: 'ftrace', lines: 6, events: 3, byKind: { 'trace-map': 1, 'trace-unmap': 1, 'trace-fault': 1 }, unknown: { count: 1, lines: [5] }, errors: [], refused: null });
    expect(j.sha256).toMatch(/^[0-9a-f]{64}$/);
    const runs = cli(['runs']);
    expect(runs.stdout).toMatch(/1\s+done\s+.*\s3\s+-\s+host\.trace\s+ftrace trace, 6 lines/);
    const ev = cli(['events', '1']);
    expect(ev.stdout.split('\n').slice(0, 4)).toEqual([
      'seq  line     event',
      '  0     3     TRACE MAP 0xfffff000 +4096 (0x1000) -> 0x123456000 [iommu:map]',
      '  1     4     TRACE UNMAP 0xfffff000 +4096 (0x1000) unmapped 4096 [iommu:unmap]',
      '  2     6  !  TRACE FAULT 0000:3b:00.0 write 0xfffff000 [iommu:io_page_fault]',
    ]);
    const show = cli(['show', '1']);
    expect(show.stdout).toContain('format        ftrace');
    expect(show.stdout).toContain('lines         6: 3 events, 2 headers, 0 ignored, 1 unknown, 0 errors');
    expect(show.stdout).toContain('unknown lines 5');
  });

  it('refuses malformed lines of known events (file:line: message, exit 2, nothing stored) unless --partial', () => {
    const bad = file('bad.trace', FTRACE + '  qemu-kvm-4321    [002] .....  5012.000400: map: IOMMU: iova=0xzz paddr=0x1 size=4096\n');
    const r = cli(['import', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:7: .*map`, 'm'));
    expect(r.stderr).toMatch(/nothing stored/);
    expect(cli(['runs', '--json']).stdout).not.toContain('bad.trace');
    const p = cli(['import', bad, '--partial', '--json']);
    expect(p.code).toBe(0);
    expect(JSON.parse(p.stdout)).toMatchObject({ events: 3, errorCount: 1, partial: true, errors: [{ line: 7 }] });
  });

  it('says why when the file cannot be read, the format cannot be told, or the format is not one it knows', () => {
    expect(cli(['import', path.join(dir, 'missing.trace')])).toMatchObject({ code: 2, stderr: expect.stringContaining('no such file') });
    const r = cli(['import', file('prose.txt', 'Dear list,\nplease find attached\n')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot tell the trace format.*use --format/);
    expect(cli(['import', file('x.trace', FTRACE), '--format', 'pcap']).stderr).toMatch(/Allowed choices are ftrace, kmsg, qemu/);
    // Forced to the kernel-log importer, the ftrace lines are unknown lines, listed by number.
    const forced = JSON.parse(cli(['import', file('y.trace', FTRACE), '--format', 'kmsg', '--json']).stdout);
    expect(forced).toMatchObject({ format: 'kmsg', events: 0, detected: { forced: true } });
    expect(forced.unknown.lines).toEqual([1, 2, 3, 4, 5, 6]);
  });
});

describe('iommu-lab replay', () => {
  // A QEMU -trace log: an access translated, then one after the UNMAP faulted (tests/support/traces.ts).
  const LOG = [...QEMU_REPLAY_LOG_LINES, ''].join('\n');
  const scenario = (name: string, viommu: string) => file(`${name}.yaml`, `name: ${name}\nmachine: q35\nviommu: ${viommu}\ndevices:\n  - {name: nic0, bdf: "00:03.0"}\nsteps:\n  - read-config: {}\n`);

  it('replays a stored trace against two configurations: requests, faults, and the divergence from the trace', () => {
    const imported = JSON.parse(cli(['import', file('replay-qemu.log', LOG), '--json']).stdout);
    const a = scenario('qemu64', '{model: virtio-iommu, conformance: qemu, aw-bits: 64}');
    const b = scenario('spec39', '{model: virtio-iommu, conformance: spec, aw-bits: 39}');
    const r = cli(['replay', String(imported.trace), '--against', a, b, '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ steps: 5, byOp: { attach: 1, map: 1, dma: 2, unmap: 1 }, notDerived: [{ event: 'iommufd_backend_map_dma', count: 1, firstLine: 3 }] });
    expect(j.configurations.map((c: { name: string; status: string; faults: number; divergenceCount: number }) => [c.name, c.status, c.faults, c.divergenceCount])).toEqual([
      ['qemu64 ← replay-qemu.log', 'done', 1, 0],
      ['spec39 ← replay-qemu.log', 'done', 2, 1],
    ]);
    expect(j.configurations[1].divergences[0]).toEqual({ step: 2, traceLine: 4, trace: null, replay: 'FAULT MAPPING ep=00:03.0 addr=0x8000000010 flags=ADDRESS' });
    // Each replay is a stored run, listed with the others.
    const ids = j.configurations.map((c: { run: number }) => c.run);
    const runs = JSON.parse(cli(['runs', '--json']).stdout) as { id: number; replay?: { trace: { runId: number } } }[];
    expect(ids.map((id: number) => runs.find((x) => x.id === id)?.replay?.trace.runId)).toEqual([imported.trace, imported.trace]);
    // In memory on the worker pool (--no-store): the same results, nothing stored.
    const mem = JSON.parse(cli(['replay', String(imported.trace), '--against', a, b, '--no-store', '--json']).stdout);
    expect(mem.configurations.map((c: { run: null; faults: number; divergenceCount: number }) => [c.run, c.faults, c.divergenceCount])).toEqual([
      [null, 1, 0],
      [null, 2, 1],
    ]);
    expect(JSON.parse(cli(['runs', '--json']).stdout)).toHaveLength(runs.length);
    const text = cli(['replay', String(imported.trace), '--against', a, b]).stdout;
    expect(text).toContain('  first        step 2 (trace line 4)\n               trace:  translated\n               replay: FAULT MAPPING ep=00:03.0 addr=0x8000000010 flags=ADDRESS\n');
    expect(text).toMatch(/ {15}iommu-lab events \d+ --offset \d+ --limit 20/);
    expect(text).toMatch(/replays compared: the rows that differ[\s\S]*iommu-lab compare \d+ \d+/);
  });

  it('a scenario with variants is one configuration per variant: the late-DMA trace against examples/variants-strict-lazy.yaml', () => {
    const imported = JSON.parse(cli(['import', file('late.trace', GUEST_LATE_DMA_FTRACE_LINES.join('\n') + '\n'), '--json']).stdout);
    const example = path.join(ROOT, 'examples/variants-strict-lazy.yaml');
    const r = cli(['replay', String(imported.trace), '--against', example, '--no-store', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.configurations.map((c: { file: string; faults: number; divergenceCount: number }) => [path.basename(c.file), c.faults, c.divergenceCount])).toEqual([
      ['variants-strict-lazy.yaml [strict]', 1, 0],
      ['variants-strict-lazy.yaml [lazy]', 0, 1],
    ]);
  });

  it('says, per configuration, which of the trace\'s devices it lacks and how many calls were not replayed (stored and in memory)', () => {
    const imported = JSON.parse(cli(['import', file('late2.trace', GUEST_LATE_DMA_FTRACE_LINES.join('\n') + '\n'), '--json']).stdout);
    // The trace's device is 0000:00:03.0; this configuration has one at 00:05.0 only.
    const other = file('other.yaml', 'name: other\nmachine: q35\nviommu: {model: virtio-iommu}\nguest: {iommu-dma: strict}\ndevices:\n  - {name: nic9, bdf: "00:05.0"}\nsteps:\n  - read-config: {}\n');
    for (const extra of [[], ['--no-store']]) {
      const text = cli(['replay', String(imported.trace), '--against', other, ...extra]);
      expect(text.code).toBe(0);
      expect(text.stdout).toMatch(/ {2}not replayed calls of 00:03\.0 ×3 \(first at line 3\): no device at 00:03\.0 in .*other\.yaml: its DMA API calls and accesses are not replayed\n/);
      expect(text.stdout).toContain('  divergences  0 (every access replayed faulted or translated as in the trace)');
      const j = JSON.parse(cli(['replay', String(imported.trace), '--against', other, ...extra, '--json']).stdout);
      expect(j.configurations[0].unbound).toEqual([{ event: 'calls of 00:03.0', count: 3, firstLine: 3, why: expect.stringContaining('no device at 00:03.0') }]);
    }
    // The trace's steps are counted from the configuration that has its devices; with none, the
    // report says whose replayed steps it counts.
    const withNic = path.join(ROOT, 'examples/seed-6-strict.yaml');
    const both = JSON.parse(cli(['replay', String(imported.trace), '--against', other, withNic, '--json']).stdout);
    expect(both).toMatchObject({ steps: 5, byOp: { 'dma-map': 1, 'dma-unmap': 1, wait: 2, dma: 1 } });
    expect(both.countedAgainst).toBeUndefined();
    const alone = cli(['replay', String(imported.trace), '--against', other]).stdout;
    expect(alone).toMatch(/: 2 steps replayed \(wait 2\)\n {2}counted: the steps replayed against .*other\.yaml \(no configuration has every device of the trace\)\n/);
  });

  it('refuses a run that is not a trace, a missing trace, and an invalid scenario (file:line:column)', () => {
    const scen = scenario('plain', '{model: virtio-iommu}');
    const run = JSON.parse(cli(['run', scen, '--json']).stdout);
    expect(cli(['replay', String(run.runId), '--against', scen])).toMatchObject({ code: 2, stderr: expect.stringContaining('is not an imported trace') });
    expect(cli(['replay', '999', '--against', scen])).toMatchObject({ code: 2, stderr: expect.stringContaining('no run 999') });
    const imported = JSON.parse(cli(['import', file('replay-qemu2.log', LOG), '--json']).stdout);
    const bad = file('bad.yaml', 'name: x\nmachine: pdp11\nsteps: []\n');
    const r = cli(['replay', String(imported.trace), '--against', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bad\.yaml:2:\d+: /);
  });
});
