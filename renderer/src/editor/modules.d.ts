// Side-effect-only monaco entry points that ship without type declarations.
declare module 'monaco-editor/editor/editor.worker.js';
