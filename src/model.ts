/**
 * The live state of taskscope for one notebook kernel: a small model that views watch
 * (as jupyter-resource-usage does: the model holds figures, thin views draw them).
 */
import { ISignal, Signal } from '@lumino/signaling';

import { IStatus } from './protocol';

/** Where the kernel end of taskscope stands. */
export type BridgeState =
  | 'no-kernel'
  | 'connecting'
  | 'unsupported'
  | 'missing'
  | 'failed'
  | 'no-comms'
  | 'stopped'
  | 'recording';

/** A request the user made that the kernel has not answered yet. */
export type PendingAction = 'start' | 'stop' | 'clear' | null;

export class TaskscopeModel {
  /** The bridge's state. */
  get state(): BridgeState {
    return this._state;
  }

  /** The kernel's last reported status; null before the first one. */
  get status(): IStatus | null {
    return this._status;
  }

  /** What the user asked for and is waiting on (the kernel may be busy). */
  get pending(): PendingAction {
    return this._pending;
  }

  /** The last error the kernel reported for a user action; null after a success. */
  get error(): string | null {
    return this._error;
  }

  /** Emitted whenever anything above changes. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  setState(state: BridgeState): void {
    if (state !== this._state) {
      this._state = state;
      if (state !== 'stopped' && state !== 'recording') {
        this._pending = null;
      }
      this._changed.emit();
    }
  }

  /** Take a status from the kernel: it decides recording or stopped. */
  setStatus(status: IStatus): void {
    this._status = status;
    this._state = status.recording ? 'recording' : 'stopped';
    this._changed.emit();
  }

  setPending(pending: PendingAction, error: string | null = null): void {
    if (pending !== this._pending || error !== this._error) {
      this._pending = pending;
      this._error = error;
      this._changed.emit();
    }
  }

  private _state: BridgeState = 'no-kernel';
  private _status: IStatus | null = null;
  private _pending: PendingAction = null;
  private _error: string | null = null;
  private _changed = new Signal<this, void>(this);
}

/** The pip line shown where a kernel lacks the package. */
export const INSTALL_HINT = '%pip install taskscope';

/** A one-line description of a state, for labels and tooltips. */
export function describeState(state: BridgeState): string {
  switch (state) {
    case 'no-kernel':
      return 'taskscope: no kernel';
    case 'connecting':
      return 'taskscope: connecting…';
    case 'unsupported':
      return 'taskscope works with Python kernels only';
    case 'missing':
      return `taskscope is not installed in this kernel: run ${INSTALL_HINT}`;
    case 'failed':
      return 'taskscope is installed in this kernel but failed to load';
    case 'no-comms':
      return 'taskscope: another connection handles the comms of this kernel';
    case 'stopped':
      return 'taskscope: not recording';
    case 'recording':
      return 'taskscope: recording';
  }
}

/** A compact count: 999, 1.2k, 35k, 1.2M. */
export function formatCount(n: number): string {
  if (n < 1000) {
    return String(n);
  }
  const [value, unit] = n < 1e6 ? [n / 1e3, 'k'] : [n / 1e6, 'M'];
  return `${value < 10 ? value.toFixed(1) : Math.round(value)}${unit}`;
}

/** Rows at WARNING or above, and at ERROR or above, from a status's level counts. */
export function problemCounts(status: IStatus): { warnings: number; errors: number } {
  let warnings = 0;
  let errors = 0;
  for (const [level, count] of Object.entries(status.levels)) {
    if (level === 'WARNING') {
      warnings += count;
    } else if (level === 'ERROR' || level === 'CRITICAL') {
      errors += count;
    }
  }
  return { warnings, errors };
}

/** The tooltip: state, rate, sources, workers and drops. */
export function describeStatus(model: TaskscopeModel): string {
  const lines = [describeState(model.state)];
  const status = model.status;
  // figures once this kernel has a session (it has recorded at some point)
  if (status?.session_id && (model.state === 'recording' || model.state === 'stopped')) {
    const { warnings, errors } = problemCounts(status);
    lines.push(
      `${status.rows} rows (${warnings} warnings, ${errors} errors), ${status.rate} rows/s`
    );
    const sources = Object.entries(status.sources)
      .map(([source, count]) => `${source} ${count}`)
      .join(', ');
    if (sources) {
      lines.push(`sources: ${sources}`);
    }
    if (status.workers !== undefined) {
      lines.push(`workers: ${status.workers.length}`);
    }
    if (status.dropped) {
      lines.push(`${status.dropped} rows dropped (the SYSTEM rows say why)`);
    }
    if (status.error) {
      lines.push(`store error: ${status.error}`);
    }
  }
  if (model.pending) {
    lines.push(`${model.pending} requested: waiting for the kernel`);
  }
  if (model.error) {
    const why = model.state === 'failed' || model.state === 'no-comms';
    lines.push(why ? `why: ${model.error}` : `last action failed: ${model.error}`);
  }
  return lines.join('\n');
}
