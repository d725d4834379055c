/**
 * Terminal escaping of untrusted text: scenario names, file names, diagnostics and event texts
 * come from scenario files and databases that anyone may have written, and a control character
 * reaching the terminal can move the cursor, rewrite lines, set the window title or hide text
 * (ESC [ … sequences, CSI 0x9b, OSC). Everything the CLI prints for humans passes through
 * `escapeLines` (or `escapeTerminal` for one field); JSON output through `escapeJsonOutput`.
 *
 * Escaped: C0 controls (U+0000–U+001F), DEL (U+007F), C1 controls (U+0080–U+009F), the line and
 * paragraph separators (U+2028, U+2029) and the bidirectional overrides and isolates (U+202A–U+202E,
 * U+2066–U+2069, which reorder what is shown: "Trojan Source", CVE-2021-42574). Tab, LF and CR are
 * shown as \t, \n, \r; others as \xNN (up to U+00FF) or \u{NNNN}.
 */

// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
// The same set without LF (line structure of multi-line output is kept).
// eslint-disable-next-line no-control-regex
const UNSAFE_BUT_LF = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Readonly<Record<string, string>> = { '\t': '\\t', '\n': '\\n', '\r': '\\r' };

function escapeChar(c: string): string {
  const named = NAMED[c];
  if (named) return named;
  const code = c.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
}

/** `text` as one line safe to print on a terminal (every unsafe character escaped, LF included). */
export function escapeTerminal(text: string): string {
  return text.replace(UNSAFE, escapeChar);
}

/** `text` safe to print on a terminal, keeping its line feeds (for multi-line reports). */
export function escapeLines(text: string): string {
  return text.replace(UNSAFE_BUT_LF, escapeChar);
}

/**
 * JSON text safe for a terminal: JSON.stringify already escapes C0 controls inside strings, but not
 * DEL, C1, separators or bidi controls; those can only occur inside strings, where "\uNNNN" is
 * the same JSON value.
 */
export function escapeJsonOutput(json: string): string {
  return json.replace(/[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
