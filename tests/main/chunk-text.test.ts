/**
 * A trace file's chunks as the import reads them (main/store/chunk-text.ts): ASCII chunks as
 * Latin-1 text with their bytes as code units, UTF-8 from the first other byte on (a character
 * split between chunks stays whole), and the import driver parses either to the same events as
 * the whole text at once.
 */
import { describe, expect, it } from 'vitest';
import { ImportDriver, createImporters } from '../../core/import/index.ts';
import type { TraceEvent } from '../../core/import/types.ts';
import { ChunkTextDecoder } from '../../main/store/chunk-text.ts';

const bytes = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));

describe('ChunkTextDecoder', () => {
  it('gives an ASCII chunk as text with its bytes as code units', () => {
    const b = bytes('map: IOMMU: iova=0x1000\n');
    const c = new ChunkTextDecoder().write(b);
    expect(c.text).toBe('map: IOMMU: iova=0x1000\n');
    expect(c.codes).toBe(b);
    expect([...c.codes!].every((u, i) => u === c.text.charCodeAt(i))).toBe(true);
  });

  it('decodes UTF-8 from the first chunk with another byte on, a character split between chunks whole, and no code units', () => {
    const d = new ChunkTextDecoder();
    const all = bytes('a-1 [000] x: ü\nplain\n');
    const cut = all.indexOf(0xc3) + 1; // inside "ü" (c3 bc)
    const first = d.write(all.subarray(0, cut));
    const second = d.write(all.subarray(cut));
    const third = d.write(bytes('ascii again\n'));
    expect(first.text + second.text + third.text + d.end()).toBe('a-1 [000] x: ü\nplain\nascii again\n');
    expect([first.codes, second.codes, third.codes]).toEqual([undefined, undefined, undefined]);
  });

  it('ends with U+FFFD for a file cut inside a character, and with nothing for an ASCII file', () => {
    const d = new ChunkTextDecoder();
    expect(d.write(new Uint8Array([0x61, 0xc3])).text).toBe('a');
    expect(d.end()).toBe('\ufffd');
    const a = new ChunkTextDecoder();
    a.write(bytes('abc'));
    expect(a.end()).toBe('');
  });
});

describe('the import driver on decoded chunks', () => {
  const line = (i: number, comm: string) => `     ${comm}-${15 + i}     [000] ..s1. 100.${String(i).padStart(6, '0')}: dma_map_phys: 0000:3b:00.0 dir=FROM_DEVICE dma_addr=${(0xfffff000 - i * 0x1000).toString(16)} size=4096 phys_addr=1${i.toString(16)}000 attrs=\n`;
  const trace = ['# tracer: nop\n#\n', ...Array.from({ length: 40 }, (_, i) => line(i, i === 20 ? 'kwörker/0' : 'ksoftirqd/0'))].join('');

  /** Events of `text` pushed in chunks of `size` bytes through the decoder, or as one string. */
  const eventsOf = (size: number | null): TraceEvent[] => {
    const d = new ImportDriver(createImporters());
    const out: TraceEvent[] = [];
    const on = (e: TraceEvent) => out.push(e);
    if (size === null) d.push(trace, on);
    else {
      const dec = new ChunkTextDecoder();
      const all = bytes(trace);
      for (let i = 0; i < all.length; i += size) {
        const c = dec.write(all.slice(i, i + size));
        d.push(c.text, on, c.codes);
      }
      d.push(dec.end(), on);
    }
    const s = d.end(on);
    expect([s.format, s.errors.count, s.unknown.count]).toEqual(['ftrace', 0, 0]);
    return out;
  };

  it('parses ASCII and UTF-8 chunks, cut anywhere, to the events of the whole text', () => {
    const whole = eventsOf(null);
    expect(whole).toHaveLength(40);
    expect(whole.filter((e) => JSON.stringify(e, (_k, v) => (typeof v === 'bigint' ? String(v) : v)).includes('kwörker/0'))).toHaveLength(1);
    for (const size of [97, 1000, 1 << 20]) expect(eventsOf(size)).toEqual(whole);
  });
});
