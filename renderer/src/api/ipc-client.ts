/** LabApi over Electron IPC: a thin adapter from the contract's call/listen to `window.iommuLab`. */
import type { LabApi, Method, NotificationName, Notifications, Params, Results } from '../../../core/contract/index.ts';
import type { IommuLabBridge } from './bridge.ts';

/** Wraps the preload bridge as a LabApi. */
export function ipcClient(bridge: IommuLabBridge): LabApi {
  return {
    call<M extends Method>(method: M, params: Params<M>): Promise<Results[M]> {
      const fn = bridge[method] as (p: Params<M>) => Promise<Results[M]>;
      return fn(params);
    },
    listen<N extends NotificationName>(name: N, handler: (payload: Notifications[N]) => void): () => void {
      return bridge.listen(name, handler);
    },
  };
}
