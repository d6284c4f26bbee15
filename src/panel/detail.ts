/**
 * One row in full: every column of the record. The level and the message head it, the
 * whole text with its traceback and the structured `extra` fields are blocks of their own,
 * and the other columns are facts under their declared titles (src/presentation.ts).
 * Every value is set as textContent: log text is untrusted.
 */
import { ISignal, Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

import { IRow } from '../protocol';
import { DETAIL_COLUMNS, plainText } from '../presentation';
import { levelClass, visible } from '../text';

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
    const sections: HTMLElement[] = [];
    for (const column of DETAIL_COLUMNS) {
      const value = column.value(row);
      if (column.place === 'head' || value === '' || value === null || value === undefined) {
        continue;
      }
      if (column.place === 'fact') {
        facts.append(
          element('dt', '', column.title),
          element('dd', '', visible(plainText(value)))
        );
      } else if (!(column.name === 'text' && value === row.msg)) {
        // (a text that only repeats the message says nothing more)
        const text = typeof value === 'string' ? value : JSON.stringify(value, null, 2);
        sections.push(section(column.title, text));
      }
    }
    node.append(head, facts, ...sections);
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
