import { describe, expect, test } from 'vitest';
import type { Diagnostic } from '../../../core/contract/index.ts';
import { mergeProblems, type Problem } from '../../../renderer/src/editor/problems.ts';

const UNKNOWN = 'steps.0.attach.endpoint: unknown endpoint "nic9"; devices: nic0 (or write a PCI address "bb:dd.f")';
const marker = (line: number, column: number, message: string, source = 'scenario', severity: Problem['severity'] = 'error'): Problem => ({ severity, line, column, message, source, sources: [source] });
const diag = (line: number, column: number, message: string, severity: Diagnostic['severity'] = 'error'): Diagnostic => ({ file: 's.yaml', line, column, endLine: line, endColumn: column + 4, severity, message });

describe('mergeProblems', () => {
  test('a problem the editor shows and the run reports again is one entry, found by both', () => {
    const merged = mergeProblems([marker(6, 35, UNKNOWN)], [diag(6, 35, UNKNOWN)]);
    expect(merged).toEqual([{ severity: 'error', line: 6, column: 35, message: UNKNOWN, source: 'scenario', sources: ['scenario', 'run'] }]);
  });

  test('the same marker from two owners is one entry', () => {
    expect(mergeProblems([marker(6, 35, UNKNOWN), marker(6, 35, UNKNOWN, 'run')], [])).toEqual([{ ...marker(6, 35, UNKNOWN), sources: ['scenario', 'run'] }]);
  });

  test('different position, message or severity are different problems, listed by position', () => {
    const merged = mergeProblems([marker(9, 1, 'b'), marker(6, 35, UNKNOWN)], [diag(6, 35, UNKNOWN, 'warning'), diag(2, 3, 'a'), diag(6, 36, UNKNOWN)]);
    expect(merged.map((p) => [p.line, p.column, p.severity, p.sources.join(' ')])).toEqual([
      [2, 3, 'error', 'run'],
      [6, 35, 'error', 'scenario'],
      [6, 35, 'warning', 'run'],
      [6, 36, 'error', 'run'],
      [9, 1, 'error', 'scenario'],
    ]);
  });

  test('leaves its inputs alone', () => {
    const markers = [marker(6, 35, UNKNOWN)];
    mergeProblems(markers, [diag(6, 35, UNKNOWN)]);
    expect(markers[0].sources).toEqual(['scenario']);
  });
});
