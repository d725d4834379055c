/**
 * The shape of `window.iommuLab` exposed by preload/index.ts (Electron only): one function per
 * contract method and two notification subscriptions returning an unsubscribe.
 */
import type { Method, Notifications, Params, Results } from '../../../core/contract/index.ts';

/** `window.iommuLab` as preload exposes it. */
export type IommuLabBridge = { [M in Method]: (params: Params<M>) => Promise<Results[M]> } & {
  onRunProgress(cb: (p: Notifications['runProgress']) => void): () => void;
  onRunFinished(cb: (p: Notifications['runFinished']) => void): () => void;
};

declare global {
  interface Window {
    /** Present in the Electron window only. */
    iommuLab?: IommuLabBridge;
  }
}
