/**
 * The Electron fuses (main/electron-fuses.ts, flipped by electron.vite.config.ts's electronFuses
 * plugin): the declaration follows the security checklist, and the plugin flips them into an
 * installed binary's fuse wire. The real binary is not downloadable on the project's machines, so a
 * stand-in file carries the fuse wire exactly as Electron lays it out (sentinel, version 1, length,
 * one '0'/'1' byte per fuse).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FuseState, FuseV1Options, getCurrentFuseWire } from '@electron/fuses';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import config, { electronFuses } from '../../electron.vite.config.ts';
import { flipUnpackedFuses, LAB_FUSES, UNPACKED_FUSES } from '../../main/electron-fuses.ts';

const SENTINEL = 'dL7pKGdnNz796PbbjQWNKmHXBZaB9tsX';
const FUSE_COUNT = 9;

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommu-lab-fuses-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** An "installed" electron package whose binary has every fuse in Electron's default state. */
function fakeElectron(): string {
  fs.mkdirSync(path.join(dir, 'dist'));
  fs.writeFileSync(path.join(dir, 'path.txt'), 'electron');
  const defaults = '101110001'; // RunAsNode on, cookie encryption off, NODE_OPTIONS on, inspect on, …
  fs.writeFileSync(path.join(dir, 'dist', 'electron'), Buffer.concat([Buffer.alloc(64, 0xcc), Buffer.from(SENTINEL), Buffer.from([1, FUSE_COUNT]), Buffer.from(defaults), Buffer.alloc(64, 0xcc)]));
  return path.join(dir, 'dist', 'electron');
}

describe('Electron fuses', () => {
  it('declare every fuse as the security checklist recommends', () => {
    expect(LAB_FUSES.strictlyRequireAllFuses).toBe(true);
    expect(LAB_FUSES[FuseV1Options.RunAsNode]).toBe(false);
    expect(LAB_FUSES[FuseV1Options.EnableCookieEncryption]).toBe(true);
    expect(LAB_FUSES[FuseV1Options.EnableNodeOptionsEnvironmentVariable]).toBe(false);
    expect(LAB_FUSES[FuseV1Options.EnableNodeCliInspectArguments]).toBe(false);
    expect(LAB_FUSES[FuseV1Options.EnableEmbeddedAsarIntegrityValidation]).toBe(true);
    expect(LAB_FUSES[FuseV1Options.OnlyLoadAppFromAsar]).toBe(true);
    expect(LAB_FUSES[FuseV1Options.GrantFileProtocolExtraPrivileges]).toBe(false);
    // The unpacked binary (npm start) differs only in the two asar fuses.
    expect({ ...UNPACKED_FUSES, [FuseV1Options.EnableEmbeddedAsarIntegrityValidation]: true, [FuseV1Options.OnlyLoadAppFromAsar]: true }).toEqual(LAB_FUSES);
  });

  it('are flipped into an installed binary by the build plugin', async () => {
    const binary = fakeElectron();
    const plugin = electronFuses(dir);
    await (plugin.closeBundle as () => Promise<void>)();
    const wire = await getCurrentFuseWire(binary);
    const on = (o: FuseV1Options) => wire[o] === FuseState.ENABLE;
    expect(on(FuseV1Options.RunAsNode)).toBe(false);
    expect(on(FuseV1Options.EnableCookieEncryption)).toBe(true);
    expect(on(FuseV1Options.EnableNodeOptionsEnvironmentVariable)).toBe(false);
    expect(on(FuseV1Options.EnableNodeCliInspectArguments)).toBe(false);
    expect(on(FuseV1Options.OnlyLoadAppFromAsar)).toBe(false);
    expect(on(FuseV1Options.GrantFileProtocolExtraPrivileges)).toBe(false);
    expect(on(FuseV1Options.WasmTrapHandlers)).toBe(true);
  });

  it('flip nothing while the binary is not installed, and the main build runs the plugin', async () => {
    expect(await flipUnpackedFuses(dir)).toBeNull();
    const main = (config as { main?: { plugins?: { name: string }[] } }).main;
    expect(main?.plugins?.map((p) => p.name)).toContain('iommu-lab:electron-fuses');
  });
});
