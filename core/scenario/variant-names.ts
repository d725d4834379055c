/**
 * A scenario's variant names without parsing it as a scenario (light: the `yaml` package only, so
 * the renderer can import it too).
 */
import { isMap, isSeq, parseDocument } from 'yaml';

/**
 * The variant names of a scenario text — its `variants:` items' `name`s, in order — read without
 * validating anything (a replay asks for one run per variant: core/replay, `iommu-lab replay`,
 * the UI's Replay against…). [] when the text has no `variants:` list (or is not YAML); items
 * without a string name are skipped (the run's validation reports them).
 */
export function variantNames(text: string): string[] {
  let doc: ReturnType<typeof parseDocument>;
  try {
    doc = parseDocument(text, { uniqueKeys: false });
  } catch {
    return [];
  }
  const list = isMap(doc.contents) ? doc.contents.get('variants', true) : undefined;
  if (!isSeq(list)) return [];
  const out: string[] = [];
  for (const item of list.items) {
    const name = isMap(item) ? item.get('name') : undefined;
    if (typeof name === 'string' && name !== '') out.push(name);
  }
  return out;
}
