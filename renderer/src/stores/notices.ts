/**
 * Error banners for failed calls: one entry per failure, dismissable, newest last. Stores and
 * components report through `fail(context, err)` instead of swallowing errors.
 *
 * A banner about the scenario or a run can carry a topic, so it goes away once it is stale:
 * "scenario" banners (a refused run's problems) clear when the document changes or a run starts;
 * "run" banners (a failed run) clear when a later run succeeds.
 */
import { defineStore } from 'pinia';
import { ref } from 'vue';
import { errorText } from '../api/errors.ts';

/** One banner. */
export interface Notice {
  id: number;
  kind: 'error' | 'warning' | 'info';
  text: string;
  /** What makes it stale (see the module comment); none = stays until dismissed. */
  topic?: NoticeTopic;
}

/** What a banner is about. */
export type NoticeTopic = 'scenario' | 'run' | 'import';

/** Error and warning banners. */
export const useNoticesStore = defineStore('notices', () => {
  const notices = ref<Notice[]>([]);
  let next = 1;

  /** Shows `context: message of err` as an error banner. */
  function fail(context: string, err: unknown): void {
    push('error', `${context}: ${errorText(err)}`);
  }

  /** Shows a banner; identical consecutive texts are not repeated. */
  function push(kind: Notice['kind'], text: string, topic?: NoticeTopic): void {
    const last = notices.value[notices.value.length - 1];
    if (last && last.text === text) return;
    const n: Notice = { id: next++, kind, text };
    if (topic) n.topic = topic;
    notices.value.push(n);
    if (notices.value.length > 5) notices.value.shift();
  }

  /** Removes every banner about `topic` (it no longer holds). */
  function clearTopic(topic: NoticeTopic): void {
    if (notices.value.some((n) => n.topic === topic)) notices.value = notices.value.filter((n) => n.topic !== topic);
  }

  /** Removes one banner. */
  function dismiss(id: number): void {
    notices.value = notices.value.filter((n) => n.id !== id);
  }

  return { notices, fail, push, clearTopic, dismiss };
});
