/**
 * The shape of `window.iommuLab` exposed by preload/index.ts (Electron only): one function per
 * contract method and `listen` for the notifications (returning an unsubscribe).
 */
import type { Method, NotificationName, Notifications, Params, Results } from '../../../core/contract/index.ts';

/** `window.iommuLab` as preload exposes it. */
export type IommuLabBridge = { [M in Method]: (params: Params<M>) => Promise<Results[M]> } & {
  /** Subscribes to one notification of the contract's NOTIFICATIONS; returns the unsubscribe. */
  listen<N extends NotificationName>(name: N, cb: (payload: Notifications[N]) => void): () => void;
};

declare global {
  interface Window {
    /** Present in the Electron window only. */
    iommuLab?: IommuLabBridge;
  }
}
