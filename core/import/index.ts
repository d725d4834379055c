/**
 * The trace importers (issue 9 §1), one per format family: `createImporters()` gives a fresh set
 * (importers may hold per-file state) for the import driver (driver.ts).
 */
import { FtraceImporter } from './ftrace.ts';
import { KmsgImporter } from './kmsg.ts';
import { QemuTraceImporter } from './qemu.ts';
import type { Importer } from './types.ts';

export { ImportDriver, ImportError, type ImportStats } from './driver.ts';
export { TRACE_FORMATS, type Importer, type TraceEvent, type TraceFormat } from './types.ts';

/** A fresh importer of each format (ftrace, kmsg, qemu). */
export function createImporters(): Importer[] {
  return [new FtraceImporter(), new KmsgImporter(), new QemuTraceImporter()];
}
