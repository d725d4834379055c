/**
 * Remembered pane sizes of one splitpanes layout: sizes in percent of the container, kept in
 * localStorage under `iommu-lab.panes.<name>` (as VS Code keeps its layout across reloads). A
 * stored value with the wrong number of panes, non-numbers or a sum far from 100 is ignored, so a
 * layout that gained a pane starts from its defaults.
 */
import { ref, type Ref } from 'vue';

const PREFIX = 'iommu-lab.panes.';

/** What {@link usePaneSizes} returns: the sizes to bind to each Pane's `size`, and the `resized` handler. */
export interface PaneSizes {
  sizes: Ref<number[]>;
  onResized(payload: { panes: { size: number }[] }): void;
}

/** Reads the stored sizes of `name` (or null when absent or unusable). */
export function readPaneSizes(name: string, count: number): number[] | null {
  try {
    const v: unknown = JSON.parse(localStorage.getItem(PREFIX + name) ?? 'null');
    if (!Array.isArray(v) || v.length !== count || !v.every((x) => typeof x === 'number' && Number.isFinite(x) && x >= 0)) return null;
    const sum = (v as number[]).reduce((a, b) => a + b, 0);
    return Math.abs(sum - 100) < 1 ? (v as number[]) : null;
  } catch {
    return null;
  }
}

/** Sizes of the layout `name`, from storage or `defaults` (percentages summing to 100). */
export function usePaneSizes(name: string, defaults: number[]): PaneSizes {
  const sizes = ref(readPaneSizes(name, defaults.length) ?? [...defaults]);
  function onResized(payload: { panes: { size: number }[] }): void {
    const next = payload.panes.map((p) => Math.round(p.size * 100) / 100);
    if (next.length !== defaults.length) return;
    sizes.value = next;
    try {
      localStorage.setItem(PREFIX + name, JSON.stringify(next));
    } catch {
      // Storage full or disabled: the layout still works, it is just not remembered.
    }
  }
  return { sizes, onResized };
}
