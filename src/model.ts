/**
 * The live state of taskscope for one notebook kernel: a small model that views watch.
 */
import { ISignal, Signal } from '@lumino/signaling';

/** Where the kernel end of taskscope stands. */
export type BridgeState =
  | 'no-kernel'
  | 'connecting'
  | 'unsupported'
  | 'missing'
  | 'failed'
  | 'stopped'
  | 'recording';

export class TaskscopeModel {
  /** The bridge's state. */
  get state(): BridgeState {
    return this._state;
  }

  /** Emitted whenever the state changes. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  setState(state: BridgeState): void {
    if (state !== this._state) {
      this._state = state;
      this._changed.emit();
    }
  }

  private _state: BridgeState = 'no-kernel';
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
      return 'taskscope is installed in this kernel but failed to load: see the kernel log';
    case 'stopped':
      return 'taskscope: not recording';
    case 'recording':
      return 'taskscope: recording';
  }
}
