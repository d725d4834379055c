/**
 * Window-wide shortcuts: Ctrl/Cmd+Enter runs the scenario, Escape cancels the run in flight.
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
}

/** Installs the shortcuts for the lifetime of the calling component. */
export function useHotkeys(keys: Hotkeys): void {
  const onKey = (e: KeyboardEvent): void => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey) && !e.altKey && !e.shiftKey) {
      e.preventDefault();
      e.stopPropagation();
      keys.run();
    } else if (e.key === 'Escape' && keys.canCancel()) {
      keys.cancel();
    }
  };
  onMounted(() => window.addEventListener('keydown', onKey, true));
  onBeforeUnmount(() => window.removeEventListener('keydown', onKey, true));
}
