/**
 * The kernel log importer through the import driver (core/import/driver.ts): detection against
 * the QEMU importer, lines held across lines (AMD-Vi split, SMMUv3 raw dump) streamed in small
 * chunks, a wrapped DMAR line rejoined, and every unknown line counted by number.
 * Lines written from the format strings of ../../../../shared/reference/trace-formats-and-guest-dma.md A1b.
 */
import { describe, expect, it } from 'vitest';
import { ImportDriver } from '../../../core/import/driver.ts';
import { KmsgImporter } from '../../../core/import/kmsg.ts';
import { QemuTraceImporter } from '../../../core/import/qemu.ts';
import type { TraceEvent } from '../../../core/import/types.ts';

const LOG = [
  '[    0.000000] Linux version 6.8.0-45-generic (buildd@lcy02-amd64-115) #45-Ubuntu SMP', // 1 unknown
  '[    0.145769] DMAR: dmar0: reg_base_addr fed90000 ver 1:0 cap 12008c22260286 ecap f00f5a', // 2 note
  '[    0.900000] pci 0000:00:01.0: Adding to iommu group 0', // 3 group
  '[    6.849292] ice 0000:00:05.0: Using 64-bit DMA addresses', // 4 note
  '[   12.000000] DMAR: DRHD: handling fault status reg 2', // 5 note
  // 6–7: one DMAR fault line a mail client wrapped at a space (joined with a space, it parses; without, not)
  '[   12.000001] DMAR: [DMA Write NO_PASID] Request device [0000:3b:00.0] fault addr 0xfee00000 [fault',
  'reason 0x05] PTE Write access is not set',
  '[   13.000000] AMD-Vi: Event logged [', // 8 header (held)
  '[   13.000001] IO_PAGE_FAULT device=00:14.0 domain=0x000e address=0x000000000000c040 flags=0x0050]', // 9 fault
  '[   14.000000] arm-smmu-v3 arm-smmu-v3.0.auto: event 0x10 received:', // 10–13 headers
  '[   14.000000] arm-smmu-v3 arm-smmu-v3.0.auto: \t0x0000000800000010',
  '[   14.000000] arm-smmu-v3 arm-smmu-v3.0.auto: \t0x0000000800000000',
  '[   14.000000] arm-smmu-v3 arm-smmu-v3.0.auto: \t0x00000000deadb000',
  '[   14.000000] arm-smmu-v3 arm-smmu-v3.0.auto: \t0x0000000000000000', // 14 fault
  '[   15.000000] usb 1-1: new high-speed USB device number 2 using xhci_hcd', // 15 unknown
  '[   16.000000] DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0xzz [fault reason 0x06] PTE Read access is not set', // 16 error
  '',
].join('\n');

function run(text: string, chunk: number) {
  const d = new ImportDriver([new KmsgImporter(), new QemuTraceImporter()]);
  const events: [number, TraceEvent][] = [];
  const on = (e: TraceEvent, line: number): void => {
    events.push([line, e]);
  };
  for (let i = 0; i < text.length; i += chunk) d.push(text.slice(i, i + chunk), on);
  return { stats: d.end(on), events };
}

describe('kmsg through the import driver', () => {
  for (const chunk of [5, 64, 1 << 20]) {
    it(`detects kmsg and accounts for every line (chunks of ${chunk} chars)`, () => {
      const { stats, events } = run(LOG, chunk);
      expect(stats.format).toBe('kmsg');
      expect(stats.detected.scores.kmsg).toBeGreaterThan(stats.detected.scores.qemu ?? 0);
      expect(events.map(([line, e]) => [line, e.kind])).toEqual([
        [2, 'trace-note'],
        [3, 'trace-group'],
        [4, 'trace-note'],
        [5, 'trace-note'],
        [6, 'trace-fault'],
        [9, 'trace-fault'],
        [14, 'trace-fault'],
      ]);
      expect(stats.rejoined).toBe(1);
      expect(events[4]![1].data).toMatchObject({ event: 'DMAR', reasonText: 'PTE Write access is not set' });
      expect(events[5]![1]).toMatchObject({ time: 13_000_000_000, address: 0xc040n, domain: 0xe });
      expect(events[6]![1]).toMatchObject({ time: 14_000_000_000, address: 0xdeadb000n, reason: 0x10 });
      expect(stats.unknown).toEqual({ count: 2, lines: [1, 15] });
      expect(stats.errors.count).toBe(1);
      expect(stats.errors.list[0]!.line).toBe(16);
      expect(stats.errors.list[0]!.message).toContain('DMAR: expected');
      expect(stats.headers).toBe(5); // the AMD-Vi first half, the SMMU header and its first three words
      expect(stats.lines).toBe(16);
    });
  }
});
