/**
 * Loads uPlot on first use (its chunk is fetched when a chart is first shown, not at start-up).
 *
 * uPlot builds `new Intl.NumberFormat(navigator.language)` when its module loads; a locale tag
 * Intl refuses — Chromium reports POSIX ones such as "en-US@posix" under LANG=C — throws a
 * RangeError there, and the chart would never load. Such a tag is replaced by its language part
 * (or "en-US") for this page before the import.
 */
import type uPlotType from 'uplot';
import { usableLocale } from './iova-plot.ts';

let loading: Promise<typeof uPlotType> | null = null;

/** The uPlot class (loaded once). */
export function loadUPlot(): Promise<typeof uPlotType> {
  loading ??= (async () => {
    const lang = navigator.language;
    const usable = usableLocale(lang);
    if (usable !== lang) Object.defineProperty(navigator, 'language', { value: usable, configurable: true });
    await import('uplot/dist/uPlot.min.css');
    return (await import('uplot')).default;
  })();
  return loading;
}
