// The import boundaries of STYLE.md §1 are enforced by eslint.config.js; these tests prove the rules
// fire (a rule that silently stopped matching would let core/ grow a Node dependency unnoticed).
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const eslint = new ESLint({ cwd: process.cwd() });

async function ruleIds(code: string, filePath: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return result.messages.map((m) => m.ruleId ?? m.message);
}

describe('import boundaries', () => {
  it.each([
    ["import fs from 'node:fs'; export const x = fs;", 'core/engine/probe.ts'],
    ["import { app } from 'electron'; export const x = app;", 'core/run/probe.ts'],
    ["import Database from 'better-sqlite3'; export const x = Database;", 'core/events/probe.ts'],
    ["import { EventEmitter } from 'events'; export const x = EventEmitter;", 'core/events/probe.ts'],
    ["import { LabService } from '../../main/service/lab-service.ts'; export const x = LabService;", 'core/run/probe.ts'],
  ])('core/ refuses %s', async (code, file) => {
    expect(await ruleIds(code, file)).toContain('no-restricted-imports');
  });

  it('core/ refuses DOM globals', async () => {
    expect(await ruleIds('export const x = document.title;', 'core/scenario/probe.ts')).toContain('no-restricted-globals');
  });

  it('the renderer may not import main/ or Node', async () => {
    expect(await ruleIds("import { x } from '../main/store/db.ts'; export const y = x;", 'renderer/probe.ts')).toContain('no-restricted-imports');
    expect(await ruleIds("import fs from 'node:fs'; export const y = fs;", 'renderer/probe.ts')).toContain('no-restricted-imports');
  });

  it('core/ may import its own files and yaml', async () => {
    expect(await ruleIds("import { parse } from 'yaml'; import { EVENT_CATALOG } from '../events/catalog.ts'; export const x = [parse, EVENT_CATALOG];", 'core/run/probe.ts')).toEqual([]);
  });
});
