/**
 * A thin view of a TaskscopeModel: one dot and one label, redrawn at most a few times a
 * second however fast status arrives. Everything from the kernel is set as text.
 */
import { Widget } from '@lumino/widgets';

import {
  BridgeState,
  describeState,
  describeStatus,
  formatCount,
  problemCounts,
  TaskscopeModel
} from './model';

/** The label for a model: the state and, once known, the live counts. */
export function statusLabel(model: TaskscopeModel): string {
  if (model.pending === 'start') {
    return 'Starting…';
  }
  if (model.pending === 'stop') {
    return 'Stopping…';
  }
  const state: BridgeState = model.state;
  if (state !== 'recording' && state !== 'stopped') {
    return 'taskscope';
  }
  const head = state === 'recording' ? 'Recording' : 'Logs off';
  const status = model.status;
  if (!status || status.rows === 0) {
    return head;
  }
  const { warnings, errors } = problemCounts(status);
  const parts = [head, formatCount(status.rows)];
  if (warnings) {
    parts.push(`⚠ ${formatCount(warnings)}`);
  }
  if (errors) {
    parts.push(`✖ ${formatCount(errors)}`);
  }
  return parts.join(' · ');
}

export class StatusView extends Widget {
  constructor(options: StatusView.IOptions) {
    super({ node: document.createElement(options.tag ?? 'div') });
    this.addClass('jp-taskscope-StatusView');
    this._dot = document.createElement('span');
    this._dot.className = 'jp-taskscope-dot';
    this._label = document.createElement('span');
    this._label.className = 'jp-taskscope-label';
    this.node.append(this._dot, this._label);
    this._refreshRate = options.refreshRate ?? (() => 4);
    this.setModel(options.model ?? null);
  }

  get model(): TaskscopeModel | null {
    return this._model;
  }

  /** Show another model (the status bar follows the current notebook). */
  setModel(model: TaskscopeModel | null): void {
    this._model?.changed.disconnect(this._schedule, this);
    this._model = model;
    model?.changed.connect(this._schedule, this);
    this.render();
  }

  dispose(): void {
    this._model?.changed.disconnect(this._schedule, this);
    if (this._timer !== null) {
      clearTimeout(this._timer);
    }
    super.dispose();
  }

  /** Draw now. */
  render(): void {
    this._timer = null;
    this._lastRender = Date.now();
    const model = this._model;
    this.node.dataset.state = model?.state ?? 'no-kernel';
    this.node.dataset.pending = model?.pending ?? '';
    // no model: the notebook has no kernel (the status bar item hides without a notebook)
    this.node.title = model ? describeStatus(model) : describeState('no-kernel');
    this._label.textContent = model ? statusLabel(model) : 'taskscope';
  }

  /** Redraw soon: state changes at once, figures at the refresh rate. */
  private _schedule(): void {
    if (this._timer !== null) {
      return;
    }
    const model = this._model;
    const stateChanged =
      model !== null &&
      (model.state !== this.node.dataset.state ||
        (model.pending ?? '') !== this.node.dataset.pending);
    const interval = 1000 / Math.max(0.1, this._refreshRate());
    const wait = stateChanged
      ? 0
      : Math.max(0, this._lastRender + interval - Date.now());
    this._timer = setTimeout(() => this.render(), wait);
  }

  private _model: TaskscopeModel | null = null;
  private _dot: HTMLSpanElement;
  private _label: HTMLSpanElement;
  private _refreshRate: () => number;
  private _timer: ReturnType<typeof setTimeout> | null = null;
  private _lastRender = 0;
}

export namespace StatusView {
  export interface IOptions {
    model?: TaskscopeModel | null;
    /** Most redraws a second (the statusRefreshRate setting). */
    refreshRate?: () => number;
    tag?: 'div' | 'button';
  }
}
