// End to end: the scenario editor as an editor, in headless Chromium at 1280×720 against a real
// LabService behind `iommu-lab serve`. New → a step typed with device-name completion (accepted
// with the keyboard) → Save (the browser download: its name and bytes) → Run (the run records the
// document's name); the unsaved-changes prompt (dirty marker, the examples picker asks, dismiss
// keeps the text, accept switches, closing the page asks); a refused run's problem (in a file
// opened with Open…) listed once, and its banner gone after the next edit. Saves test-results/editor.png.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, Dialog, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseScenario } from '../../core/scenario/index.ts';
import { startServer, type RunningServer } from '../../main/serve/server.ts';
import { LabService } from '../../main/service/lab-service.ts';
import { launchBrowser } from '../support/browser.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const RENDERER = join(ROOT, 'out/renderer');

describe('the scenario editor in a browser against iommu-lab serve', () => {
  let dir: string;
  let service: LabService;
  let server: RunningServer;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    if (!existsSync(join(RENDERER, 'index.html'))) {
      // `npm test` builds first; a bare `vitest run tests/e2e` builds once here.
      execFileSync(process.execPath, [join(ROOT, 'node_modules/electron-vite/bin/electron-vite.js'), 'build'], { cwd: ROOT, stdio: 'inherit' });
    }
    dir = mkdtempSync(join(tmpdir(), 'iommu-lab-e2e-editor-'));
    service = new LabService({ dbPath: join(dir, 'lab.db'), examplesDir: join(ROOT, 'examples') });
    server = await startServer({ service, port: 0, rendererDir: RENDERER });
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1280, height: 720 }, acceptDownloads: true });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(server.url);
    await page.locator('[data-testid=scenario-editor][data-ready=true]').waitFor({ timeout: 30_000 });
    // The lab opens the quickstart example first.
    await page.locator('[data-testid=file-name]', { hasText: 'quickstart' }).waitFor({ timeout: 30_000 });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close(); // also closes the service
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Polls `fn` for up to `timeout` ms (UI updates are asynchronous). */
  const poll = <T>(fn: () => Promise<T> | T, timeout = 10_000) => expect.poll(fn, { timeout, interval: 100 });

  /** The editor's text as Monaco renders it (non-breaking spaces normalised). */
  const editorText = async () => (await page.locator('[data-testid=scenario-editor] .view-lines').innerText()).replace(/\u00a0/g, ' ');
  const fileName = () => page.locator('[data-testid=file-name] .name').innerText();
  const dirtyMarker = () => page.getByTestId('dirty-marker').count();
  const suggestions = () => page.locator('[data-testid=scenario-editor] .suggest-widget.visible .monaco-list-row');

  /** Answers the next dialog (confirm, beforeunload) and returns its message. */
  function answerNextDialog(accept: boolean): Promise<{ type: string; message: string }> {
    return new Promise((done) => {
      page.once('dialog', (d: Dialog) => {
        const seen = { type: d.type(), message: d.message() };
        void (accept ? d.accept() : d.dismiss()).then(() => done(seen));
      });
    });
  }

  /**
   * Focuses the editor by clicking its first line's start: a click at the centre of .view-lines
   * (as wide as the longest line) would make the browser scroll Monaco's clipped layers sideways.
   */
  const editorClick = () => page.locator('[data-testid=scenario-editor] .view-lines').click({ position: { x: 4, y: 4 } });

  /** Puts the cursor at the end of the document. */
  async function toEnd(): Promise<void> {
    await editorClick();
    await page.keyboard.press('Control+End');
  }

  it('New → a step typed with device-name completion → Save downloads it → Run records its name', async () => {
    // Ctrl+N: an untitled document with a starter scenario, not dirty.
    await editorClick();
    await page.keyboard.press('Control+n');
    await poll(fileName).toBe('untitled-1.yaml');
    await poll(editorText).toContain('name: untitled-1');
    expect(await dirtyMarker()).toBe(0);
    expect(await page.title()).toBe('untitled-1.yaml — IOMMU Lab');
    const examples = page.getByTestId('examples-select');
    expect(await examples.inputValue()).toBe('');

    // A probe step whose endpoint comes from completion (the starter ends with an empty line).
    await toEnd();
    await page.keyboard.insertText('  - probe: {endpoint: }');
    await page.keyboard.press('ArrowLeft'); // inside the braces, after "endpoint: "
    await page.keyboard.type('n');
    await page.keyboard.press('Control+Space');
    await poll(async () => (await suggestions().allInnerTexts()).join('|')).toContain('nic0');
    const rows = await suggestions().allInnerTexts();
    expect(rows.some((r) => r.includes('00:03.0')), `suggestions: ${rows.join(' | ')}`).toBe(true);
    await page.keyboard.press('Enter'); // accept the suggestion
    await poll(editorText).toContain('- probe: {endpoint: nic0}');

    // domain: offers the domain IDs already used.
    await page.keyboard.press('Control+End');
    await page.keyboard.insertText('\n- detach: {endpoint: nic0, domain: }'); // Enter keeps the indentation
    await page.keyboard.press('ArrowLeft');
    await page.keyboard.press('Control+Space');
    await poll(async () => (await suggestions().allInnerTexts()).map((t) => t.split('\n')[0].trim())).toContain('1');
    await page.keyboard.press('Enter');
    await poll(editorText).toContain('- detach: {endpoint: nic0, domain: 1}');

    // Edited: the dirty marker and the window title say so.
    await poll(dirtyMarker).toBe(1);
    expect(await page.title()).toBe('● untitled-1.yaml — IOMMU Lab');

    // Ctrl+S in the browser downloads the document under its name, and it is clean again.
    const downloaded = page.waitForEvent('download');
    await page.keyboard.press('Control+s');
    const download = await downloaded;
    expect(download.suggestedFilename()).toBe('untitled-1.yaml');
    const saved = readFileSync(await download.path(), 'utf8');
    expect(saved).toContain('name: untitled-1\n');
    expect(saved).toContain('\n  - probe: {endpoint: nic0}\n  - detach: {endpoint: nic0, domain: 1}');
    const parsed = parseScenario(saved, 'untitled-1.yaml');
    expect(parsed.diagnostics).toEqual([]);
    expect(parsed.scenario!.steps.map((s) => s.op)).toEqual(['attach', 'probe', 'detach']);
    await poll(dirtyMarker).toBe(0);
    expect(await page.title()).toBe('untitled-1.yaml — IOMMU Lab');

    // Run: the run records the document's name (untitled too).
    await page.keyboard.press('Control+Enter');
    await poll(() => page.getByTestId('run-status').getAttribute('data-status'), 60_000).toBe('done');
    const runs = await service.call('listRuns', {});
    expect(runs[0]).toMatchObject({ name: 'untitled-1', file: 'untitled-1.yaml', status: 'done' });
    expect((await service.call('getRun', { runId: runs[0].id }))!.scenarioText).toBe(saved);
    expect(pageErrors).toEqual([]);
  });

  it('asks before unsaved edits are dropped: dismiss keeps the text, accept switches', async () => {
    await toEnd();
    await page.keyboard.insertText('\n- read-config: {}');
    await poll(dirtyMarker).toBe(1);

    // Closing or reloading the page asks (beforeunload is cancelled while dirty).
    const unloadCancelled = () =>
      page.evaluate(() => {
        const e = new Event('beforeunload', { cancelable: true });
        (globalThis as unknown as EventTarget).dispatchEvent(e); // the page's window
        return e.defaultPrevented;
      });
    expect(await unloadCancelled()).toBe(true);

    // The examples picker asks first; dismissing keeps the document and its edits.
    const examples = page.getByTestId('examples-select');
    const names = (await examples.locator('option').evaluateAll((opts) => opts.map((o) => o.getAttribute('value') ?? ''))).filter(Boolean);
    const faults = names.find((n) => n.startsWith('faults'))!;
    expect(faults, `examples: ${names.join(', ')}`).toBeDefined();
    let asked = answerNextDialog(false);
    await examples.selectOption(faults);
    expect(await asked).toEqual({ type: 'confirm', message: 'untitled-1.yaml has unsaved changes. Discard them?' });
    await poll(fileName).toBe('untitled-1.yaml');
    expect(await examples.inputValue()).toBe('');
    // Monaco renders only the lines in view, and the picker took the focus: a layout change since
    // (the editor reveals its cursor only while focused) can leave the edited last line out of the
    // view. Focus the editor's input (no click: the cursor stays at the end) to bring it back.
    await page.locator('[data-testid=scenario-editor] textarea').focus();
    await page.keyboard.press('Control+End');
    await poll(editorText).toContain('- read-config: {}');
    expect(await dirtyMarker()).toBe(1);

    // New asks too.
    asked = answerNextDialog(false);
    await page.getByTestId('new-button').click();
    expect((await asked).type).toBe('confirm');
    expect(await fileName()).toBe('untitled-1.yaml');

    // Accepting switches to the example, clean.
    asked = answerNextDialog(true);
    await examples.selectOption(faults);
    expect((await asked).type).toBe('confirm');
    await poll(fileName).toBe(faults.endsWith('.yaml') ? faults : `${faults}.yaml`);
    await poll(editorText).not.toContain('read-config: {}');
    expect(await dirtyMarker()).toBe(0);
    expect(await unloadCancelled()).toBe(false);
    expect(pageErrors).toEqual([]);
  });

  it("lists a refused run's problem once, and its banner goes once the scenario changes", async () => {
    // A clean document needs no confirmation: Open… a file with an unknown device name.
    const text = ['name: broken', 'viommu: {model: virtio-iommu}', 'devices:', '  - {name: nic0, bdf: "00:03.0"}', 'steps:', '  - attach: {domain: 1, endpoint: nic9}', ''].join('\n');
    await page.getByTestId('file-input').setInputFiles({ name: 'broken.yaml', mimeType: 'text/yaml', buffer: Buffer.from(text) });
    await poll(fileName).toBe('broken.yaml');
    await editorClick();
    const problems = page.locator('[data-testid=problem]');
    // The editor's own check finds it…
    await poll(() => problems.allInnerTexts()).toEqual([expect.stringContaining('unknown endpoint "nic9"')]);
    expect(await problems.first().getAttribute('data-sources')).toBe('scenario');
    expect(await problems.first().getAttribute('data-line')).toBe('6');

    // …and so does the run, which is refused: still one entry, found by both.
    await page.keyboard.press('Control+Enter');
    const banner = page.getByTestId('error-banner').filter({ hasText: 'nothing was run' });
    await poll(() => banner.count()).toBe(1);
    await poll(() => problems.evaluateAll((els) => els.map((e) => e.getAttribute('data-sources')))).toEqual(['scenario run']);
    expect(await problems.count()).toBe(1);
    expect(await page.locator('[data-testid=scenario-editor] .squiggly-error').count()).toBe(1);

    await page.mouse.move(0, 0);
    mkdirSync(join(ROOT, 'test-results'), { recursive: true });
    await page.screenshot({ path: join(ROOT, 'test-results/editor.png') });

    // Fixing the scenario makes the banner stale: it goes with the edit.
    await page.keyboard.press('Control+End');
    await page.keyboard.press('ArrowUp');
    await page.keyboard.press('End');
    await page.keyboard.press('ArrowLeft');
    await page.keyboard.press('Backspace');
    await page.keyboard.type('0');
    await poll(() => banner.count()).toBe(0);
    await poll(() => problems.count()).toBe(0);
    expect(pageErrors).toEqual([]);
  });
});
