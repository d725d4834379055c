/**
 * The one transport adapter of the contract (core/contract): Electron IPC (main/index.ts) and
 * `iommu-lab serve`'s WebSocket (main/serve/server.ts) both hand their raw calls to
 * {@link serveContract}, which validates them with `validateParams`, answers them from a LabApi
 * (or a transport's own handler for a method such as openFile/saveFile), maps every error to
 * `{message, path}` the same way, and forwards every notification of `NOTIFICATIONS` until the
 * transport closes. What stays in each transport is only what differs: framing (IPC invoke, JSON
 * frames with ids), who may call (Electron's sender-frame origin check; serve's token, Host and
 * Origin checks, done before a connection exists) and where a notification goes.
 */
import {
  ContractError,
  NOTIFICATIONS,
  validateParams,
  type LabApi,
  type Method,
  type NotificationName,
  type Notifications,
  type Params,
  type Results,
} from '../../core/contract/index.ts';

/** The answer to one call, as data: errors keep their field path ("/runId"; "" when none). */
export type ContractReply = { ok: true; result: unknown } | { ok: false; error: ContractErrorData };

/** A call's error as it crosses a transport: the message and the offending field path ("" when none). */
export interface ContractErrorData {
  message: string;
  path: string;
}

/** One transport's side of {@link serveContract}. */
export interface ContractTransport {
  /**
   * Registers the handler of incoming calls. The transport passes the method name and params exactly
   * as received (unvalidated) and sends back the reply; the handler's promise never rejects.
   */
  onCall(handler: (method: unknown, params: unknown) => Promise<ContractReply>): void;
  /** Delivers one notification to the other side (dropped silently when it cannot be delivered). */
  notify<N extends NotificationName>(name: N, payload: Notifications[N]): void;
  /** Registers `cb` to run once when the transport closes (a socket closing, the app quitting). */
  onClose(cb: () => void): void;
}

/** A transport's own answer to a method, instead of the LabApi's (params already validated). */
export type LocalHandlers = { [M in Method]?: (params: Params<M>) => Promise<Results[M]> | Results[M] };

/** The `{message, path}` of any thrown value: a ContractError's field path, "" for anything else. */
export function contractErrorData(err: unknown): ContractErrorData {
  return { message: err instanceof Error ? err.message : String(err), path: err instanceof ContractError ? err.path : '' };
}

/**
 * Serves `api` over `transport`: every call is validated (`validateParams`; an unknown method or a
 * bad param answers `{ok: false, error: {message, path}}` with the field path) and answered by
 * `local[method]` when given, else by `api.call`; a handler's error answers the same way (path "").
 * Subscribes to every notification of `NOTIFICATIONS` and forwards each payload with
 * `transport.notify`; unsubscribes when the transport closes or the returned disposer is called
 * (idempotent).
 */
export function serveContract(api: LabApi, transport: ContractTransport, local: LocalHandlers = {}): () => void {
  transport.onCall(async (method, params) => {
    try {
      const call = validateParams(method, params);
      const own = local[call.method] as ((p: unknown) => Promise<unknown> | unknown) | undefined;
      const result = own ? await own(call.params) : await api.call(call.method, call.params);
      return { ok: true, result };
    } catch (err) {
      return { ok: false, error: contractErrorData(err) };
    }
  });
  let unsubs: (() => void)[] | null = NOTIFICATIONS.map((name) => api.listen(name, (payload) => transport.notify(name, payload)));
  const dispose = (): void => {
    if (unsubs === null) return;
    for (const u of unsubs) u();
    unsubs = null;
  };
  transport.onClose(dispose);
  return dispose;
}
