/**
 * The SQL console (issue 9 §3; docs/sql.md): the query text, the last result or error, the
 * history of recent queries (both kept in localStorage) and the documented schema. Queries run in
 * the lab's SQL worker (contract sqlQuery: read-only, off the main thread, a time limit); Cancel
 * is sqlCancel. A SQL problem (syntax, no such table, a write refused, the time limit) is the
 * answer's `error`, shown in place of the rows. A row with a run_id and a seq opens its event in
 * the workbench (openEvent), as Perfetto's query result links to the timeline.
 */
import { defineStore } from 'pinia';
import { ref, shallowRef } from 'vue';
import type { Results, SqlError, SqlSchemaObject } from '../../../core/contract/index.ts';
import { lab, transport } from '../api/index.ts';
import { useEventsStore } from './events.ts';
import { useNoticesStore } from './notices.ts';
import { useRunsStore } from './runs.ts';
import { useViewStore } from './view.ts';
import { downloadText } from '../download.ts';

/** A query result as the console shows it. */
export type SqlResult = Omit<Results['sqlQuery'], 'error'>;

/** Queries kept in the history (most recent first, no duplicates). */
export const HISTORY_SIZE = 30;
/** Rows a query returns at most (the contract's sqlQuery maximum). */
export const ROW_LIMIT = 100_000;
const TEXT_KEY = 'iommu-lab.sql.text';
const HISTORY_KEY = 'iommu-lab.sql.history';
/** What the console shows the first time: a query over the documented views. */
export const FIRST_QUERY = '-- Ctrl+Enter runs the query (read-only; the views are documented in docs/sql.md)\nSELECT id, name, kind, status, model, aw_bits, iommu_dma, events\nFROM v_runs\nORDER BY id DESC;';

function load<T>(key: string, fallback: T): T {
  try {
    const v = localStorage.getItem(key);
    return v === null ? fallback : (JSON.parse(v) as T);
  } catch {
    return fallback;
  }
}
function save(key: string, value: unknown): void {
  try {
    localStorage.setItem(key, JSON.stringify(value));
  } catch {
    // Storage full or denied: the console works without it.
  }
}

/** One CSV field per RFC 4180 (quoted when it holds a quote, comma, CR/LF or edge spaces; as main/service/export.ts csvField). */
export function csvField(v: string): string {
  return /[",\r\n]|^\s|\s$/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

/** A result as CSV text: a header row, CRLF line ends, NULL as an empty field. */
export function toCsv(r: Pick<SqlResult, 'columns' | 'rows'>): string {
  let out = r.columns.map((c) => csvField(c.name)).join(',') + '\r\n';
  for (const row of r.rows) out += row.map((v) => csvField(v === null || v === undefined ? '' : String(v))).join(',') + '\r\n';
  return out;
}

/** The SQL console's state and actions. */
export const useSqlStore = defineStore('sql', () => {
  const notices = useNoticesStore();
  const text = ref<string>(load(TEXT_KEY, FIRST_QUERY));
  const history = ref<string[]>(load(HISTORY_KEY, []));
  const running = ref(false);
  /** The last answered query's rows (shallow: up to 100 000 rows are not made reactive one by one). */
  const result = shallowRef<SqlResult | null>(null);
  const error = ref<SqlError | null>(null);
  /** The query the result or error belongs to. */
  const ranSql = ref('');
  const schema = shallowRef<SqlSchemaObject[] | null>(null);
  const schemaError = ref<string | null>(null);

  function setText(t: string): void {
    text.value = t;
    save(TEXT_KEY, t);
  }

  /** Loads the documented tables and views (once; again after a failure). */
  async function loadSchema(): Promise<void> {
    if (schema.value) return;
    try {
      schema.value = await lab.call('sqlSchema', {});
      schemaError.value = null;
    } catch (e) {
      schemaError.value = e instanceof Error ? e.message : String(e);
    }
  }

  /** Runs `sql` (default: the text); one query at a time. */
  async function run(sql: string = text.value): Promise<void> {
    const q = sql.trim();
    if (!q || running.value) return;
    running.value = true;
    ranSql.value = sql;
    history.value = [q, ...history.value.filter((h) => h !== q)].slice(0, HISTORY_SIZE);
    save(HISTORY_KEY, history.value);
    try {
      const r = await lab.call('sqlQuery', { sql, limit: ROW_LIMIT });
      error.value = r.error;
      result.value = r.error ? null : { columns: r.columns, rows: r.rows, truncated: r.truncated, elapsedMs: r.elapsedMs };
    } catch (e) {
      // The call itself failed (the connection, a closed lab): not the query's fault.
      error.value = { message: e instanceof Error ? e.message : String(e), code: 'ERROR', offset: null };
      result.value = null;
    } finally {
      running.value = false;
    }
  }

  /** Stops the running query (its answer is the CANCELLED error). */
  async function cancel(): Promise<void> {
    if (!running.value) return;
    try {
      await lab.call('sqlCancel', {});
    } catch (e) {
      notices.fail('Could not cancel the query', e);
    }
  }

  /** Saves the result as CSV: a save dialog on the desktop, a download in a browser. */
  async function exportCsv(): Promise<void> {
    const r = result.value;
    if (!r) return;
    const csv = toCsv(r);
    const name = `query-${new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-')}.csv`;
    try {
      if (transport === 'electron') await lab.call('saveFile', { path: null, text: csv, name });
      else downloadText(csv, name, 'text/csv');
    } catch (e) {
      notices.fail('Could not export the rows', e);
    }
  }

  /** Switches to the workbench with run `runId` shown and its event `seq` selected (a result row's run_id and seq). */
  async function openEvent(runId: number, seq: number): Promise<void> {
    const runs = useRunsStore();
    const events = useEventsStore();
    useViewStore().show('workbench');
    await runs.select(runId);
    if (runs.selectedId !== runId) return;
    if (!(await events.revealSeq(seq))) notices.push('warning', `Run #${runId} has no event #${seq}`);
  }

  function clearHistory(): void {
    history.value = [];
    save(HISTORY_KEY, []);
  }

  return { text, history, running, result, error, ranSql, schema, schemaError, setText, loadSchema, run, cancel, exportCsv, openEvent, clearHistory };
});
