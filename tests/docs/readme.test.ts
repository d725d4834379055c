import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { README, renderReadme } from './readme.ts';

describe('README', () => {
  const text = readFileSync(README, 'utf8');

  it('carries the scenario format reference generated from the schema (run `npm run docs` to refresh)', () => {
    expect(text).toBe(renderReadme(text));
  });

  it.each(['npm install', 'npm start', 'npm test'])('shows the set-up command %s', (cmd) => {
    expect(text).toContain(cmd);
  });
});
