/**
 * The scenario being edited: its text and file identity, the shipped examples, and the diagnostics
 * shown in the problems list (Monaco's markers — monaco-yaml's schema checks and the core's
 * semantic checks — plus those startRun returned). The Monaco editor itself lives in
 * components/ScenarioEditor.vue; this store only asks it to reveal a line.
 */
import { defineStore } from 'pinia';
import { computed, ref, shallowRef } from 'vue';
import type { Diagnostic } from '../../../core/contract/index.ts';
import { lab, transport } from '../api/index.ts';
import { useNoticesStore } from './notices.ts';

/** A problem as the problems list shows it (1-based positions). */
export interface Problem {
  severity: 'error' | 'warning' | 'info';
  line: number;
  column: number;
  message: string;
  /** Who found it: "yaml" (schema), "scenario" (core semantic checks) or "run" (startRun). */
  source: string;
}

/** Where the editor should go next; `nonce` makes repeated requests for one line distinct. */
export interface RevealRequest {
  line: number;
  column: number;
  nonce: number;
}

const UNTITLED = 'untitled.yaml';

/** The edited scenario. */
export const useScenarioStore = defineStore('scenario', () => {
  const notices = useNoticesStore();

  const text = ref('');
  /** Display name and the `file` sent with startRun (shows in diagnostics as file:line:col). */
  const fileName = ref(UNTITLED);
  /** Desktop path from the native dialogs (null in the browser or before the first save). */
  const path = ref<string | null>(null);
  const savedText = ref('');
  const examples = ref<{ name: string; title: string }[]>([]);
  /** The shipped example the document came from (null for files and run scenarios). */
  const exampleName = ref<string | null>(null);
  const problems = shallowRef<Problem[]>([]);
  /** Diagnostics from the last refused startRun; cleared on the next edit. */
  const runDiagnostics = shallowRef<Diagnostic[]>([]);
  const reveal = ref<RevealRequest | null>(null);
  /** Bumped whenever the text is replaced from outside the editor (open, example, run scenario). */
  const loadedVersion = ref(0);

  const dirty = computed(() => text.value !== savedText.value);
  const errorCount = computed(() => problems.value.filter((p) => p.severity === 'error').length);

  /** Replaces the document (the editor follows `loadedVersion`). */
  function load(newText: string, name: string, newPath: string | null, example: string | null = null): void {
    exampleName.value = example;
    text.value = newText;
    savedText.value = newText;
    fileName.value = name;
    path.value = newPath;
    runDiagnostics.value = [];
    loadedVersion.value++;
  }

  /** Called by the editor on every change. */
  function edit(newText: string): void {
    text.value = newText;
    if (runDiagnostics.value.length) runDiagnostics.value = [];
  }

  /** Fetches the example list; opens the quickstart when nothing is loaded yet. */
  async function loadExamples(): Promise<void> {
    try {
      examples.value = await lab.call('listExamples', {});
      if (text.value === '' && examples.value.length) {
        const first = examples.value.find((e) => e.name.startsWith('quickstart')) ?? examples.value[0];
        await openExample(first.name);
      }
    } catch (err) {
      notices.fail('Could not list the examples', err);
    }
  }

  /** Loads a shipped example into the editor. */
  async function openExample(name: string): Promise<void> {
    try {
      const ex = await lab.call('readExample', { name });
      load(ex.text, /\.ya?ml$/i.test(ex.name) ? ex.name : `${ex.name}.yaml`, null, ex.name);
    } catch (err) {
      notices.fail(`Could not open example ${name}`, err);
    }
  }

  /** Desktop: native open dialog. (The browser uses `openLocalFile` from an <input type=file>.) */
  async function openFile(): Promise<void> {
    try {
      const picked = await lab.call('openFile', {});
      if (picked) load(picked.text, baseName(picked.path), picked.path);
    } catch (err) {
      notices.fail('Could not open the file', err);
    }
  }

  /** Browser: a file picked with <input type=file>. */
  async function openLocalFile(file: File): Promise<void> {
    try {
      load(await file.text(), file.name, null);
    } catch (err) {
      notices.fail(`Could not read ${file.name}`, err);
    }
  }

  /** Desktop: saves through the native dialog. Browser: downloads the text as a .yaml file. */
  async function save(): Promise<void> {
    if (transport === 'browser') {
      download(text.value, fileName.value);
      savedText.value = text.value;
      return;
    }
    try {
      const saved = await lab.call('saveFile', { path: path.value, text: text.value });
      if (saved) {
        path.value = saved.path;
        fileName.value = baseName(saved.path);
        savedText.value = text.value;
      }
    } catch (err) {
      notices.fail('Could not save the file', err);
    }
  }

  /** Asks the editor to show and select a position. */
  function revealLine(line: number, column = 1): void {
    reveal.value = { line, column, nonce: (reveal.value?.nonce ?? 0) + 1 };
  }

  function setProblems(list: Problem[]): void {
    problems.value = list;
  }

  function setRunDiagnostics(list: Diagnostic[]): void {
    runDiagnostics.value = list;
  }

  return {
    text,
    fileName,
    path,
    examples,
    exampleName,
    problems,
    runDiagnostics,
    reveal,
    loadedVersion,
    dirty,
    errorCount,
    load,
    edit,
    loadExamples,
    openExample,
    openFile,
    openLocalFile,
    save,
    revealLine,
    setProblems,
    setRunDiagnostics,
  };
});

function baseName(p: string): string {
  return p.split(/[\\/]/).pop() || UNTITLED;
}

function download(content: string, name: string): void {
  const url = URL.createObjectURL(new Blob([content], { type: 'application/x-yaml' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = /\.ya?ml$/i.test(name) ? name : `${name}.yaml`;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
