/** Test events built from the catalog (core/events/catalog.ts), for store and view tests. */
import { EVENT_CATALOG, type EventKind, type FieldSpec, type KindSpec } from '../../core/events/catalog.ts';
import type { SeqEvent } from '../../core/events/sink.ts';

/** An event of `kind` with every required field neutral (0, 0n, {}), then `over`; the writer assigns `seq`. */
export function neutralEvent(kind: EventKind, component: string, over: Record<string, unknown> = {}): Omit<SeqEvent, 'seq'> {
  const out: Record<string, unknown> = { kind, step: 0, component };
  for (const [name, f] of Object.entries((EVENT_CATALOG[kind] as KindSpec).fields) as [string, FieldSpec][]) {
    if (!f.optional) out[name] = f.type === 'u64' ? 0n : f.type === 'json' ? {} : 0;
  }
  return { ...out, ...over } as unknown as Omit<SeqEvent, 'seq'>;
}
