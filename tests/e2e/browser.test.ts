// The e2e browser is found in the documented order, and a wrong CHROME_PATH is an error that says
// how to fix it (tests/support/browser.ts).
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findBrowser } from '../support/browser.ts';

describe('findBrowser', () => {
  const dir = mkdtempSync(join(tmpdir(), 'iommu-lab-browser-'));
  const fake = join(dir, 'chromium');
  writeFileSync(fake, '#!/bin/sh\n');
  chmodSync(fake, 0o755);
  const notExec = join(dir, 'plain');
  writeFileSync(notExec, '');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('takes CHROME_PATH first', async () => {
    const c = await findBrowser({ CHROME_PATH: fake }, [notExec]);
    expect(c).toMatchObject({ source: 'CHROME_PATH', executablePath: fake });
  });

  it('refuses a CHROME_PATH that is not an executable file, saying what to do', async () => {
    await expect(findBrowser({ CHROME_PATH: join(dir, 'missing') }, [fake])).rejects.toThrow(/CHROME_PATH=.*missing is not an executable file.*unset it/);
    await expect(findBrowser({ CHROME_PATH: notExec }, [fake])).rejects.toThrow(/not an executable file/);
  });

  it('then a system browser on the usual paths, skipping files that cannot run', async () => {
    const c = await findBrowser({}, [join(dir, 'nope'), notExec, fake]);
    expect(c).toMatchObject({ source: 'system', executablePath: fake });
  });

  it('then the Chromium shipped in @sparticuz/chromium, with its args less the ones that switch off web security', async () => {
    const c = await findBrowser({}, [join(dir, 'nope')]);
    expect(c.source).toBe('@sparticuz/chromium');
    expect(c.executablePath).toMatch(/chromium/);
    expect(c.args).toContain('--no-sandbox');
    expect(c.args).not.toContain('--disable-web-security');
  });
});
