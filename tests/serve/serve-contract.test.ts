// serveContract (main/service/serve-contract.ts), the one adapter behind Electron IPC and serve's
// WebSocket, over a fake transport: validation errors with their field path, handler errors, local
// handlers, notifications delivered, unsubscribed on close; and NOTIFICATIONS is complete.
import { describe, expect, it } from 'vitest';
import {
  NOTIFICATIONS,
  type LabApi,
  type Method,
  type NotificationName,
  type Notifications,
  type Params,
} from '../../core/contract/index.ts';
import { serveContract, type ContractReply, type ContractTransport } from '../../main/service/serve-contract.ts';

// Type-level: every NotificationName is in NOTIFICATIONS (the `satisfies` in core/contract checks
// the converse). A name missing from the list makes this `false` and fails tsc.
type Missing = Exclude<NotificationName, (typeof NOTIFICATIONS)[number]>;
const complete: [Missing] extends [never] ? true : false = true;

/** A LabApi whose calls are recorded and whose listeners the test can fire. */
function fakeApi(answer: (method: Method, params: unknown) => unknown = () => 'ok') {
  const calls: [Method, unknown][] = [];
  const listeners = new Map<NotificationName, Set<(p: unknown) => void>>();
  const api: LabApi = {
    async call<M extends Method>(method: M, params: Params<M>) {
      calls.push([method, params]);
      return answer(method, params) as never;
    },
    listen(name, handler) {
      let set = listeners.get(name);
      if (!set) listeners.set(name, (set = new Set()));
      const h = handler as (p: unknown) => void;
      set.add(h);
      return () => set.delete(h);
    },
  };
  const fire = <N extends NotificationName>(name: N, payload: Notifications[N]): void => {
    for (const h of listeners.get(name) ?? []) h(payload);
  };
  const listening = (): number => [...listeners.values()].reduce((n, s) => n + s.size, 0);
  return { api, calls, fire, listening };
}

/** A transport recording what it is given; `call` plays the other side, `close` closes it. */
function fakeTransport() {
  let handler: ((method: unknown, params: unknown) => Promise<ContractReply>) | null = null;
  const closers: (() => void)[] = [];
  const sent: [NotificationName, unknown][] = [];
  const transport: ContractTransport = {
    onCall: (h) => (handler = h),
    notify: (name, payload) => sent.push([name, payload]),
    onClose: (cb) => closers.push(cb),
  };
  return {
    transport,
    sent,
    call: (method: unknown, params: unknown) => handler!(method, params),
    close: () => closers.forEach((c) => c()),
  };
}

describe('serveContract', () => {
  it('lists every notification once', () => {
    expect(complete).toBe(true);
    expect(new Set(NOTIFICATIONS).size).toBe(NOTIFICATIONS.length);
  });

  it('answers a valid call from the api', async () => {
    const lab = fakeApi(() => ({ cancelled: true }));
    const t = fakeTransport();
    serveContract(lab.api, t.transport);
    expect(await t.call('cancelRun', { runId: 3 })).toEqual({ ok: true, result: { cancelled: true } });
    expect(lab.calls).toEqual([['cancelRun', { runId: 3 }]]);
  });

  it('refuses bad params and unknown methods with their field path, without calling the api', async () => {
    const lab = fakeApi();
    const t = fakeTransport();
    serveContract(lab.api, t.transport);
    const bad = await t.call('getRun', { runId: 0 });
    expect(bad).toMatchObject({ ok: false, error: { path: '/runId' } });
    expect(!bad.ok && bad.error.message).toMatch(/^getRun: invalid params at \/runId: /);
    expect(await t.call('queryEvents', { runId: 1, offset: 0, limit: 10, kinds: 'x' })).toMatchObject({ ok: false, error: { path: '/kinds' } });
    expect(await t.call('eval', {})).toEqual({ ok: false, error: { message: 'unknown method "eval"', path: '' } });
    expect(await t.call(42, null)).toEqual({ ok: false, error: { message: 'unknown method 42', path: '' } });
    expect(lab.calls).toEqual([]);
  });

  it("maps a handler's error to {message, path: ''}", async () => {
    const lab = fakeApi(() => {
      throw new Error('database is locked');
    });
    const t = fakeTransport();
    serveContract(lab.api, t.transport);
    expect(await t.call('listRuns', {})).toEqual({ ok: false, error: { message: 'database is locked', path: '' } });
    const thrower = fakeApi(() => Promise.reject('not an Error'));
    const t2 = fakeTransport();
    serveContract(thrower.api, t2.transport);
    expect(await t2.call('listRuns', {})).toEqual({ ok: false, error: { message: 'not an Error', path: '' } });
  });

  it('answers a method from a local handler, validated first', async () => {
    const lab = fakeApi();
    const t = fakeTransport();
    const saved: unknown[] = [];
    serveContract(lab.api, t.transport, {
      saveFile: (p) => {
        saved.push(p);
        return { path: '/tmp/x.yaml' };
      },
      openFile: () => {
        throw new Error('saveFile refused: not granted');
      },
    });
    expect(await t.call('saveFile', { path: null, text: 'a' })).toEqual({ ok: true, result: { path: '/tmp/x.yaml' } });
    expect(await t.call('saveFile', { path: 3, text: 'a' })).toMatchObject({ ok: false, error: { path: '/path' } });
    expect(await t.call('openFile', {})).toEqual({ ok: false, error: { message: 'saveFile refused: not granted', path: '' } });
    expect(saved).toEqual([{ path: null, text: 'a' }]);
    expect(lab.calls).toEqual([]);
  });

  it('delivers every notification, and unsubscribes when the transport closes', () => {
    const lab = fakeApi();
    const t = fakeTransport();
    const dispose = serveContract(lab.api, t.transport);
    expect(lab.listening()).toBe(NOTIFICATIONS.length);
    lab.fire('runProgress', { runId: 1, step: 2, steps: 5, events: 40 });
    lab.fire('runFinished', { runId: 1, status: 'done', error: null });
    expect(t.sent).toEqual([
      ['runProgress', { runId: 1, step: 2, steps: 5, events: 40 }],
      ['runFinished', { runId: 1, status: 'done', error: null }],
    ]);
    t.close();
    expect(lab.listening()).toBe(0);
    lab.fire('runFinished', { runId: 2, status: 'failed', error: 'x' });
    expect(t.sent).toHaveLength(2);
    dispose(); // idempotent after close
    expect(lab.listening()).toBe(0);
  });

  it('keeps transports apart: closing one leaves the other subscribed', () => {
    const lab = fakeApi();
    const a = fakeTransport();
    const b = fakeTransport();
    serveContract(lab.api, a.transport);
    const disposeB = serveContract(lab.api, b.transport);
    a.close();
    lab.fire('runFinished', { runId: 1, status: 'cancelled', error: null });
    expect(a.sent).toEqual([]);
    expect(b.sent).toEqual([['runFinished', { runId: 1, status: 'cancelled', error: null }]]);
    disposeB();
    expect(lab.listening()).toBe(0);
  });
});
