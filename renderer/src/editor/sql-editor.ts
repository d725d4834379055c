/**
 * The SQL console's query box: a Monaco editor with Monaco's SQL tokenizer (highlighting only; no
 * language service), loaded lazily with the rest of Monaco (SqlConsole.vue imports this module
 * dynamically; ./monaco.ts sets up Monaco's workers once). Ctrl/Cmd+Enter runs the query;
 * completion offers the documented tables, views and their columns (sqlSchema); a SQL error with
 * an offset is marked where SQLite stopped.
 */
import * as monaco from 'monaco-editor/editor/editor.api.js';
import 'monaco-editor/languages/definitions/sql/register.js';
import type { SqlSchemaObject } from '../../../core/contract/index.ts';
import './monaco.ts';

/** Handle on the query editor. */
export interface SqlEditorHandle {
  getText(): string;
  setText(text: string): void;
  /** Inserts `text` at the cursor (replacing the selection) and focuses the editor. */
  insert(text: string): void;
  /** Marks the error at `offset` (0-based, in the text) with `message`; null clears it. */
  markError(error: { offset: number; message: string } | null): void;
  focus(): void;
  dispose(): void;
}

/** Options of createSqlEditor. */
export interface SqlEditorOptions {
  text: string;
  onChange(text: string): void;
  /** Ctrl/Cmd+Enter. */
  onRun(): void;
}

const THEME = 'iommu-lab-sql';
/** The schema completion offers (set by setSqlSchema; one provider for every SQL editor). */
let schemaObjects: readonly SqlSchemaObject[] = [];
let configured = false;

/** The tables, views and columns completion offers. */
export function setSqlSchema(schema: readonly SqlSchemaObject[]): void {
  schemaObjects = schema;
}

function configureOnce(): void {
  if (configured) return;
  configured = true;
  // The lab's dark editor colours (as ./monaco.ts's scenario editor).
  monaco.editor.defineTheme(THEME, {
    base: 'vs-dark',
    inherit: true,
    rules: [],
    colors: { 'editor.background': '#1b1d23', 'editorGutter.background': '#1b1d23', 'editor.lineHighlightBackground': '#23262e', 'editorLineNumber.foreground': '#4b5263' },
  });
  monaco.languages.registerCompletionItemProvider('sql', {
    provideCompletionItems(model, position) {
      const word = model.getWordUntilPosition(position);
      const range = new monaco.Range(position.lineNumber, word.startColumn, position.lineNumber, word.endColumn);
      const items: monaco.languages.CompletionItem[] = [];
      const columns = new Map<string, string>();
      for (const o of schemaObjects) {
        items.push({ label: o.name, kind: o.kind === 'view' ? monaco.languages.CompletionItemKind.Interface : monaco.languages.CompletionItemKind.Struct, detail: o.kind, documentation: o.doc, insertText: o.name, range });
        for (const c of o.columns) if (!columns.has(c.name)) columns.set(c.name, `${o.name}.${c.name} ${c.type}${c.doc ? ` — ${c.doc}` : ''}`);
      }
      for (const [name, doc] of columns) items.push({ label: name, kind: monaco.languages.CompletionItemKind.Field, documentation: doc, insertText: name, range });
      return { suggestions: items };
    },
  });
}

/** Mounts the query editor into `host`. */
export function createSqlEditor(host: HTMLElement, opts: SqlEditorOptions): SqlEditorHandle {
  configureOnce();
  const model = monaco.editor.createModel(opts.text, 'sql');
  const editor = monaco.editor.create(host, {
    model,
    theme: THEME,
    automaticLayout: true,
    fontSize: 13,
    fontFamily: "'JetBrains Mono', 'Cascadia Code', 'Fira Code', Menlo, Consolas, monospace",
    minimap: { enabled: false },
    scrollBeyondLastLine: false,
    lineNumbersMinChars: 3,
    wordWrap: 'on',
    fixedOverflowWidgets: true,
    padding: { top: 6 },
    tabSize: 2,
  });
  editor.addCommand(monaco.KeyMod.CtrlCmd | monaco.KeyCode.Enter, () => opts.onRun());
  const sub = model.onDidChangeContent(() => {
    monaco.editor.setModelMarkers(model, 'sql', []);
    opts.onChange(model.getValue());
  });
  return {
    getText: () => model.getValue(),
    setText(text) {
      if (text !== model.getValue()) model.setValue(text);
    },
    insert(text) {
      const sel = editor.getSelection();
      if (sel) editor.executeEdits('schema', [{ range: sel, text, forceMoveMarkers: true }]);
      editor.focus();
    },
    markError(error) {
      if (!error) return monaco.editor.setModelMarkers(model, 'sql', []);
      const start = model.getPositionAt(error.offset);
      const word = model.getWordAtPosition(start);
      const end = word ? word.endColumn : start.column + 1;
      monaco.editor.setModelMarkers(model, 'sql', [
        { severity: monaco.MarkerSeverity.Error, message: error.message, startLineNumber: start.lineNumber, startColumn: start.column, endLineNumber: start.lineNumber, endColumn: end },
      ]);
      editor.revealPositionInCenterIfOutsideViewport(start);
    },
    focus: () => editor.focus(),
    dispose() {
      sub.dispose();
      editor.dispose();
      model.dispose();
    },
  };
}
