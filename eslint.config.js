// ESLint flat config. The import-boundary rules are the point of this file (STYLE.md §1, VS Code's
// layering): core/ is pure (no electron, node:*, better-sqlite3, DOM globals), the renderer never
// imports main/ or Node, preload imports only electron and the contract.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import pluginVue from 'eslint-plugin-vue';
import globals from 'globals';

// Bare built-in names go in `paths` (exact match); gitignore-style `patterns` would also match our
// own folders (e.g. core/events).
const NODE_BUILTIN_PATHS = ['fs', 'path', 'os', 'child_process', 'worker_threads', 'crypto', 'http', 'net', 'url', 'util', 'events', 'stream'];
const NODE_BUILTINS = ['node:*'];

export default tseslint.config(
  { ignores: ['out/**', 'dist/**', 'node_modules/**', 'test-results/**', '.tmp/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  ...pluginVue.configs['flat/recommended'],
  {
    files: ['**/*.vue'],
    languageOptions: { parserOptions: { parser: tseslint.parser, extraFileExtensions: ['.vue'] } },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'vue/multi-word-component-names': 'off',
      'vue/max-attributes-per-line': 'off',
      'vue/singleline-html-element-content-newline': 'off',
      'vue/html-self-closing': 'off',
      'vue/html-indent': 'off',
      'vue/html-closing-bracket-newline': 'off',
      'vue/multiline-html-element-content-newline': 'off',
      'vue/first-attribute-linebreak': 'off',
    },
  },
  {
    files: ['main/**', 'preload/**', 'tests/**', '*.config.*', '.ci/**'],
    languageOptions: { globals: { ...globals.node } },
  },
  {
    // core/: pure. No Node, Electron, SQLite or DOM — it runs unchanged in the worker, tests, CLI and browser.
    files: ['core/**/*.ts'],
    languageOptions: { globals: { ...globals['shared-node-browser'] } },
    rules: {
      'no-restricted-imports': ['error', {
        paths: NODE_BUILTIN_PATHS.map((name) => ({ name, message: 'core/ is pure: no Node built-ins.' })),
        patterns: [
          { group: NODE_BUILTINS, message: 'core/ is pure: no Node built-ins (see core/README.md).' },
          { group: ['electron', 'electron/*'], message: 'core/ may not import electron.' },
          { group: ['better-sqlite3'], message: 'core/ may not import better-sqlite3.' },
          { group: ['**/main/**', '**/renderer/**', '**/preload/**', 'vue', 'pinia', 'monaco-editor', 'monaco-editor/*'], message: 'core/ may not import main, renderer, preload or UI libraries.' },
        ],
      }],
      'no-restricted-globals': ['error', 'window', 'document', 'navigator', 'localStorage', 'process', 'Buffer', 'require'],
    },
  },
  {
    // renderer/: browser only; talks to the lab through the contract, never to main/ or Node.
    files: ['renderer/**/*.{ts,vue}'],
    languageOptions: { globals: { ...globals.browser } },
    rules: {
      'no-restricted-imports': ['error', {
        paths: NODE_BUILTIN_PATHS,
        patterns: [
          { group: ['**/main/**', '**/preload/**'], message: 'The renderer may not import main/ or preload/: use the contract (core/contract).' },
          { group: [...NODE_BUILTINS, 'electron', 'better-sqlite3'], message: 'The renderer may not import Node, Electron or SQLite.' },
        ],
      }],
    },
  },
  {
    // preload/: the context bridge only.
    files: ['preload/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: NODE_BUILTIN_PATHS,
        patterns: [{ group: ['**/main/**', '**/renderer/**', 'better-sqlite3', ...NODE_BUILTINS], message: 'preload/ exposes the contract only.' }],
      }],
    },
  },
);
