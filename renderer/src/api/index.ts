/**
 * The renderer's one way to the lab: the contract's LabApi over whichever transport this page has —
 * Electron IPC (`window.iommuLab`, from preload) or, in a browser, `iommu-lab serve`'s WebSocket
 * (token from `?token=` in the page URL, socket on the page's own host at /ws).
 */
import type { LabApi } from '../../../core/contract/index.ts';
import { ipcClient } from './ipc-client.ts';
import { wsClient } from './ws-client.ts';

/** Which transport is in use: the desktop app or a browser against `iommu-lab serve`. */
export const transport: 'electron' | 'browser' = window.iommuLab ? 'electron' : 'browser';

function browserUrl(): string {
  const token = new URLSearchParams(location.search).get('token') ?? '';
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/ws?token=${encodeURIComponent(token)}`;
}

/** The lab. */
export const lab: LabApi = window.iommuLab ? ipcClient(window.iommuLab) : wsClient(browserUrl());
