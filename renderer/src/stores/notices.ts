/**
 * Error banners for failed calls: one entry per failure, dismissable, newest last. Stores and
 * components report through `fail(context, err)` instead of swallowing errors.
 */
import { defineStore } from 'pinia';
import { ref } from 'vue';
import { errorText } from '../api/errors.ts';

/** One banner. */
export interface Notice {
  id: number;
  kind: 'error' | 'warning';
  text: string;
}

/** Error and warning banners. */
export const useNoticesStore = defineStore('notices', () => {
  const notices = ref<Notice[]>([]);
  let next = 1;

  /** Shows `context: message of err` as an error banner. */
  function fail(context: string, err: unknown): void {
    push('error', `${context}: ${errorText(err)}`);
  }

  /** Shows a banner; identical consecutive texts are not repeated. */
  function push(kind: Notice['kind'], text: string): void {
    const last = notices.value[notices.value.length - 1];
    if (last && last.text === text) return;
    notices.value.push({ id: next++, kind, text });
    if (notices.value.length > 5) notices.value.shift();
  }

  /** Removes one banner. */
  function dismiss(id: number): void {
    notices.value = notices.value.filter((n) => n.id !== id);
  }

  return { notices, fail, push, dismiss };
});
