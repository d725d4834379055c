/**
 * The text of a trace file read in byte chunks, for the import driver (core/import/driver.ts
 * ImportDriver.push). A trace is ASCII in practice: an ASCII chunk is taken as Latin-1 (a copy of
 * its bytes, no UTF-8 decoding) and its bytes are handed over as the text's code units, so the
 * importer parses them without encoding the text again. The first chunk with another byte switches
 * to UTF-8 decoding (StringDecoder: a character split between chunks stays whole) for the rest of
 * the file.
 */
import { isAscii } from 'node:buffer';
import { StringDecoder } from 'node:string_decoder';

/** One chunk's text, and its code units when it was ASCII (`codes[i] === text.charCodeAt(i)`). */
export interface ChunkText {
  text: string;
  /** The chunk's bytes themselves: valid until the caller reuses its buffer. */
  codes?: Uint8Array;
}

/** Decodes a file's chunks in order (see the module comment). */
export class ChunkTextDecoder {
  private utf8: StringDecoder | null = null;

  /** The text of the next chunk (`bytes` is not copied: read `codes` before reusing it). */
  write(bytes: Uint8Array): ChunkText {
    if (this.utf8 === null && isAscii(bytes)) return { text: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1'), codes: bytes };
    this.utf8 ??= new StringDecoder('utf8');
    return { text: this.utf8.write(bytes) };
  }

  /** What the UTF-8 decoder still holds at the end of the file (an incomplete character: U+FFFD), else ''. */
  end(): string {
    return this.utf8 === null ? '' : this.utf8.end();
  }
}
