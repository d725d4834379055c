/**
 * Keeps README.md's scenario format reference in sync with the schema: the text between the
 * `scenario-reference` markers is exactly `scenarioReferenceMarkdown()`. `npm run docs` rewrites it;
 * tests/docs/readme.test.ts fails when it is stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { scenarioReferenceMarkdown } from '../../core/scenario/index.ts';

export const README = fileURLToPath(new URL('../../README.md', import.meta.url));
const START = '<!-- scenario-reference:start -->';
const END = '<!-- scenario-reference:end -->';

/** Returns the README text with the generated reference between the markers; throws if they are missing. */
export function renderReadme(readme: string): string {
  const a = readme.indexOf(START);
  const b = readme.indexOf(END);
  if (a < 0 || b < a) throw new Error(`README.md: missing ${START} … ${END} markers`);
  return `${readme.slice(0, a + START.length)}\n${scenarioReferenceMarkdown().trim()}\n${readme.slice(b)}`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(README, renderReadme(readFileSync(README, 'utf8')));
  console.log('README.md scenario reference updated');
}
