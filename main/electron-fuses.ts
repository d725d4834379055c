/**
 * Electron fuses (https://www.electronjs.org/docs/latest/tutorial/fuses): switches compiled into
 * the Electron binary that the security checklist (§ "Flip the fuses") says to set, because a
 * runtime check cannot undo what the binary allows before our code runs. Flipped with
 * @electron/fuses by the build (electron.vite.config.ts, the `electronFuses` plugin) whenever the
 * binary exists; electron's binary is fetched lazily (main/cli/install-electron.js), so on a
 * machine without it the build declares them and flips nothing.
 *
 * Two wires:
 *  - {@link LAB_FUSES}: a packaged app (the app in an asar archive): every fuse the checklist
 *    recommends, including the asar integrity and asar-only loading.
 *  - {@link UNPACKED_FUSES}: the binary `npm start` / `npm run dev` launch from node_modules, which
 *    loads the app from the project folder: the same, except the two asar fuses, which would stop it
 *    from loading at all.
 * No runtime imports electron here (main/README: only index.ts does).
 */
import fs from 'node:fs';
import path from 'node:path';
import { flipFuses, FuseV1Options, FuseVersion, type FuseV1Config } from '@electron/fuses';

/** The fuses of a packaged build (asar), as the security checklist recommends; every fuse named. */
export const LAB_FUSES = {
  version: FuseVersion.V1,
  strictlyRequireAllFuses: true,
  // ELECTRON_RUN_AS_NODE would turn the app into a plain Node that runs any script.
  [FuseV1Options.RunAsNode]: false,
  // Cookies on disk encrypted with the OS keychain.
  [FuseV1Options.EnableCookieEncryption]: true,
  // NODE_OPTIONS / NODE_EXTRA_CA_CERTS could inject code or trust into the main process.
  [FuseV1Options.EnableNodeOptionsEnvironmentVariable]: false,
  // --inspect and friends would open a debugger port into the main process.
  [FuseV1Options.EnableNodeCliInspectArguments]: false,
  // app.asar checked against the hash embedded at packaging time.
  [FuseV1Options.EnableEmbeddedAsarIntegrityValidation]: true,
  // Load the app only from app.asar, so the integrity check cannot be sidestepped with a folder.
  [FuseV1Options.OnlyLoadAppFromAsar]: true,
  // No custom V8 snapshot is shipped.
  [FuseV1Options.LoadBrowserProcessSpecificV8Snapshot]: false,
  // The renderer is served from app://, never file://: file:// gets no extra privileges.
  [FuseV1Options.GrantFileProtocolExtraPrivileges]: false,
  // Electron's default (WebAssembly bounds checks through trap handlers).
  [FuseV1Options.WasmTrapHandlers]: true,
} satisfies FuseV1Config;

/** The fuses of the unpacked binary in node_modules (npm start, npm run dev): no asar there. */
export const UNPACKED_FUSES = {
  ...LAB_FUSES,
  [FuseV1Options.EnableEmbeddedAsarIntegrityValidation]: false,
  [FuseV1Options.OnlyLoadAppFromAsar]: false,
} satisfies FuseV1Config;

/**
 * Path of the Electron binary electron's installer put in `electronDir` (node_modules/electron:
 * `dist/` + the relative path in `path.txt`), or null when it is not installed. Read directly:
 * `require('electron')` would start the lazy download.
 */
export function installedElectronBinary(electronDir: string): string | null {
  try {
    const binary = path.join(electronDir, 'dist', fs.readFileSync(path.join(electronDir, 'path.txt'), 'utf8').trim());
    return fs.existsSync(binary) ? binary : null;
  } catch {
    return null;
  }
}

/**
 * Flips {@link UNPACKED_FUSES} into the installed binary in `electronDir`, if there is one.
 * Returns the binary's path, or null when Electron is not installed (nothing to flip yet).
 * Errors: @electron/fuses' errors for a binary without a fuse wire or of another wire version.
 */
export async function flipUnpackedFuses(electronDir: string): Promise<string | null> {
  const binary = installedElectronBinary(electronDir);
  if (binary === null) return null;
  await flipFuses(binary, UNPACKED_FUSES);
  return binary;
}
