/**
 * The contract's importTrace / cancelImport / importProgress (main/service/lab-service.ts): a
 * trace's text through the same streamed, atomic import as the CLI; progress notifications; a
 * cancel stores nothing; one import at a time.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ContractError, type Notifications } from '../../core/contract/index.ts';
import { LabService } from '../../main/service/lab-service.ts';

let dir: string;
let service: LabService;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommu-lab-svc-import-'));
  service = new LabService({ dbPath: path.join(dir, 'lab.db'), examplesDir: dir, warmRunWorker: false });
});
afterEach(async () => {
  await service.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** `n` QEMU -trace lines (virtio_iommu_map, hw/virtio/trace-events), 1 µs apart. */
function qemuLog(n: number): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const iova = 0xfffff000 - (i % 4096) * 0x1000;
    out.push(`7@1733044380.${String(i % 1e6).padStart(6, '0')}:virtio_iommu_map domain=1 virt_start=0x${iova.toString(16)} virt_end=0x${(iova + 0xfff).toString(16)} phys_start=0x40000000 flags=3`);
  }
  return out.join('\n') + '\n';
}

describe('importTrace over the contract', () => {
  it('imports the text, reports progress, and returns the stored trace', async () => {
    const progress: Notifications['importProgress'][] = [];
    service.listen('importProgress', (p) => progress.push(p));
    const text = qemuLog(3000);
    const r = await service.call('importTrace', { name: '/somewhere/qemu.log', text });
    expect(r.refused).toBeNull();
    expect(r.source).toMatchObject({ file: 'qemu.log', format: 'qemu', stats: { lines: 3000, events: 3000, timeOrigin: 1733044380 } });
    expect(progress.at(-1)).toEqual({ name: 'qemu.log', bytes: Buffer.byteLength(text), total: Buffer.byteLength(text), lines: 3000, events: 3000 });
    const runs = await service.call('listRuns', {});
    expect(runs.map((x) => [x.id, x.name, x.events, x.source?.format])).toEqual([[r.runId, 'qemu.log', 3000, 'qemu']]);
    const rows = (await service.call('queryEvents', { runId: r.runId!, offset: 2, limit: 1 })).rows;
    expect(rows.map((x) => [x.line, x.time, x.kind])).toEqual([[3, 2000, 'trace-map']]);
  });

  it('cancelImport stops an import in progress: nothing stored; and one import runs at a time', async () => {
    const text = qemuLog(400_000); // several 1 MiB chunks
    let cancelled: Promise<{ cancelled: boolean }> | null = null;
    service.listen('importProgress', () => {
      cancelled ??= service.call('cancelImport', {});
    });
    const pending = service.call('importTrace', { name: 'big.log', text });
    await expect(service.call('importTrace', { name: 'other.log', text: 'x\n' })).rejects.toThrow(ContractError);
    const r = await pending;
    expect(await cancelled).toEqual({ cancelled: true });
    expect(r).toMatchObject({ runId: null, refused: 'cancelled: nothing stored' });
    expect(await service.call('listRuns', {})).toEqual([]);
    expect(await service.call('cancelImport', {})).toEqual({ cancelled: false });
  });

  it('refuses text no importer recognises, storing nothing', async () => {
    const r = await service.call('importTrace', { name: 'notes.txt', text: 'Dear list,\nplease see the patch.\n' });
    expect(r.runId).toBeNull();
    expect(r.refused).toMatch(/^cannot tell the trace format/);
    expect(await service.call('listRuns', {})).toEqual([]);
  });

  it('gives an imported event its line in the detail, and a fault reason only its printed text (no cross-source name)', async () => {
    const text = [
      '[   42.000010] DMAR: DRHD: handling fault status reg 3',
      '[   42.000020] DMAR: [DMA Write NO_PASID] Request device [3b:00.0] fault addr 0xfffff000 [fault reason 0x05] PTE Write access is not set',
      '',
    ].join('\n');
    const r = await service.call('importTrace', { name: 'dmesg.txt', text });
    const d = (await service.call('getEventDetail', { runId: r.runId!, seq: 1 }))!;
    expect([d.kind, d.line, d.step]).toEqual(['trace-fault', 2, 0]);
    const reason = d.fields.find((f) => f.name === 'reason')!;
    expect(reason.value).toBe('5');
    expect(reason.meaning).toBeUndefined();
    const data = d.fields.find((f) => f.name === 'data')!;
    expect(data.children?.find((c) => c.name === 'reasonText')?.value).toBe('PTE Write access is not set');
  });
});
