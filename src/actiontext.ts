/**
 * An action made ready to show: its duration in human units, its inputs and result on
 * one line, its status as the text views print it. Shared by the panel's tree and the
 * inline tree; like text.ts, only ever plain strings (drawn on a canvas or set as
 * textContent).
 */
import { cellText, cut, visible } from './text';

/** Characters of an action's inputs, result or error on its line (as the kernel's text). */
export const PIECE_CHARS = 200;

/** What a line of an action needs (an IAction, or a node of the inline bundle). */
export interface IActionLike {
  type?: unknown;
  status?: unknown;
  duration?: unknown;
  fields?: unknown;
  result?: unknown;
  error?: unknown;
}

/** Seconds as a short human duration: `850 µs`, `12.3 ms`, `1.25 s`, `2m 05s`, `1h 02m`. */
export function humanDuration(seconds: unknown): string {
  if (typeof seconds !== 'number' || !isFinite(seconds) || seconds < 0) {
    return '';
  }
  if (seconds < 0.001) {
    return `${Math.round(seconds * 1e6)} µs`;
  }
  if (seconds < 1) {
    const ms = seconds * 1000;
    return `${ms < 100 ? ms.toFixed(1) : Math.round(ms)} ms`;
  }
  if (seconds < 60) {
    return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
  }
  const whole = Math.round(seconds);
  const two = (n: number) => String(n).padStart(2, '0');
  if (whole < 3600) {
    return `${Math.floor(whole / 60)}m ${two(whole % 60)}s`;
  }
  return `${Math.floor(whole / 3600)}h ${two(Math.floor((whole % 3600) / 60))}m`;
}

/** A JSON value on one line (line breaks as \n, controls spelled out). */
export function jsonText(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return visible(text);
}

/** The inputs as `name=JSON, ...` (a value that is no object as its JSON), cut. */
export function inputsText(fields: unknown): string {
  if (fields === null || fields === undefined) {
    return '';
  }
  const text =
    typeof fields === 'object' && !Array.isArray(fields)
      ? Object.entries(fields as { [key: string]: unknown })
          .map(([key, value]) => `${visible(key)}=${jsonText(value)}`)
          .join(', ')
      : jsonText(fields);
  return cut(cellText(text), PIECE_CHARS);
}

/** The status as the text views print it: `SUCCEEDED`, `FAILED`, `STARTED`. */
export function statusText(status: unknown): string {
  return visible(status || '?').toUpperCase();
}

/** `→ result` (empty when there is none). */
export function resultText(action: IActionLike): string {
  return action.result === null || action.result === undefined
    ? ''
    : `→ ${cut(cellText(jsonText(action.result)), PIECE_CHARS)}`;
}

/** `✗ Type: message` of a failed action (empty for another). */
export function errorText(action: IActionLike): string {
  return action.status === 'failed'
    ? `✗ ${cut(cellText(action.error || 'failed'), PIECE_CHARS)}`
    : '';
}

/** The status colour class of an action (style/tree.css, the grid reads the same). */
export type StatusClass = 'succeeded' | 'failed' | 'started' | 'chain';

/** An action's colour: failed, on a failed chain (an action inside it failed), or its status. */
export function statusClass(action: { status?: unknown; failed_chain?: unknown }): StatusClass {
  if (action.status === 'failed') {
    return 'failed';
  }
  if (action.failed_chain) {
    return 'chain';
  }
  return action.status === 'succeeded' ? 'succeeded' : 'started';
}
