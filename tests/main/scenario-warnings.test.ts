// A scenario with a warning (a PCI address no device declares) runs, and the warning is not lost:
// startRun returns it with the run id, and `iommu-lab run` prints it as file:line:column.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LabService } from '../../main/service/lab-service.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const SCENARIO = `name: undeclared endpoint
viommu: {model: virtio-iommu}
devices:
  - {name: nic0, bdf: "00:03.0"}
steps:
  - attach: {domain: 1, endpoint: "00:04.0"}
    expect: NOENT
`;
const WARNING = 'steps.0.attach.endpoint: no device has PCI address 00:04.0';

describe('scenario warnings reach the user and do not stop the run', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'iommu-lab-warn-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('startRun starts the run and returns the warning', async () => {
    const service = new LabService({ dbPath: join(dir, 'service.db'), examplesDir: join(ROOT, 'examples') });
    try {
      const finished = new Promise<string>((done) => service.listen('runFinished', (p) => done(p.status)));
      const started = await service.call('startRun', { text: SCENARIO, file: 'w.yaml' });
      expect(started.runId).not.toBeNull();
      expect(started.diagnostics).toMatchObject([{ severity: 'warning', file: 'w.yaml', line: 6, column: 35, path: 'steps.0.attach.endpoint' }]);
      expect(started.diagnostics[0].message).toContain(WARNING);
      expect(await finished).toBe('done');
      const run = await service.call('getRun', { runId: started.runId! });
      expect(run!.stepResults[0]).toMatchObject({ status: 'NOENT', expectation: true });
    } finally {
      await service.close();
    }
  });

  it('iommu-lab run prints it as file:line:column: warning: and exits 0', () => {
    const file = join(dir, 'w.yaml');
    writeFileSync(file, SCENARIO);
    const r = spawnSync(process.execPath, [join(ROOT, 'main/cli/iommu-lab.js'), 'run', 'w.yaml', '--db', join(dir, 'cli.db')], { cwd: dir, encoding: 'utf8' });
    expect(r.stderr).toContain(`w.yaml:6:35: warning: ${WARNING}`);
    expect(r.status).toBe(0);
  });
});
