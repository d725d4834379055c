/**
 * Finds and launches the headless browser the end-to-end tests drive (playwright-core, no browser
 * download). Order, first that exists wins:
 *   1. `CHROME_PATH` (must name an existing executable file; a wrong path is an error, not a fallback);
 *   2. a system Chromium or Chrome on the usual paths;
 *   3. the Chromium binary shipped inside the npm package `@sparticuz/chromium` (a devDependency:
 *      unpacked into the temp folder on first use, works offline), with its own `args`.
 * No browser at all is a failure that says how to fix it, never a silent skip.
 */
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** Usual system locations (Debian/Ubuntu, Fedora, Arch, snap, Google Chrome, macOS). */
export const SYSTEM_BROWSERS = [
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/lib/chromium/chromium',
  '/snap/bin/chromium',
  '/usr/bin/google-chrome-stable',
  '/usr/bin/google-chrome',
  '/opt/google/chrome/chrome',
  '/Applications/Chromium.app/Contents/MacOS/Chromium',
  '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
];

/** Where the browser came from, its executable and the extra arguments it needs. */
export interface BrowserChoice {
  source: 'CHROME_PATH' | 'system' | '@sparticuz/chromium';
  executablePath: string;
  args: string[];
}

const COMMON_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];

function isExecutable(p: string): boolean {
  try {
    if (!statSync(p).isFile()) return false;
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Chooses the browser (see the module comment). Throws an Error whose message says what is missing
 * and how to fix it when CHROME_PATH is wrong or no browser can be found.
 */
export async function findBrowser(env: NodeJS.ProcessEnv = process.env, candidates: readonly string[] = SYSTEM_BROWSERS): Promise<BrowserChoice> {
  const fromEnv = env.CHROME_PATH?.trim();
  if (fromEnv) {
    if (!isExecutable(fromEnv)) {
      throw new Error(`CHROME_PATH=${fromEnv} is not an executable file: point it at a Chromium or Chrome binary, or unset it to use a system browser or the @sparticuz/chromium devDependency.`);
    }
    return { source: 'CHROME_PATH', executablePath: fromEnv, args: COMMON_ARGS };
  }
  const system = candidates.find((p) => existsSync(p) && isExecutable(p));
  if (system) return { source: 'system', executablePath: system, args: COMMON_ARGS };
  let sparticuz: { executablePath(): Promise<string>; args: string[] };
  try {
    sparticuz = (await import('@sparticuz/chromium')).default;
  } catch (e) {
    throw new Error(
      `No browser for the end-to-end tests: CHROME_PATH is unset, no system Chromium/Chrome was found (${candidates.join(', ')}), ` +
        `and the @sparticuz/chromium devDependency could not be loaded (${(e as Error).message}). Run \`npm install\`, or set CHROME_PATH to a Chromium binary.`,
      { cause: e },
    );
  }
  let executablePath: string;
  try {
    executablePath = await sparticuz.executablePath();
  } catch (e) {
    throw new Error(`@sparticuz/chromium could not unpack its Chromium binary (${(e as Error).message}). Set CHROME_PATH to a Chromium binary, or install one (e.g. Debian's \`chromium\`).`, { cause: e });
  }
  // Its own args (they include --headless='shell' and the flags its build needs), less the two that
  // switch off web security: the tests check the page's CSP and serve's Origin rule as a user's browser applies them.
  const args = sparticuz.args.filter((a) => !a.startsWith('--window-size') && a !== '--disable-web-security' && a !== '--allow-running-insecure-content');
  return { source: '@sparticuz/chromium', executablePath, args };
}

/** Launches the chosen browser headless. Throws findBrowser's errors, or playwright's with the path tried. */
export async function launchBrowser(): Promise<Browser> {
  const choice = await findBrowser();
  try {
    return await chromium.launch({ executablePath: choice.executablePath, args: choice.args, headless: true });
  } catch (e) {
    throw new Error(`Could not start the browser ${choice.executablePath} (from ${choice.source}): ${(e as Error).message}`, { cause: e });
  }
}
