/**
 * The top-level view of the window (issue 9 §3): the workbench (editor, runs, events), the compare
 * view (two or more runs side by side) or the SQL console. Switched by the toolbar's tabs and
 * Ctrl/Cmd+1/2/3 (composables/useHotkeys.ts); other stores switch it to show what they opened
 * (the compare store's `open`, "Open in A/B" back to the workbench).
 */
import { defineStore } from 'pinia';
import { ref } from 'vue';

/** A top-level view. */
export type AppView = 'workbench' | 'compare' | 'sql';

/** The views the toolbar offers, in tab order (Ctrl/Cmd+1 is the first). */
export const APP_VIEWS: readonly AppView[] = ['workbench', 'compare', 'sql'];

/** Each view's tab label. */
export const VIEW_LABELS: Record<AppView, string> = { workbench: 'Workbench', compare: 'Compare', sql: 'SQL' };

/** Which top-level view the window shows. */
export const useViewStore = defineStore('view', () => {
  const view = ref<AppView>('workbench');

  /** Shows view `v`. */
  function show(v: AppView): void {
    view.value = v;
  }

  /** Shows the n-th view of APP_VIEWS (0-based; Ctrl/Cmd+1 is 0); ignored past the end. */
  function showNth(n: number): void {
    const v = APP_VIEWS[n];
    if (v) view.value = v;
  }

  return { view, show, showNth };
});
