/**
 * The document being edited, as an editor holds it: its name, its file (a desktop path, or none in
 * the browser and for untitled documents), its text and the text last saved, plus the shipped
 * examples and the problems list (Monaco's markers: the core's checks while typing and the
 * diagnostics a refused startRun returned, one entry per problem).
 *
 * New / Open / the examples picker replace the document, asking first (`confirmDiscard`, a
 * window.confirm) when it has unsaved edits; Save writes it back (desktop: contract `saveFile`,
 * whose null path asks with a dialog; browser: a download). The Monaco editor itself lives in
 * components/ScenarioEditor.vue and follows `loadedVersion`; this store only asks it to reveal a line.
 */
import { defineStore } from 'pinia';
import { computed, ref, shallowRef } from 'vue';
import type { Diagnostic } from '../../../core/contract/index.ts';
import { lab, transport } from '../api/index.ts';
import { mergeProblems, type Problem } from '../editor/problems.ts';
import { useNoticesStore } from './notices.ts';
import { downloadText } from '../download.ts';

export { mergeProblems, problemKey, type Problem } from '../editor/problems.ts';

/** Where the editor should go next; `nonce` makes repeated requests for one line distinct. */
export interface RevealRequest {
  line: number;
  column: number;
  nonce: number;
}

/** What New puts in an untitled document: a runnable scenario to grow. */
export function starterScenario(name: string): string {
  return `# Ctrl+Space completes keys, device names and domains.
name: ${name.replace(/\.ya?ml$/i, '')}
viommu: {model: virtio-iommu}
devices:
  - {name: nic0, bdf: "00:03.0"}
steps:
  - attach: {domain: 1, endpoint: nic0}
    expect: OK
`;
}

/** The question asked before unsaved edits are dropped. */
export function discardQuestion(name: string): string {
  return `${name} has unsaved changes. Discard them?`;
}

const YAML_NAME = /\.ya?ml$/i;
const withYaml = (name: string) => (YAML_NAME.test(name) ? name : `${name}.yaml`);

/** The edited document. */
export const useScenarioStore = defineStore('scenario', () => {
  const notices = useNoticesStore();

  const text = ref('');
  /** Display name ("quickstart.yaml", "untitled-1.yaml"); the run's `file` when there is no path. */
  const fileName = ref('');
  /** Desktop path from the native dialogs (null in the browser, for examples and untitled documents). */
  const path = ref<string | null>(null);
  /** The text as last loaded or saved: `dirty` compares against it. */
  const savedText = ref('');
  /** How many untitled documents New has made (names untitled-1.yaml, untitled-2.yaml, …). */
  const untitledCount = ref(0);
  const examples = ref<{ name: string; title: string; group?: string; line?: string }[]>([]);
  /** The shipped example the document came from (null for files, untitled and run scenarios). */
  const exampleName = ref<string | null>(null);
  /** The editor's markers, as the editor reported them. */
  const markerProblems = shallowRef<Problem[]>([]);
  /** Diagnostics from the last refused startRun; cleared on the next edit. */
  const runDiagnostics = shallowRef<Diagnostic[]>([]);
  const problems = computed(() => mergeProblems(markerProblems.value, runDiagnostics.value));
  const reveal = ref<RevealRequest | null>(null);
  /** Bumped whenever the text is replaced from outside the editor (new, open, example, run scenario). */
  const loadedVersion = ref(0);

  const dirty = computed(() => text.value !== savedText.value);
  const errorCount = computed(() => problems.value.filter((p) => p.severity === 'error').length);
  /** What startRun records as the run's file: the document's path, else its name. */
  const runFile = computed(() => path.value ?? (fileName.value || 'untitled.yaml'));

  /** Replaces the document (the editor follows `loadedVersion`). Does not ask: see confirmDiscard. */
  function load(newText: string, name: string, newPath: string | null, example: string | null = null): void {
    exampleName.value = example;
    text.value = newText;
    savedText.value = newText;
    fileName.value = name;
    path.value = newPath;
    runDiagnostics.value = [];
    notices.clearTopic('scenario');
    loadedVersion.value++;
  }

  /**
   * True when the document may be replaced: it has no unsaved edits, or the user agreed to drop
   * them (window.confirm, so the desktop and the browser ask the same way).
   */
  function confirmDiscard(): boolean {
    return !dirty.value || window.confirm(discardQuestion(fileName.value));
  }

  /** Called by the editor on every change. */
  function edit(newText: string): void {
    if (newText === text.value) return;
    text.value = newText;
    if (runDiagnostics.value.length) runDiagnostics.value = [];
    notices.clearTopic('scenario');
  }

  /** New (Ctrl/Cmd+N): an untitled document with a starter scenario. */
  function newDocument(): boolean {
    if (!confirmDiscard()) return false;
    untitledCount.value++;
    const name = `untitled-${untitledCount.value}.yaml`;
    load(starterScenario(name), name, null);
    return true;
  }

  /** Fetches the example list; opens the quickstart when nothing is loaded yet. */
  async function loadExamples(): Promise<void> {
    try {
      examples.value = await lab.call('listExamples', {});
      if (fileName.value === '' && text.value === '' && examples.value.length) {
        const first = examples.value.find((e) => e.name.startsWith('quickstart')) ?? examples.value[0];
        await openExample(first.name, false);
      }
    } catch (err) {
      notices.fail('Could not list the examples', err);
    }
  }

  /** Loads a shipped example, asking first when the document has unsaved edits. False when not loaded. */
  async function openExample(name: string, ask = true): Promise<boolean> {
    if (ask && !confirmDiscard()) return false;
    try {
      const ex = await lab.call('readExample', { name });
      load(ex.text, withYaml(ex.name), null, ex.name);
      return true;
    } catch (err) {
      notices.fail(`Could not open example ${name}`, err);
      return false;
    }
  }

  /** Desktop: the native open dialog, after asking about unsaved edits. (The browser uses openLocalFile.) */
  async function openFile(): Promise<void> {
    if (!confirmDiscard()) return;
    try {
      const picked = await lab.call('openFile', {});
      if (picked) load(picked.text, baseName(picked.path), picked.path);
    } catch (err) {
      notices.fail('Could not open the file', err);
    }
  }

  /** Browser: a file picked with <input type=file> (the caller asked about unsaved edits first). */
  async function openLocalFile(file: File): Promise<void> {
    try {
      load(await file.text(), file.name, null);
    } catch (err) {
      notices.fail(`Could not read ${file.name}`, err);
    }
  }

  /**
   * Save (Ctrl/Cmd+S). Desktop: writes the document's file, or asks where with the save dialog when
   * it has none (untitled, example). Browser (serve answers null): downloads it as its name.
   */
  async function save(): Promise<void> {
    await write(path.value);
  }

  /** Save As (Ctrl/Cmd+Shift+S): always asks where (desktop dialog; browser: a name for the download). */
  async function saveAs(): Promise<void> {
    if (transport === 'browser') {
      const name = window.prompt('Download as', fileName.value);
      if (!name) return;
      fileName.value = withYaml(baseName(name));
      exampleName.value = null;
    }
    await write(null);
  }

  async function write(target: string | null): Promise<void> {
    const content = text.value;
    try {
      const saved = transport === 'electron' ? await lab.call('saveFile', { path: target, text: content, name: path.value ?? withYaml(fileName.value || 'untitled') }) : null;
      if (saved) {
        path.value = saved.path;
        fileName.value = baseName(saved.path);
        exampleName.value = null;
      } else if (transport === 'browser') {
        downloadText(content, withYaml(fileName.value || 'untitled.yaml'), 'application/x-yaml');
      } else {
        return; // the save dialog was cancelled
      }
      savedText.value = content;
    } catch (err) {
      notices.fail(`Could not save ${fileName.value}`, err);
    }
  }

  /** Asks the editor to show and select a position. */
  function revealLine(line: number, column = 1): void {
    reveal.value = { line, column, nonce: (reveal.value?.nonce ?? 0) + 1 };
  }

  /** Called by the editor whenever its markers change. */
  function setProblems(list: Problem[]): void {
    markerProblems.value = list;
  }

  function setRunDiagnostics(list: Diagnostic[]): void {
    runDiagnostics.value = list;
  }

  return {
    text,
    fileName,
    path,
    savedText,
    untitledCount,
    examples,
    exampleName,
    problems,
    runDiagnostics,
    reveal,
    loadedVersion,
    dirty,
    errorCount,
    runFile,
    load,
    confirmDiscard,
    edit,
    newDocument,
    loadExamples,
    openExample,
    openFile,
    openLocalFile,
    save,
    saveAs,
    revealLine,
    setProblems,
    setRunDiagnostics,
  };
});

function baseName(p: string): string {
  return p.split(/[\\/]/).pop() || 'untitled.yaml';
}
