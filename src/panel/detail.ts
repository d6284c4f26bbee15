/**
 * One row in full: the message, the whole text with its traceback, the structured `extra`
 * fields and where it ran. Every value is set as textContent: log text is untrusted.
 */
import { ISignal, Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

import { IRow } from '../protocol';
import { dateTime, levelClass, visible } from '../text';

/** The facts of where and when a row ran, in the order shown. */
const FACTS: ReadonlyArray<[string, (row: IRow) => unknown]> = [
  ['time', row => dateTime(row.created)],
  ['logger', row => row.logger],
  ['source', row => row.source],
  ['host', row => row.hostname],
  ['pid', row => row.pid],
  ['thread', row => row.thread],
  ['worker', row => row.worker || '(kernel)'],
  ['task', row => row.task],
  ['seq', row => row.seq]
];

export class RowDetail extends Widget {
  constructor() {
    super();
    this.addClass('jp-taskscope-Detail');
    this.node.tabIndex = 0;
    this.setRow(null);
  }

  /** Emitted when the user closes the detail. */
  get closed(): ISignal<this, void> {
    return this._closed;
  }

  /** The row shown, if any. */
  get row(): IRow | null {
    return this._row;
  }

  /** Show a row (null: the hint to pick one). */
  setRow(row: IRow | null): void {
    this._row = row;
    const node = this.node;
    node.replaceChildren();
    if (!row) {
      node.append(element('p', 'jp-taskscope-Detail-empty', 'Select a row to see it in full.'));
      return;
    }
    const head = element('div', 'jp-taskscope-Detail-head');
    const level = element('span', 'jp-taskscope-level', visible(row.level));
    level.dataset.level = levelClass(row.levelno);
    const close = element('button', 'jp-taskscope-Detail-close jp-Button jp-mod-minimal', '×');
    close.title = 'Close the detail';
    close.setAttribute('aria-label', 'Close the detail');
    close.addEventListener('click', () => this._closed.emit());
    head.append(level, element('span', 'jp-taskscope-Detail-message', visible(row.msg)), close);
    const facts = element('dl', 'jp-taskscope-Detail-facts');
    for (const [name, get] of FACTS) {
      const value = get(row);
      if (value === '' || value === null || value === undefined) {
        continue;
      }
      facts.append(element('dt', '', name), element('dd', '', visible(value)));
    }
    node.append(head, facts);
    if (row.text && row.text !== row.msg) {
      node.append(section('Text', row.text));
    }
    if (row.extra !== null && row.extra !== undefined) {
      const extra =
        typeof row.extra === 'string' ? row.extra : JSON.stringify(row.extra, null, 2);
      node.append(section('Extra', extra));
    }
  }

  private _row: IRow | null = null;
  private _closed = new Signal<this, void>(this);
}

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

/** A titled block of preformatted text: line breaks kept, other controls spelled out. */
function section(title: string, text: string): HTMLElement {
  const block = element('section', 'jp-taskscope-Detail-section');
  block.append(
    element('h3', '', title),
    element('pre', 'jp-taskscope-Detail-text', visible(text.replace(/\r\n?/g, '\n')))
  );
  return block;
}
