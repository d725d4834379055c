/**
 * Monaco, set up in one place and loaded lazily (ScenarioEditor.vue imports this module with a
 * dynamic import, so the ~4 MB editor is its own chunk).
 *
 * What it wires:
 *  - the editor core (`editor.api` + every editor feature) and YAML tokenisation only — not
 *    monaco-editor's TypeScript/CSS/HTML/JSON language services;
 *  - monaco-yaml with the scenario JSON Schema from core/scenario: completion and hover docs. Its
 *    own validation is off: the core's checks below are the one validator, the same one a run
 *    uses, so a problem is never listed twice in two wordings;
 *  - markers from core `parseScenario` (owner "scenario"), computed in a worker
 *    (scenario-check.worker.ts) 300 ms after the last edit, and the diagnostics a refused startRun
 *    returned (owner "run"; those the live check already shows are not added again);
 *  - completion of device names after `endpoint:` and used domain IDs after `domain:`
 *    (completion.ts), one provider registered once;
 *  - the problems list: every marker on the model, one entry per problem, through `onProblems`.
 *
 * monaco-yaml 5.5 targets monaco-editor 0.54, whose `editor.createWebWorker({ moduleId, label,
 * createData })` 0.57 replaced with `createWebWorker({ worker })`. `legacyWorkerMonaco` adapts the
 * old call: it creates the worker through MonacoEnvironment and posts the two bootstrap messages the
 * old protocol expects (a wake-up, then createData) — what 0.57's own JSON language does. The other
 * half is the `monaco-editor/esm/vs/…` alias in electron.vite.config.ts.
 */
import * as monaco from 'monaco-editor/editor/editor.api.js';
import 'monaco-editor/features/register.all.js';
import 'monaco-editor/languages/definitions/yaml/register.js';
import { configureMonacoYaml } from 'monaco-yaml';
import EditorWorker from './editor.worker.ts?worker';
import ScenarioCheckWorker from './scenario-check.worker.ts?worker';
import YamlWorker from './yaml.worker.ts?worker';
import type { CheckRequest, CheckResult } from './scenario-check.worker.ts';
import { completionSite, declaredDevices, usedDomains, type DeviceName, type UsedDomain } from './completion.ts';
import type { Diagnostic } from '../../../core/contract/index.ts';
import { scenarioJsonSchema } from '../../../core/scenario/index.ts';
import type { Problem } from './problems.ts';

/** Delay between the last keystroke and the semantic check (ms). */
export const SEMANTIC_DEBOUNCE_MS = 300;
const MODEL_URI = monaco.Uri.parse('file:///iommu-lab/scenario.yaml');
const SCHEMA_URI = 'https://iommu-lab.local/schema/scenario.json';

function createWorker(label: string): Worker {
  return label === 'yaml' ? new YamlWorker() : new EditorWorker();
}

(globalThis as { MonacoEnvironment?: unknown }).MonacoEnvironment = {
  getWorker: (_moduleId: string, label: string) => createWorker(label),
};

interface LegacyWorkerOptions {
  label?: string;
  moduleId?: string;
  createData?: unknown;
}

/** The monaco namespace with a createWebWorker that also accepts monaco ≤ 0.54's options. */
const legacyWorkerMonaco = {
  ...monaco,
  editor: {
    ...monaco.editor,
    createWebWorker(opts: monaco.editor.IInternalWebWorkerOptions | LegacyWorkerOptions) {
      if ('worker' in opts) return monaco.editor.createWebWorker(opts);
      const worker = createWorker(opts.label ?? 'editorWorkerService');
      worker.postMessage('ignore');
      worker.postMessage(opts.createData);
      return monaco.editor.createWebWorker({ worker });
    },
  },
};

let yamlConfigured = false;

function configureOnce(): void {
  if (yamlConfigured) return;
  yamlConfigured = true;
  configureMonacoYaml(legacyWorkerMonaco as unknown as Parameters<typeof configureMonacoYaml>[0], {
    enableSchemaRequest: false,
    completion: true,
    hover: true,
    validate: false,
    format: { enable: true },
    schemas: [{ fileMatch: [MODEL_URI.toString()], uri: SCHEMA_URI, schema: scenarioJsonSchema() as never }],
  });
  registerReferenceCompletion();
  monaco.editor.defineTheme('iommu-lab-dark', {
    base: 'vs-dark',
    inherit: true,
    rules: [],
    colors: {
      'editor.background': '#1b1d23',
      'editorGutter.background': '#1b1d23',
      'editor.lineHighlightBackground': '#23262e',
      'editorLineNumber.foreground': '#4b5263',
      'editorLineNumber.activeForeground': '#a0a8b8',
    },
  });
}

/** Device names and used domains of one model version (computed on the first request for that version). */
let references: { version: number; devices?: DeviceName[]; domains?: UsedDomain[] } = { version: -1 };

/** Completion after `endpoint:` (declared device names) and `domain:` (domain IDs in use). Registered once. */
function registerReferenceCompletion(): void {
  monaco.languages.registerCompletionItemProvider('yaml', {
    triggerCharacters: [' ', '"', "'"],
    provideCompletionItems(model, position) {
      if (model.uri.toString() !== MODEL_URI.toString()) return { suggestions: [] };
      const site = completionSite(model.getLineContent(position.lineNumber).slice(0, position.column - 1));
      if (!site) return { suggestions: [] };
      const version = model.getAlternativeVersionId();
      if (references.version !== version) references = { version };
      const range = new monaco.Range(position.lineNumber, site.startColumn, position.lineNumber, site.endColumn);
      if (site.kind === 'endpoint') {
        references.devices ??= declaredDevices(model.getValue());
        return {
          suggestions: references.devices.map((d, i) => ({
            label: { label: d.name, description: d.bdf },
            kind: monaco.languages.CompletionItemKind.Value,
            detail: `device ${d.bdf} (line ${d.line})`,
            documentation: `Endpoint ${d.name}: the device declared on line ${d.line}${d.bdf ? ` at PCI address ${d.bdf}` : ''}.`,
            insertText: d.name,
            filterText: d.name,
            sortText: String(i).padStart(4, '0'),
            range,
          })),
        };
      }
      references.domains ??= usedDomains(model.getValue());
      return {
        suggestions: references.domains.map((d, i) => ({
          label: { label: d.id, description: `line ${d.line}` },
          kind: monaco.languages.CompletionItemKind.Value,
          detail: `domain ${d.id}, first used on line ${d.line}`,
          insertText: d.id,
          filterText: d.id,
          sortText: String(i).padStart(4, '0'),
          range,
        })),
      };
    },
  });
}

/** Callbacks of {@link createScenarioEditor}. */
export interface ScenarioEditorOptions {
  text: string;
  /** Current file name (diagnostics are reported against it). */
  fileName(): string;
  onChange(text: string): void;
  onProblems(problems: Problem[]): void;
}

/** Handle on the mounted editor. */
export interface ScenarioEditorHandle {
  /** Replaces the whole text (a new document: undo history reset). */
  setText(text: string): void;
  /** Scrolls to, and puts the cursor on, a 1-based line/column; focuses the editor. */
  reveal(line: number, column: number): void;
  /** Shows the diagnostics a refused startRun returned (cleared on the next edit). */
  setRunDiagnostics(diagnostics: Diagnostic[]): void;
  dispose(): void;
}

function toMarker(d: Diagnostic): monaco.editor.IMarkerData {
  return {
    severity: d.severity === 'error' ? monaco.MarkerSeverity.Error : monaco.MarkerSeverity.Warning,
    message: d.message,
    startLineNumber: d.line,
    startColumn: d.column,
    endLineNumber: Math.max(d.endLine, d.line),
    endColumn: d.endLine > d.line || d.endColumn > d.column ? d.endColumn : d.column + 1,
    source: d.path,
  };
}

function severityName(s: monaco.MarkerSeverity): Problem['severity'] {
  if (s === monaco.MarkerSeverity.Error) return 'error';
  if (s === monaco.MarkerSeverity.Warning) return 'warning';
  return 'info';
}

/** What makes two markers the same problem: position, severity and message. */
function markerKey(m: Pick<monaco.editor.IMarkerData, 'startLineNumber' | 'startColumn' | 'severity' | 'message'>): string {
  return `${m.startLineNumber}:${m.startColumn}:${m.severity}:${m.message}`;
}

/** The model's markers as problems, one entry per problem with every owner that reported it, by position. */
export function problemsOf(markers: monaco.editor.IMarker[]): Problem[] {
  const byKey = new Map<string, Problem>();
  for (const m of markers) {
    const key = markerKey(m);
    const seen = byKey.get(key);
    if (seen) {
      if (!seen.sources.includes(m.owner)) seen.sources.push(m.owner);
      continue;
    }
    byKey.set(key, { severity: severityName(m.severity), line: m.startLineNumber, column: m.startColumn, message: m.message, source: m.owner, sources: [m.owner] });
  }
  return [...byKey.values()].sort((a, b) => a.line - b.line || a.column - b.column);
}

/** Mounts the scenario editor into `host`. */
export function createScenarioEditor(host: HTMLElement, opts: ScenarioEditorOptions): ScenarioEditorHandle {
  configureOnce();
  const model = monaco.editor.getModel(MODEL_URI) ?? monaco.editor.createModel(opts.text, 'yaml', MODEL_URI);
  model.setValue(opts.text);
  const editor = monaco.editor.create(host, {
    model,
    theme: 'iommu-lab-dark',
    automaticLayout: true,
    fontSize: 13,
    fontFamily: "'JetBrains Mono', 'Cascadia Code', 'Fira Code', Menlo, Consolas, monospace",
    minimap: { enabled: false },
    scrollBeyondLastLine: false,
    tabSize: 2,
    insertSpaces: true,
    renderWhitespace: 'boundary',
    quickSuggestions: { other: true, comments: false, strings: true },
    fixedOverflowWidgets: true,
    padding: { top: 8 },
  });

  // The core's checks run in a worker; one request in flight, the latest text queued behind it.
  const checker = new ScenarioCheckWorker();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let sent = 0;
  let inFlight = false;
  let queued = false;
  const semanticCheck = (): void => {
    timer = undefined;
    if (inFlight) {
      queued = true;
      return;
    }
    inFlight = true;
    const req: CheckRequest = { id: ++sent, text: model.getValue(), file: opts.fileName() };
    checker.postMessage(req);
  };
  checker.onmessage = (e: MessageEvent<CheckResult>) => {
    inFlight = false;
    // A later edit is waiting: these markers are already stale.
    if (queued) {
      queued = false;
      semanticCheck();
      return;
    }
    if (e.data.id !== sent || model.isDisposed()) return;
    const markers = e.data.diagnostics.map(toMarker);
    monaco.editor.setModelMarkers(model, 'scenario', markers);
    // A refused run reported these too (the run came first): keep one of each.
    const keys = new Set(markers.map(markerKey));
    const run = monaco.editor.getModelMarkers({ resource: MODEL_URI, owner: 'run' });
    if (run.some((m) => keys.has(markerKey(m)))) monaco.editor.setModelMarkers(model, 'run', run.filter((m) => !keys.has(markerKey(m))));
  };
  const schedule = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(semanticCheck, SEMANTIC_DEBOUNCE_MS);
  };

  const disposables: monaco.IDisposable[] = [];
  let replacing = false;
  disposables.push(
    model.onDidChangeContent(() => {
      if (!replacing) opts.onChange(model.getValue());
      monaco.editor.setModelMarkers(model, 'run', []);
      schedule();
    }),
    // The problems list grows and shrinks under the editor as problems come and go, resizing it
    // while the user types: keep the cursor in view (Monaco does not reveal on a layout change).
    editor.onDidLayoutChange(() => {
      const p = editor.getPosition();
      if (p && editor.hasTextFocus()) editor.revealPosition(p);
    }),
    monaco.editor.onDidChangeMarkers((uris) => {
      if (!uris.some((u) => u.toString() === MODEL_URI.toString())) return;
      opts.onProblems(problemsOf(monaco.editor.getModelMarkers({ resource: MODEL_URI })));
    }),
  );
  schedule();

  return {
    setText(text) {
      if (text === model.getValue()) return;
      replacing = true;
      model.setValue(text);
      replacing = false;
    },
    reveal(line, column) {
      const l = Math.min(Math.max(1, line), model.getLineCount());
      editor.revealLineInCenter(l);
      editor.setSelection(new monaco.Selection(l, column, l, model.getLineMaxColumn(l)));
      editor.focus();
    },
    setRunDiagnostics(diagnostics) {
      // The live check found the same problems in the same text: show each once.
      const shown = new Set(monaco.editor.getModelMarkers({ resource: MODEL_URI, owner: 'scenario' }).map(markerKey));
      monaco.editor.setModelMarkers(model, 'run', diagnostics.map(toMarker).filter((m) => !shown.has(markerKey(m))));
    },
    dispose() {
      if (timer !== undefined) clearTimeout(timer);
      checker.terminate();
      for (const d of disposables) d.dispose();
      editor.dispose();
    },
  };
}

/** Handle on a read-only diff editor (createConfigDiff). */
export interface ConfigDiffHandle {
  /** Shows `original` (left) against `modified` (right). */
  setTexts(original: string, modified: string): void;
  /** Lines that differ (added, removed or changed on either side), once the diff is computed; null before. */
  changes(): number | null;
  dispose(): void;
}

let diffModels = 0;

/**
 * A read-only Monaco diff editor of two YAML texts (the compare view's configurations, issue 9 §3),
 * side by side, in the lab's theme. Its models are not the scenario model: no completion, no markers.
 */
export function createConfigDiff(host: HTMLElement, original: string, modified: string): ConfigDiffHandle {
  configureOnce();
  const n = ++diffModels;
  const left = monaco.editor.createModel(original, 'yaml', monaco.Uri.parse(`inmemory://iommu-lab/compare-${n}-a.yaml`));
  const right = monaco.editor.createModel(modified, 'yaml', monaco.Uri.parse(`inmemory://iommu-lab/compare-${n}-b.yaml`));
  const editor = monaco.editor.createDiffEditor(host, {
    theme: 'iommu-lab-dark',
    readOnly: true,
    originalEditable: false,
    automaticLayout: true,
    renderSideBySide: true,
    useInlineViewWhenSpaceIsLimited: false,
    minimap: { enabled: false },
    scrollBeyondLastLine: false,
    fontSize: 12,
    lineNumbersMinChars: 3,
    renderOverviewRuler: false,
  });
  editor.setModel({ original: left, modified: right });
  // Disposed while its diff is still being computed (the view left at once), Monaco's diff editor
  // rejects with "no diff result available": then the disposal waits for the diff (at most 3 s).
  let pending = true;
  editor.onDidUpdateDiff(() => {
    pending = false;
  });
  let disposed = false;
  const finish = () => {
    if (disposed) return;
    disposed = true;
    editor.dispose();
    left.dispose();
    right.dispose();
  };
  return {
    setTexts(a, b) {
      pending = true;
      left.setValue(a);
      right.setValue(b);
    },
    changes() {
      const c = editor.getLineChanges();
      return c === null ? null : c.length;
    },
    dispose() {
      if (!pending) return finish();
      editor.onDidUpdateDiff(finish);
      setTimeout(finish, 3000);
    },
  };
}
