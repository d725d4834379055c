/**
 * Monaco, set up in one place and loaded lazily (ScenarioEditor.vue imports this module with a
 * dynamic import, so the ~4 MB editor is its own chunk).
 *
 * What it wires:
 *  - the editor core (`editor.api` + every editor feature) and YAML tokenisation only — not
 *    monaco-editor's TypeScript/CSS/HTML/JSON language services;
 *  - monaco-yaml with the scenario JSON Schema from core/scenario (completion, hover docs, schema
 *    markers, owner "yaml");
 *  - semantic markers from core `parseScenario` (owner "scenario"), recomputed 300 ms after the last
 *    edit, and the diagnostics a refused startRun returned (owner "run");
 *  - the problems list: every marker on the model, reported through `onProblems`.
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
import YamlWorker from './yaml.worker.ts?worker';
import type { Diagnostic } from '../../../core/contract/index.ts';
import { parseScenario, scenarioJsonSchema } from '../../../core/scenario/index.ts';
import type { Problem } from '../stores/scenario.ts';

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
    validate: true,
    format: { enable: true },
    schemas: [{ fileMatch: [MODEL_URI.toString()], uri: SCHEMA_URI, schema: scenarioJsonSchema() as never }],
  });
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

  let timer: ReturnType<typeof setTimeout> | undefined;
  const semanticCheck = (): void => {
    timer = undefined;
    const { diagnostics } = parseScenario(model.getValue(), opts.fileName());
    monaco.editor.setModelMarkers(model, 'scenario', diagnostics.map(toMarker));
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
    monaco.editor.onDidChangeMarkers((uris) => {
      if (!uris.some((u) => u.toString() === MODEL_URI.toString())) return;
      const problems = monaco.editor
        .getModelMarkers({ resource: MODEL_URI })
        .map((m) => ({ severity: severityName(m.severity), line: m.startLineNumber, column: m.startColumn, message: m.message, source: m.owner }))
        .sort((a, b) => a.line - b.line || a.column - b.column);
      opts.onProblems(problems);
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
      monaco.editor.setModelMarkers(model, 'run', diagnostics.map(toMarker));
    },
    dispose() {
      if (timer !== undefined) clearTimeout(timer);
      for (const d of disposables) d.dispose();
      editor.dispose();
    },
  };
}
