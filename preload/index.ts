/**
 * The context bridge (STYLE.md §7, VS Code's preload): exposes `window.iommuLab` with exactly one
 * function per contract method plus `listen(name, cb)` for the notifications (any name of the
 * contract's NOTIFICATIONS; main sends each as `lab:event`). Nothing else crosses: the raw
 * `ipcRenderer` is never exposed, and every call goes through main's `validateParams`.
 *
 * Sandboxed preloads are CommonJS and can only `require('electron')`, so this file imports the
 * contract for types only.
 */
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import type { Method, NotificationName, Notifications, Params, Results } from '../core/contract/index.ts';

/** What main's `lab:call` handler answers: errors travel as data so their field path survives IPC. */
type Reply<T> = { ok: true; result: T } | { ok: false; error: { message: string; path: string } };

/** A contract error re-thrown in the renderer, with the offending field path ("/runId"). */
class LabCallError extends Error {
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(message);
    this.name = 'LabCallError';
  }
}

function method<M extends Method>(name: M): (params: Params<M>) => Promise<Results[M]> {
  return async (params) => {
    const reply = (await ipcRenderer.invoke('lab:call', name, params)) as Reply<Results[M]>;
    if (reply.ok) return reply.result;
    // contextBridge copies only an Error's message across worlds; validateParams already puts the
    // field path in it ("getRun: invalid params at /runId: …").
    throw new LabCallError(reply.error.message, reply.error.path);
  };
}

/**
 * Subscribes `cb` to the notification `name` (main's serveContract sends every one of NOTIFICATIONS
 * as `lab:event`, name, payload); returns the unsubscribe. The name is only compared, so this needs
 * no list of its own (importing the contract's would bundle its schemas into the preload).
 */
function listen<N extends NotificationName>(name: N, cb: (payload: Notifications[N]) => void): () => void {
  const listener = (_e: IpcRendererEvent, event: unknown, payload: Notifications[N]): void => {
    if (event === name) cb(payload);
  };
  ipcRenderer.on('lab:event', listener);
  return () => {
    ipcRenderer.removeListener('lab:event', listener);
  };
}

/** The bridge as the renderer sees it (`window.iommuLab`); renderer/src/api/bridge.ts mirrors it. */
const bridge = {
  listExamples: method('listExamples'),
  readExample: method('readExample'),
  startRun: method('startRun'),
  cancelRun: method('cancelRun'),
  listRuns: method('listRuns'),
  getRun: method('getRun'),
  queryEvents: method('queryEvents'),
  getEventDetail: method('getEventDetail'),
  locateEvent: method('locateEvent'),
  listComponents: method('listComponents'),
  getCausedEvents: method('getCausedEvents'),
  getHostObjects: method('getHostObjects'),
  getIovaSpace: method('getIovaSpace'),
  followBuffer: method('followBuffer'),
  openFile: method('openFile'),
  saveFile: method('saveFile'),
  importTrace: method('importTrace'),
  cancelImport: method('cancelImport'),
  startReplay: method('startReplay'),
  getTimeSeries: method('getTimeSeries'),
  exportRun: method('exportRun'),
  sqlQuery: method('sqlQuery'),
  sqlCancel: method('sqlCancel'),
  sqlSchema: method('sqlSchema'),
  compareRuns: method('compareRuns'),
  exportComparison: method('exportComparison'),
  listen,
} satisfies { [M in Method]: (params: Params<M>) => Promise<Results[M]> } & Record<string, unknown>;

/** Type of `window.iommuLab`. */
export type IommuLabBridge = typeof bridge;

contextBridge.exposeInMainWorld('iommuLab', bridge);
