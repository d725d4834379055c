/**
 * The YAML language server the editor runs (monaco-yaml's worker bundle, yaml-language-server
 * inside), loaded in Node so tests can ask it for hovers and completions exactly as Monaco does.
 *
 * The bundle starts itself through `monaco-worker-manager/worker`'s `initialize(factory)`; a
 * resolve hook swaps that module for one that hands the factory back, and maps `path-browserify`
 * (a CommonJS package the browser build gets through Vite's interop) to `node:path`.
 */
import * as nodeModule from 'node:module';
import type { JsonSchema } from '../../../core/scenario/index.ts';

const STUB = 'data:text/javascript,export function initialize(fn){globalThis.__iommuLabYamlWorkerFactory=fn}';

type Hover = { contents: { kind: string; value: string } } | null;
type Completion = { items: { label: string; documentation?: string | { value: string }; detail?: string }[] };

/** The language service of one document (line and character are 0-based, as in LSP). */
export interface YamlLanguageService {
  hover(line: number, character: number): Promise<string | null>;
  complete(line: number, character: number): Promise<Completion['items']>;
}

let loaded: Promise<(ctx: unknown, data: unknown) => Record<string, (...args: unknown[]) => Promise<unknown>>> | undefined;

function load(): NonNullable<typeof loaded> {
  loaded ??= (async () => {
    const redirect = (specifier: string): string | null => (specifier === 'monaco-worker-manager/worker' ? STUB : specifier === 'path-browserify' ? 'node:path' : null);
    if (typeof nodeModule.registerHooks === 'function') {
      nodeModule.registerHooks({
        resolve(specifier, context, next) {
          const url = redirect(specifier);
          return url ? { url, shortCircuit: true } : next(specifier, context);
        },
      });
    } else {
      // Node < 22.15: the asynchronous loader hooks (same mapping).
      const hooks = `export async function resolve(s, c, n) { if (s === 'monaco-worker-manager/worker') return { url: ${JSON.stringify(STUB)}, shortCircuit: true }; if (s === 'path-browserify') return { url: 'node:path', shortCircuit: true }; return n(s, c); }`;
      nodeModule.register(`data:text/javascript,${encodeURIComponent(hooks)}`);
    }
    await import('monaco-yaml/yaml.worker.js');
    const factory = (globalThis as { __iommuLabYamlWorkerFactory?: unknown }).__iommuLabYamlWorkerFactory;
    if (typeof factory !== 'function') throw new Error('monaco-yaml/yaml.worker.js did not call initialize()');
    return factory as Awaited<NonNullable<typeof loaded>>;
  })();
  return loaded;
}

let documents = 0;

/** A language service over `text` with `schema` (the settings editor/monaco.ts gives monaco-yaml). */
export async function yamlLanguageService(text: string, schema: JsonSchema): Promise<YamlLanguageService> {
  const factory = await load();
  // The service caches parsed documents by URI and version: one URI per text.
  const uri = `file:///iommu-lab/scenario-${++documents}.yaml`;
  const ctx = { getMirrorModels: () => [{ uri, version: 1, getValue: () => text }] };
  const ls = factory(ctx, { enableSchemaRequest: false, completion: true, hover: true, validate: true, format: { enable: false }, schemas: [{ fileMatch: ['*.yaml'], uri: 'https://iommu-lab.local/schema/scenario.json', schema }] });
  return {
    async hover(line, character) {
      const h = (await ls.doHover(uri, { line, character })) as Hover;
      return h ? h.contents.value : null;
    },
    async complete(line, character) {
      const c = (await ls.doComplete(uri, { line, character })) as Completion | null;
      return c?.items ?? [];
    },
  };
}
