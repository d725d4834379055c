// The core's scenario checks (core/scenario parseScenario: YAML, schema and semantic problems) off
// the UI thread, so a big document never stalls typing. One request at a time: { id, text, file }
// in, { id, diagnostics } out (editor/monaco.ts sends the latest text only).
import type { Diagnostic } from '../../../core/contract/index.ts';
import { parseScenario } from '../../../core/scenario/index.ts';

/** A check request. */
export interface CheckRequest {
  id: number;
  text: string;
  file: string;
}

/** Its answer. */
export interface CheckResult {
  id: number;
  diagnostics: Diagnostic[];
}

const scope = self as unknown as { onmessage: ((e: MessageEvent<CheckRequest>) => void) | null; postMessage(m: CheckResult): void };

scope.onmessage = (e) => {
  const { id, text, file } = e.data;
  let diagnostics: Diagnostic[];
  try {
    diagnostics = parseScenario(text, file).diagnostics;
  } catch (err) {
    // parseScenario never throws for bad input; an exception is a bug, shown rather than lost.
    diagnostics = [{ file, line: 1, column: 1, endLine: 1, endColumn: 1, severity: 'error', message: `internal error while checking the scenario: ${(err as Error).message}` }];
  }
  scope.postMessage({ id, diagnostics });
};
