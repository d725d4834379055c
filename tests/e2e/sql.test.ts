// End to end (issue 9 §3): the SQL console in the UI served by `iommu-lab serve`, in headless
// Chromium at 1280×720 — Ctrl+3 shows it; a query typed in the editor and run with Ctrl+Enter fills
// the virtualized table (rows, count and time); Export CSV downloads the rows (RFC 4180); the
// schema list inserts a view's name; bad SQL shows SQLite's message; a write is refused; a query
// that never ends is cancelled and the next one runs; the history keeps the queries; a row with
// run_id and seq opens its event in the workbench.
// Screenshots go to .tmp/ui-shots/.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../main/serve/server.ts';
import { BIN, ROOT, SHOTS, startE2eLab, type E2eLab } from '../support/e2e.ts';


describe('the SQL console in the UI', () => {
  let server: RunningServer;
  let page: Page;
  let pageErrors: string[] = [];
  let lab: E2eLab;
  const poll = <T>(fn: () => Promise<T> | T, timeout = 15_000) => expect.poll(fn, { timeout, interval: 100 });

  /** Replaces the editor's text with `sql` (typed, as a user would). */
  async function typeQuery(sql: string): Promise<void> {
    await page.getByTestId('sql-editor').locator('.view-lines').click();
    await page.keyboard.press('Control+a');
    await page.keyboard.press('Delete');
    await page.keyboard.insertText(sql);
  }
  /** The editor's text (Monaco renders spaces as no-break spaces). */
  const editorText = async () => (await page.getByTestId('sql-editor').locator('.view-lines').innerText()).replace(/\u00a0/g, ' ');

  beforeAll(async () => {
    lab = await startE2eLab('sql', { warmRunWorker: false, acceptDownloads: true, prepare: (_dir, db) => {
      for (const f of ['faults.yaml', 'host-map-failure.yaml']) expect(spawnSync(process.execPath, [BIN, 'run', join(ROOT, 'examples', f), '--db', db]).status).toBe(0);
    } });
    ({ server, page, pageErrors } = lab);
  }, 180_000);

  afterAll(async () => {
    await lab?.close();
  });

  it('runs a typed query into the table, exports CSV, and shows bad SQL’s error', async () => {
    await page.goto(server.url);
    await poll(() => page.getByTestId('view-tabs').isVisible()).toBe(true);
    await page.keyboard.press('Control+3');
    await poll(() => page.getByTestId('sql-editor').getAttribute('data-ready')).toBe('true');
    expect(await page.getByTestId('view-tab-sql').getAttribute('aria-selected')).toBe('true');
    // The schema side list: the documented views.
    await poll(() => page.getByTestId('sql-object').count()).toBeGreaterThan(10);
    expect(await page.getByTestId('sql-object').evaluateAll((els) => els.map((e) => e.getAttribute('data-name')))).toEqual(expect.arrayContaining(['runs', 'events', 'v_runs', 'v_events', 'v_faults', 'v_host_calls']));

    await typeQuery("SELECT run_id, reason_name, count(*) AS n, 'a,b' AS csv FROM v_faults GROUP BY 1, 2 ORDER BY 1, 2");
    await page.keyboard.press('Control+Enter');
    await poll(() => page.getByTestId('sql-row').count()).toBe(4);
    expect(await page.getByTestId('sql-column').allInnerTexts()).toEqual(['run_id', 'reason_name', 'n', 'csv']);
    const rows = await page.getByTestId('sql-row').evaluateAll((els) => els.map((e) => [...e.querySelectorAll('span')].map((s) => s.textContent)));
    expect(rows).toEqual([
      ['1', '1', 'DOMAIN', '1', 'a,b'],
      ['2', '1', 'MAPPING', '2', 'a,b'],
      ['3', '1', 'UNKNOWN', '1', 'a,b'],
      ['4', '2', 'unmapped', '4', 'a,b'],
    ]);
    expect(await page.getByTestId('sql-status').innerText()).toMatch(/^4 rows in [\d.]+ ms$/);
    await page.screenshot({ path: join(SHOTS, 'sql-console.png') });

    // Export CSV: a download of the rows, RFC 4180.
    const downloaded = page.waitForEvent('download');
    await page.getByTestId('sql-export').click();
    const download = await downloaded;
    expect(download.suggestedFilename()).toMatch(/^query-.*\.csv$/);
    expect(readFileSync(await download.path(), 'utf8')).toBe('run_id,reason_name,n,csv\r\n1,DOMAIN,1,"a,b"\r\n1,MAPPING,2,"a,b"\r\n1,UNKNOWN,1,"a,b"\r\n2,unmapped,4,"a,b"\r\n');

    // Bad SQL: SQLite's message, with where it stopped; no rows.
    await typeQuery('SELECT * FORM v_runs');
    await page.getByTestId('sql-run').click();
    await poll(() => page.getByTestId('sql-error').isVisible()).toBe(true);
    expect(await page.getByTestId('sql-error').innerText()).toContain('near "FORM": syntax error (line 1, column 10)');
    expect(await page.getByTestId('sql-table').count()).toBe(0);
    await poll(() => page.getByTestId('sql-editor').locator('.squiggly-error').count()).toBeGreaterThan(0);
    await page.screenshot({ path: join(SHOTS, 'sql-console-error.png') });

    // A write is refused.
    await typeQuery('DELETE FROM runs');
    await page.keyboard.press('Control+Enter');
    await poll(() => page.getByTestId('sql-error').getAttribute('data-code')).toBe('READONLY_REFUSED');
    expect(await page.getByTestId('sql-error').innerText()).toContain('read-only: DELETE refused');
    expect(pageErrors).toEqual([]);
  }, 120_000);

  it('inserts a view from the schema, cancels a query that never ends, keeps the history', async () => {
    await typeQuery('SELECT * FROM ');
    await page.getByTestId('sql-object').filter({ hasText: 'v_host_calls' }).locator('.name').click();
    await poll(editorText).toContain('SELECT * FROM v_host_calls');
    await page.keyboard.insertText(' WHERE errno <> 0');
    await page.keyboard.press('Control+Enter');
    await poll(() => page.getByTestId('sql-row').count()).toBe(2);

    await typeQuery('WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT count(*) FROM r');
    await page.keyboard.press('Control+Enter');
    await poll(() => page.getByTestId('sql-cancel').isVisible()).toBe(true);
    await page.screenshot({ path: join(SHOTS, 'sql-console-running.png') });
    await page.getByTestId('sql-cancel').click();
    await poll(() => page.getByTestId('sql-error').getAttribute('data-code')).toBe('CANCELLED');
    expect(await page.getByTestId('sql-cancel').count()).toBe(0);

    // The next query runs (in a fresh SQL worker); the history lists the queries, newest first.
    await typeQuery('SELECT count(*) AS runs FROM v_runs');
    await page.keyboard.press('Control+Enter');
    await poll(() => page.getByTestId('sql-row').count()).toBe(1);
    const history = await page.getByTestId('sql-history-item').allInnerTexts();
    expect(history[0]).toBe('SELECT count(*) AS runs FROM v_runs');
    expect(history).toContain('SELECT * FORM v_runs');
    // A click on a history entry puts it back in the editor.
    await page.getByTestId('sql-history-item').filter({ hasText: 'v_host_calls' }).click();
    await poll(editorText).toContain('WHERE errno <> 0');
    await page.screenshot({ path: join(SHOTS, 'sql-console-history.png') });

    // A row with run_id and seq opens its event in the workbench (double-click).
    await typeQuery("SELECT run_id, seq, ioctl, errno_name FROM v_host_calls WHERE errno_name = 'EINVAL'");
    await page.keyboard.press('Control+Enter');
    await poll(() => page.getByTestId('sql-row').count()).toBe(1);
    const [runId, seq] = await page.getByTestId('sql-row').evaluate((e) => [...e.querySelectorAll('span')].slice(1, 3).map((s) => s.textContent));
    await page.getByTestId('sql-row').dblclick();
    await poll(() => page.getByTestId('view-tab-workbench').getAttribute('aria-selected')).toBe('true');
    await poll(() => page.locator('[data-testid=event-row][aria-selected=true]').getAttribute('data-seq')).toBe(seq);
    expect(await page.locator('[data-testid=event-row][aria-selected=true]').getAttribute('data-kind')).toBe('host-call');
    expect(runId).toBe('2');
    expect(pageErrors).toEqual([]);
  }, 120_000);
});
