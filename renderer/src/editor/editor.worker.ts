// Monaco's base editor worker (diffing, word ranges, links), bundled by Vite as a module worker.
// The specifier goes through monaco-editor's package `exports` ("./*.js" → "./esm/vs/*.js").
import 'monaco-editor/editor/editor.worker.js';
