/**
 * Window-wide shortcuts: Ctrl/Cmd+Enter runs the scenario, Escape cancels the run in flight,
 * Ctrl/Cmd+1/2/3 show the workbench / compare / SQL views (useHotkeys); New, Open, Save and Save As for the edited document (useDocumentHotkeys).
 * Listens in the capture phase so Ctrl+Enter wins over Monaco's "insert line below"; Escape is
 * only taken while a run is in flight (Monaco needs it for its widgets otherwise).
 */
import { onBeforeUnmount, onMounted } from 'vue';

/** Handlers of {@link useHotkeys}. */
export interface Hotkeys {
  run(): void;
  cancel(): void;
  /** Whether Escape should cancel right now. */
  canCancel(): boolean;
  /** Ctrl/Cmd+1…9: show the n-th top-level view (0-based, stores/view.ts APP_VIEWS order). */
  showView?(n: number): void;
}

/** Installs the shortcuts for the lifetime of the calling component. */
export function useHotkeys(keys: Hotkeys): void {
  const onKey = (e: KeyboardEvent): void => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey) && !e.altKey && !e.shiftKey) {
      e.preventDefault();
      e.stopPropagation();
      keys.run();
    } else if (keys.showView && (e.ctrlKey || e.metaKey) && !e.altKey && !e.shiftKey && /^[1-9]$/.test(e.key)) {
      e.preventDefault();
      e.stopPropagation();
      keys.showView(Number(e.key) - 1);
    } else if (e.key === 'Escape' && keys.canCancel()) {
      keys.cancel();
    }
  };
  onMounted(() => window.addEventListener('keydown', onKey, true));
  onBeforeUnmount(() => window.removeEventListener('keydown', onKey, true));
}

/** Handlers of {@link useDocumentHotkeys}. */
export interface DocumentKeys {
  /** Ctrl/Cmd+N. */
  newDocument(): void;
  /** Ctrl/Cmd+O. */
  open(): void;
  /** Ctrl/Cmd+S. */
  save(): void;
  /** Ctrl/Cmd+Shift+S. */
  saveAs(): void;
  /** Whether the document has unsaved edits (closing or reloading the page asks first). */
  dirty(): boolean;
}

/**
 * The editor's file shortcuts, New / Open / Save / Save As, for the lifetime of the calling
 * component, and the close/reload guard. Listens in the capture phase and calls preventDefault, so
 * they win over Monaco's bindings and the browser's own (Save page, Open file). A browser tab
 * never receives Ctrl+N (the browser opens a window first): the toolbar's New button is the way
 * there; the Electron window and headless Chromium get it.
 *
 * The guard is `beforeunload` with preventDefault: browsers then ask "Leave site?"; Electron
 * cancels the close and emits `will-prevent-unload` in the main process, which asks.
 */
export function useDocumentHotkeys(keys: DocumentKeys): void {
  const onKey = (e: KeyboardEvent): void => {
    if (!(e.ctrlKey || e.metaKey) || e.altKey) return;
    const k = e.key.toLowerCase();
    let action: (() => void) | null = null;
    if (k === 's') action = e.shiftKey ? keys.saveAs : keys.save;
    else if (k === 'n' && !e.shiftKey) action = keys.newDocument;
    else if (k === 'o' && !e.shiftKey) action = keys.open;
    if (!action) return;
    e.preventDefault();
    e.stopPropagation();
    if (!e.repeat) action();
  };
  const onBeforeUnload = (e: BeforeUnloadEvent): void => {
    if (!keys.dirty()) return;
    e.preventDefault();
    // Older Chromium (and so some Electron versions) still need returnValue set.
    e.returnValue = '';
  };
  onMounted(() => {
    window.addEventListener('keydown', onKey, true);
    window.addEventListener('beforeunload', onBeforeUnload);
  });
  onBeforeUnmount(() => {
    window.removeEventListener('keydown', onKey, true);
    window.removeEventListener('beforeunload', onBeforeUnload);
  });
}
