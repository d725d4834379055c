/**
 * The CLI's configuration lines for a guest DMA scenario (main/cli/report.ts formatConfig over
 * core/run/config.ts runConfig): the guest policy, the topology and virtio-iommu's host-geometry.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseScenario } from '../../core/scenario/index.ts';
import { runConfig } from '../../core/run/config.ts';
import { formatConfig } from '../../main/cli/report.ts';

const example = (f: string) => {
  const { scenario } = parseScenario(readFileSync(join(__dirname, '..', '..', 'examples', f), 'utf8'), f);
  return runConfig(scenario!);
};

describe('run configuration of guest scenarios', () => {
  it('shows iommu.strict, CPUs, forcedac, the root port without ACS and host-geometry', () => {
    const c = example('seed-3-shared-group.yaml');
    expect(c.guest).toEqual({ iommuDma: 'strict', cpus: 1, forcedac: true, singleFlushQueue: false, hz: 1000 });
    expect(c.hostGeometry).toBe('realize');
    const lines = formatConfig(c);
    expect(lines).toContain('geometry      host-geometry realize');
    expect(lines).toContain('guest         iommu.strict=1 (strict) · 1 CPU · iommu.forcedac=1');
    expect(lines).toContain('topology      rp1 root-port (no ACS), nic1 behind rp1');
  });

  it('says lazy for the distro default and omits what a scenario without a guest does not have', () => {
    expect(formatConfig(example('seed-6-lazy.yaml'))).toContain('guest         iommu.strict=0 (lazy) · 1 CPU');
    const plain = example('quickstart.yaml');
    expect([plain.guest, plain.topology, plain.hostGeometry]).toEqual([undefined, undefined, undefined]);
    expect(formatConfig(plain).some((l) => l.startsWith('guest'))).toBe(false);
  });
});
