/**
 * Where the lab database lives by default.
 */
import os from 'node:os';
import path from 'node:path';

/**
 * Default database path: $IOMMU_LAB_DB when set, else `lab.db` in the user's data directory:
 * Linux `$XDG_DATA_HOME/iommu-lab/lab.db` (default `~/.local/share/iommu-lab/lab.db`), macOS
 * `~/Library/Application Support/iommu-lab/lab.db`, Windows `%APPDATA%/iommu-lab/lab.db`.
 * `env` and `platform` are parameters for tests. The directory is not created here (LabStore does).
 */
export function defaultDbPath(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  if (env.IOMMU_LAB_DB) return path.resolve(env.IOMMU_LAB_DB);
  return path.join(userDataDir(env, platform), 'iommu-lab', 'lab.db');
}

/** The per-user application data directory of the platform (without the app folder). */
export function userDataDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  const home = env.HOME || env.USERPROFILE || os.homedir();
  if (platform === 'win32') return env.APPDATA || path.join(home, 'AppData', 'Roaming');
  if (platform === 'darwin') return path.join(home, 'Library', 'Application Support');
  return env.XDG_DATA_HOME && path.isAbsolute(env.XDG_DATA_HOME) ? env.XDG_DATA_HOME : path.join(home, '.local', 'share');
}
