/**
 * The log panel's Tree mode: a bar (how siblings are ordered) above the tree grid. The model keeps itself in step with the session; the view tells it what
 * shows after every paint and turns the bar's choice (or a click on the Duration header)
 * into an order.
 */
import { Message } from '@lumino/messaging';
import { Panel, Widget } from '@lumino/widgets';

import { ActionSort } from '../protocol';
import { TreeGrid } from './treegrid';
import { ActionTreeModel, IActionSource, ITreeSort } from './treemodel';

/** The orders the bar offers, as `sort:direction`. */
const ORDERS: [string, string][] = [
  ['started:asc', 'By start'],
  ['started:desc', 'Newest first'],
  ['duration:desc', 'Longest first'],
  ['duration:asc', 'Shortest first']
];

export class TreeView extends Panel {
  constructor(options: TreeView.IOptions) {
    super();
    this.addClass('jp-taskscope-TreeView');
    this.model = new ActionTreeModel({ source: options.source });
    this.grid = new TreeGrid(this.model);

    const bar = new Widget();
    bar.addClass('jp-taskscope-TreeView-bar');
    const label = document.createElement('label');
    label.textContent = 'Siblings ';
    this._order = document.createElement('select');
    this._order.className = 'jp-taskscope-TreeView-order';
    this._order.setAttribute('aria-label', 'Order of sibling actions');
    for (const [value, text] of ORDERS) {
      const option = document.createElement('option');
      option.value = value;
      option.textContent = text;
      this._order.appendChild(option);
    }
    this._order.addEventListener('change', () => void this.setSort(parseOrder(this._order.value)));
    label.appendChild(this._order);
    bar.node.append(label);

    this.addWidget(bar);
    this.addWidget(this.grid);
    this.grid.painted.connect(this._onPainted, this);
    this.grid.headerClicked.connect((_, column) => {
      if (column === 'duration') {
        // longest first, then shortest first, then back to the order they started in
        const { sort, descending } = this.model.sort;
        void this.setSort(
          sort !== 'duration'
            ? { sort: 'duration', descending: true }
            : descending
              ? { sort: 'duration', descending: false }
              : { sort: 'started', descending: false }
        );
      }
    });
  }

  readonly model: ActionTreeModel;
  readonly grid: TreeGrid;

  /** Order siblings by start or duration. */
  setSort(sort: ITreeSort): Promise<void> {
    this._order.value = `${sort.sort}:${sort.descending ? 'desc' : 'asc'}`;
    return this.model.setSort(sort);
  }

  /** "N root actions", and what the tree waits for. */
  get summary(): string {
    const roots = this.model.roots;
    const parts = [`${roots.toLocaleString()} root action${roots === 1 ? '' : 's'}`];
    if (this.model.loading) {
      parts.push('loading…');
    }
    if (this.model.error) {
      parts.push(`error: ${this.model.error}`);
    }
    return parts.join(' · ');
  }

  /** Show another session's actions. */
  setSource(source: IActionSource | null): Promise<void> {
    return this.model.setSource(source);
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    this.grid.applyTheme();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.model.dispose();
    super.dispose();
  }

  private _onPainted(): void {
    const [first, last] = this.grid.visibleRows();
    this.model.setViewport(first, last);
  }

  private _order: HTMLSelectElement;
}

/** `duration:desc` as a sort. */
function parseOrder(value: string): ITreeSort {
  const [sort, direction] = value.split(':');
  return { sort: (sort === 'duration' ? 'duration' : 'started') as ActionSort, descending: direction === 'desc' };
}

export namespace TreeView {
  export interface IOptions {
    source: IActionSource | null;
  }
}
