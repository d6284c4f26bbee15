/**
 * The log panel's filter bar: one field per kernel filter. It only collects what the user
 * typed; the kernel evaluates it (and names the field when a value is wrong).
 */
import { ISignal, Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

import { LEVELS, SOURCES } from '../generated/record';
import { FILTER_KEYS, FilterKey, IFilter, KERNEL_WORKER } from './filter';

/** Typing settles this long before the filter applies; Enter applies at once. */
const DEBOUNCE_MS = 300;

interface IField {
  key: FilterKey;
  label: string;
  /** Choices for a select; a text field when absent. */
  choices?: [string, string][];
  placeholder?: string;
}

/** How a filter's field looks, where it is more than a text field named after the key. */
const FIELD_LOOKS: { [K in FilterKey]?: Omit<IField, 'key'> } = {
  text: { label: 'Text', placeholder: 'Search messages' },
  level: {
    label: 'Level',
    choices: [['', 'Any level'], ...LEVELS.map(([name]): [string, string] => [name, `${name}+`])]
  },
  source: {
    label: 'Source',
    choices: [['', 'Any source'], ...SOURCES.map((s): [string, string] => [s, s])]
  },
  logger: { label: 'Logger', placeholder: 'Logger, e.g. app.*' },
  task: { label: 'Task', placeholder: 'Task, e.g. work-*' },
  worker: { label: 'Worker', placeholder: 'Worker' },
  hostname: { label: 'Host', placeholder: 'Host' },
  since: { label: 'Since', placeholder: 'Since: 10min, ISO date' },
  until: { label: 'Until', placeholder: 'Until: ISO date' }
};

/** A field for every filter the kernel takes, the text search first. */
const FIELDS: IField[] = [...FILTER_KEYS]
  .sort((a, b) => Number(b === 'text') - Number(a === 'text'))
  .map(key => {
    const label = key.charAt(0).toUpperCase() + key.slice(1);
    return { key, ...(FIELD_LOOKS[key] ?? { label, placeholder: label }) };
  });

export class FilterBar extends Widget {
  constructor() {
    super();
    this.addClass('jp-taskscope-FilterBar');
    this._workers = document.createElement('datalist');
    this._workers.id = `jp-taskscope-workers-${++Private.count}`;
    for (const field of FIELDS) {
      const control = field.choices ? this._select(field) : this._input(field);
      control.classList.add('jp-taskscope-FilterBar-field');
      control.dataset.filter = field.key;
      control.title = field.label;
      control.setAttribute('aria-label', field.label);
      this._controls.set(field.key, control);
      this.node.appendChild(control);
    }
    (this._controls.get('worker') as HTMLInputElement).setAttribute(
      'list',
      this._workers.id
    );
    const reset = document.createElement('button');
    reset.className = 'jp-taskscope-FilterBar-reset jp-mod-minimal jp-Button';
    reset.textContent = 'Reset';
    reset.title = 'Show every row';
    reset.addEventListener('click', () => this.setFilter({}, true));
    this.node.append(reset, this._workers);
  }

  /** Emitted when the filter changes (after typing settles, or at once on Enter). */
  get filterChanged(): ISignal<this, IFilter> {
    return this._filterChanged;
  }

  /** The filter as the fields hold it now. */
  get filter(): IFilter {
    const filter: IFilter = {};
    for (const [key, control] of this._controls) {
      if (control.value !== '') {
        filter[key] = control.value;
      }
    }
    return filter;
  }

  /** Fill the fields (a restored panel); `emit` as if the user typed it. */
  setFilter(filter: IFilter, emit = false): void {
    for (const [key, control] of this._controls) {
      control.value = filter[key] ?? '';
    }
    this.setError(null);
    if (emit) {
      this._emitNow();
    }
  }

  /** The workers offered in the worker field: the kernel and the attached ones. */
  setWorkers(workers: ReadonlyArray<string>): void {
    const values = [KERNEL_WORKER, ...workers];
    if (values.join('\n') === this._shownWorkers) {
      return;
    }
    this._shownWorkers = values.join('\n');
    this._workers.replaceChildren(
      ...values.map(value => {
        const option = document.createElement('option');
        option.value = value;
        return option;
      })
    );
  }

  /**
   * Show the kernel's complaint on the field it names ("since: cannot read ..."), or
   * clear every mark (null).
   */
  setError(message: string | null): void {
    for (const control of this._controls.values()) {
      control.classList.remove('jp-mod-invalid');
      control.removeAttribute('aria-invalid');
      control.title = control.getAttribute('aria-label') ?? '';
    }
    const key = message ? /^(\w+)\b/.exec(message.replace(/^\w+Error: /, ''))?.[1] : null;
    const control = key ? this._controls.get(key as FilterKey) : undefined;
    if (control && message) {
      control.classList.add('jp-mod-invalid');
      control.setAttribute('aria-invalid', 'true');
      control.title = message;
    }
  }

  dispose(): void {
    if (this._timer !== null) {
      clearTimeout(this._timer);
    }
    super.dispose();
  }

  private _input(field: IField): HTMLInputElement {
    const input = document.createElement('input');
    input.type = field.key === 'text' ? 'search' : 'text';
    input.placeholder = field.placeholder ?? field.label;
    input.spellcheck = false;
    input.autocomplete = 'off';
    input.addEventListener('input', () => this._schedule());
    input.addEventListener('keydown', event => {
      if (event.key === 'Enter') {
        this._emitNow();
      }
    });
    return input;
  }

  private _select(field: IField): HTMLSelectElement {
    const select = document.createElement('select');
    for (const [value, label] of field.choices!) {
      const option = document.createElement('option');
      option.value = value;
      option.textContent = label;
      select.appendChild(option);
    }
    select.addEventListener('change', () => this._emitNow());
    return select;
  }

  private _schedule(): void {
    if (this._timer !== null) {
      clearTimeout(this._timer);
    }
    this._timer = setTimeout(() => this._emitNow(), DEBOUNCE_MS);
  }

  private _emitNow(): void {
    if (this._timer !== null) {
      clearTimeout(this._timer);
      this._timer = null;
    }
    this._filterChanged.emit(this.filter);
  }

  private _controls = new Map<FilterKey, HTMLInputElement | HTMLSelectElement>();
  private _workers: HTMLDataListElement;
  private _shownWorkers = '';
  private _timer: ReturnType<typeof setTimeout> | null = null;
  private _filterChanged = new Signal<this, IFilter>(this);
}

namespace Private {
  export let count = 0;
}
