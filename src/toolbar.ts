/**
 * The notebook toolbar item: a thin view of a TaskscopeModel.
 */
import { Widget } from '@lumino/widgets';

import { describeState, TaskscopeModel } from './model';

/** The item's name in `jupyter.lab.toolbars` (schema/plugin.json). */
export const TOOLBAR_ITEM_NAME = 'taskscope';

export class TaskscopeToolbarItem extends Widget {
  constructor(model: TaskscopeModel) {
    super({ node: document.createElement('div') });
    this.addClass('jp-taskscope-ToolbarItem');
    this._dot = document.createElement('span');
    this._dot.className = 'jp-taskscope-dot';
    this._label = document.createElement('span');
    this._label.className = 'jp-taskscope-label';
    this.node.append(this._dot, this._label);
    this._model = model;
    model.changed.connect(this._render, this);
    this._render();
  }

  dispose(): void {
    this._model.changed.disconnect(this._render, this);
    super.dispose();
  }

  private _render(): void {
    const state = this._model.state;
    this.node.dataset.state = state;
    this.node.title = describeState(state);
    // textContent only: nothing from the kernel is ever parsed as HTML
    this._label.textContent =
      state === 'recording' ? 'Recording' : state === 'stopped' ? 'Logs off' : 'taskscope';
  }

  private _model: TaskscopeModel;
  private _dot: HTMLSpanElement;
  private _label: HTMLSpanElement;
}
