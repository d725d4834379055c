/**
 * The CLI on host steps (issue 7 §5): `run --json` and `show --json` carry each step's errno (its
 * name) and outputs (kebab-case uAPI names, u64 as "0x…"); the text report shows the backend, the
 * groups, the errno in the status column and the outputs in the outcome column; problem events
 * (a failed host call) are marked.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

let dir: string;
let dbPath: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommu-lab-cli-host-'));
  dbPath = path.join(dir, 'lab.db');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'main', 'cli', 'iommu-lab.js');
const cli = (...args: string[]) => spawnSync(process.execPath, [bin, ...args, '--db', dbPath], { encoding: 'utf8' });

const SCENARIO = `name: cli host
host:
  iommus:
    - {name: dmar0, model: intel-vtd, aw-bits: 39}
  devices:
    - {name: vf0, bdf: "0000:3b:00.0", type: vfio-pci, iommu: dmar0}
steps:
  - iommufd: {op: ioas-alloc, out: ioas}
  - iommufd: {op: ioas-map, ioas: ioas, length: 0x4000, flags: [readable], out: buf}
    expect: {errno: OK, iova: 0x4000}
  - iommufd: {op: ioas-unmap, ioas: ioas, iova: 0x10000, length: 0x1000}
    expect: ENOENT
  - iommufd: {op: ioas-iova-ranges, ioas: ioas}
`;

describe('iommu-lab run/show on host steps', () => {
  it('--json: per-step errno and outputs; the text report: backend, groups, errno and outputs', () => {
    const file = path.join(dir, 'h.yaml');
    fs.writeFileSync(file, SCENARIO);
    const r = cli('run', file, '--json');
    expect(r.status).toBe(0);
    const doc = JSON.parse(r.stdout) as { steps: { errno?: string; outputs?: Record<string, unknown> }[]; config: { backend?: string; groups?: unknown[] } };
    expect(doc.steps.map((s) => [s.errno, s.outputs])).toEqual([
      ['OK', { 'out-ioas-id': 1 }],
      ['OK', { iova: '0x4000' }],
      ['ENOENT', undefined],
      ['OK', { 'num-iovas': 1, ranges: [['0x0', '0xffffffffffffffff']], 'out-iova-alignment': '0x1' }],
    ]);
    expect(doc.config).toMatchObject({ backend: 'iommufd', kernel: '2025', groups: [{ id: 0, iommu: 'dmar0', members: ['vf0'] }] });
    const shown = JSON.parse(cli('show', '1', '--json').stdout) as { stepResults: { errno?: string; outputs?: unknown }[] };
    expect(shown.stepResults.map((s) => s.errno)).toEqual(['OK', 'OK', 'ENOENT', 'OK']);
    const text = cli('show', '1').stdout;
    expect(text).toContain('host          backend iommufd · kernel 2025');
    expect(text).toContain('groups        0 [vf0] dmar0');
    expect(text).toMatch(/✔\s+1\s+9\s+iommufd\s+OK\s+iova=0x4000/);
    expect(text).toMatch(/✔\s+2\s+11\s+iommufd\s+ENOENT/);
    expect(text).toContain('uapi calls');
    const problems = JSON.parse(cli('events', '1', '--problems', '--json').stdout) as { rows: { kind: string; text: string }[] };
    expect(problems.rows.map((x) => [x.kind, x.text])).toEqual([['host-call', 'IOMMU_IOAS_UNMAP ioas-id=1 iova=0x10000 length=0x1000 → ENOENT']]);
  });
});

describe('a machine that cannot start (a coldplugged device refused)', () => {
  it('the run ends failed with QEMU\'s message, no stack trace, its events kept', () => {
    const file = path.join(dir, 'cold.yaml');
    fs.writeFileSync(
      file,
      `name: cold
host:
  iommus:
    - {name: dmar0, model: intel-vtd, aw-bits: 39}
  devices:
    - {name: vf0, bdf: "0000:3b:00.0", type: vfio-pci, iommu: dmar0}
viommu: {model: intel-iommu, aw-bits: 48, caching-mode: true}
devices:
  - {name: nic0, bdf: "00:03.0", host: vf0}
steps:
  - host-dma: {device: vf0, iova: 0x1000, size: 8, access: read}
`,
    );
    const message = '-device vfio-pci,host=0000:3b:00.0,id=nic0: vfio 0000:3b:00.0: Failed to set vIOMMU: aw-bits 48 > host aw-bits 39';
    const text = cli('run', file);
    expect(text.status, text.stderr).toBe(1);
    expect(text.stdout).toContain(`run FAILED: ${message} (`);
    expect(text.stdout).toContain('\nsteps         none ran\n');
    expect(text.stdout + text.stderr).not.toMatch(/\n\s+at /);
    const json = cli('show', '1', '--json');
    const report = JSON.parse(json.stdout) as { status: string; error: string; events: number; steps: unknown[] };
    expect(report).toMatchObject({ status: 'failed', error: message });
    expect(report.events).toBeGreaterThan(0);
    const events = cli('events', '1', '--problems');
    expect(events.stdout).toMatch(/SET IOMMU DEVICE .* refused: aw-bits 48 > host aw-bits 39/);
  });
});
