/**
 * The log panel's filter: what the user typed, and the kernel filter it stands for.
 * Every filter is evaluated in the kernel (taskscope/query.py); the front end only tidies
 * the values up (blank means no filter).
 */
import { DURATION, FILTER_KEYS, UNIT_SECONDS } from '../generated/record';

/** The filters the panel offers: the kernel's, in its order. */
export { FILTER_KEYS };

export type FilterKey = (typeof FILTER_KEYS)[number];

/** What the filter bar holds: text as typed, '' for "no filter". */
export type IFilter = { [K in FilterKey]?: string };

/** The value the worker field takes for "rows from the kernel itself" (worker == ""). */
export const KERNEL_WORKER = '(kernel)';

const EPOCH = /^\s*\d+(\.\d+)?\s*$/;

/** A time filter as epoch seconds when it is one or relative to `now`; else as typed. */
function timeValue(value: string, now?: number): string | number {
  if (EPOCH.test(value)) {
    return Number(value);
  }
  if (now === undefined) {
    return value;
  }
  if (value.toLowerCase() === 'now') {
    return now;
  }
  // the kernel's durations ("30s", "10min", "1.5 hours"), as its vocabulary declares them
  const match = DURATION.exec(value);
  if (!match) {
    return value; // an ISO datetime: the kernel reads it (and names a mistake)
  }
  const unit = match[2].toLowerCase();
  return now - Number(match[1]) * UNIT_SECONDS[unit === 'ms' ? 'ms' : unit[0]];
}

/**
 * The kernel's filter object for a panel filter: blank fields left out, epoch seconds as
 * numbers (the kernel reads a numeric string as neither a duration nor a date). Given
 * `now` (epoch seconds), relative times become fixed ones.
 */
export function kernelFilter(
  filter: IFilter,
  now?: number
): { [key: string]: unknown } {
  const out: { [key: string]: unknown } = {};
  for (const key of FILTER_KEYS) {
    const raw = filter[key];
    if (raw === undefined) {
      continue;
    }
    if (key === 'worker' && raw.trim() === KERNEL_WORKER) {
      out.worker = '';
      continue;
    }
    // text is a substring: its spaces count; other fields are trimmed
    const value = key === 'text' ? raw : raw.trim();
    if (value === '') {
      continue;
    }
    out[key] = key === 'since' || key === 'until' ? timeValue(value, now) : value;
  }
  return out;
}

/** Whether two panel filters ask the kernel for the same rows. */
export function sameFilter(a: IFilter, b: IFilter): boolean {
  return JSON.stringify(kernelFilter(a)) === JSON.stringify(kernelFilter(b));
}
