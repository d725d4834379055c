/**
 * LabApi over `iommu-lab serve`'s WebSocket (main/serve/server.ts): {id, method, params} →
 * {id, result} | {id, error: {message, path}}, notifications as {event, payload}. Connects lazily,
 * queues calls while connecting, and fails every pending call when the socket closes.
 */
import type { LabApi, Method, NotificationName, Notifications, Params, Results } from '../../../core/contract/index.ts';
import { LabCallError } from './errors.ts';

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
}

/** Creates the client for `url` (ws://host:port/ws?token=…). */
export function wsClient(url: string): LabApi {
  let opened: Promise<WebSocket> | null = null;
  let nextId = 1;
  const pending = new Map<number, Pending>();
  const listeners = new Map<string, Set<(p: unknown) => void>>();

  function connect(): Promise<WebSocket> {
    if (opened) return opened;
    opened = new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.onopen = () => resolve(ws);
      ws.onmessage = (ev) => onMessage(String(ev.data));
      ws.onerror = () => reject(new LabCallError(`cannot reach the lab at ${new URL(url).host} (is iommu-lab serve still running?)`, ''));
      ws.onclose = () => {
        opened = null;
        for (const p of pending.values()) p.reject(new LabCallError('connection to the lab closed', ''));
        pending.clear();
      };
    });
    return opened;
  }

  function onMessage(text: string): void {
    const msg = JSON.parse(text) as { id?: number; result?: unknown; error?: { message: string; path: string }; event?: string; payload?: unknown };
    if (typeof msg.event === 'string') {
      for (const h of listeners.get(msg.event) ?? []) h(msg.payload);
      return;
    }
    if (typeof msg.id !== 'number') return;
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (msg.error) p.reject(new LabCallError(msg.error.message, msg.error.path));
    else p.resolve(msg.result);
  }

  return {
    async call<M extends Method>(method: M, params: Params<M>): Promise<Results[M]> {
      const ws = await connect();
      const id = nextId++;
      return new Promise<Results[M]>((resolve, reject) => {
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        ws.send(JSON.stringify({ id, method, params }));
      });
    },
    listen<N extends NotificationName>(name: N, handler: (payload: Notifications[N]) => void): () => void {
      let set = listeners.get(name);
      if (!set) listeners.set(name, (set = new Set()));
      const h = handler as (p: unknown) => void;
      set.add(h);
      void connect().catch(() => {});
      return () => {
        set.delete(h);
      };
    },
  };
}

