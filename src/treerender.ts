/**
 * The inline tree: a renderer for `application/vnd.taskscope.tree+json`, the bundle
 * `taskscope.logger.dataset.tree()` shows in a cell's output (taskscope/views/actions.py).
 * Nested lists of actions, each line its type, status, duration, inputs, result and (when
 * it failed) error; failed actions and the chain above them marked; a click on ▾/▸ folds
 * an action. Children's lists are built when first shown, so a large tree (the kernel
 * sends at most 10,000 actions) starts with what is open. Every value is set as
 * textContent, never as HTML.
 */
import { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';

import {
  errorText,
  humanDuration,
  inputsText,
  resultText,
  statusText
} from './actiontext';
import { cellText, dateTime, visible } from './text';

export const TREE_MIME_TYPE = 'application/vnd.taskscope.tree+json';

/** Above this many actions, the tree starts with only its roots and failed chains open. */
export const OPEN_ALL_BELOW = 500;

/** One action of the bundle (docs/actions.md, `tree()`). */
export interface ITreeNode {
  action: string;
  parent: string;
  type: string;
  status: string;
  started: number | null;
  duration: number | null;
  fields: unknown;
  result: unknown;
  error: string | null;
  task: string;
  worker: string;
  cell: string;
  failed_chain: boolean;
  children: ITreeNode[];
}

/** The bundle's shape. */
export interface ITreeBundle {
  version: number;
  nodes: ITreeNode[];
  total: number;
  truncated: boolean;
}

/** The bundle checked (nodes without children lists get empty ones), or what is wrong. */
export function parseTreeBundle(data: unknown): ITreeBundle | string {
  if (typeof data !== 'object' || data === null) {
    return 'the taskscope tree is not an object';
  }
  const bundle = data as { [key: string]: unknown };
  if (bundle.version !== 1) {
    return `unsupported taskscope tree version ${JSON.stringify(bundle.version)}`;
  }
  if (!Array.isArray(bundle.nodes)) {
    return 'the taskscope tree has no nodes';
  }
  const nodes = bundle.nodes.filter(isNode);
  let count = 0;
  const tidy = (node: ITreeNode): void => {
    count++;
    node.children = Array.isArray(node.children) ? node.children.filter(isNode) : [];
    node.children.forEach(tidy);
  };
  nodes.forEach(tidy);
  return {
    version: 1,
    nodes,
    total: typeof bundle.total === 'number' ? bundle.total : count,
    truncated: bundle.truncated === true
  };
}

function isNode(value: unknown): value is ITreeNode {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** How many actions a tree holds. */
export function countNodes(nodes: ITreeNode[]): number {
  let n = 0;
  const stack = [...nodes];
  while (stack.length) {
    const node = stack.pop()!;
    n++;
    stack.push(...node.children);
  }
  return n;
}

/** The summary line: how many actions, and whether the tree was cut. */
export function treeSummary(bundle: ITreeBundle, shown: number): string {
  if (shown === 0) {
    return 'no matching actions';
  }
  const failed = bundle.nodes.filter(node => node.failed_chain).length;
  const count = bundle.truncated
    ? `${shown.toLocaleString()} of ${bundle.total.toLocaleString()} actions shown (the first started); narrow it with filters such as type=, status=, since= or action=`
    : `${shown.toLocaleString()} action${shown === 1 ? '' : 's'}`;
  return failed ? `${count} · ${failed} root${failed === 1 ? '' : 's'} with a failure` : count;
}

export class TaskscopeTree extends Widget implements IRenderMime.IRenderer {
  constructor(options: IRenderMime.IRendererOptions) {
    super();
    this._mimeType = options.mimeType;
    this.addClass('jp-taskscope-Tree');
    this.node.addEventListener('click', event => this._onClick(event));
    this.node.addEventListener('keydown', event => {
      if ((event.key === 'Enter' || event.key === ' ') && this._onClick(event)) {
        event.preventDefault();
      }
    });
  }

  renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const parsed = parseTreeBundle(model.data[this._mimeType]);
    const note = document.createElement('div');
    note.className = 'jp-taskscope-Tree-note';
    if (typeof parsed === 'string') {
      note.textContent = parsed;
      this.node.replaceChildren(note);
      return Promise.resolve();
    }
    const shown = countNodes(parsed.nodes);
    const openAll = shown <= OPEN_ALL_BELOW;
    this._nodes = new Map();
    const list = this._list(parsed.nodes, 0, openAll);
    note.textContent = treeSummary(parsed, shown);
    if (parsed.truncated) {
      note.dataset.truncated = 'true';
    }
    this.node.replaceChildren(list, note);
    return Promise.resolve();
  }

  /** One level's list; an item is open when all are, at the root, or on a failed chain. */
  private _list(nodes: ITreeNode[], depth: number, openAll: boolean): HTMLUListElement {
    const ul = document.createElement('ul');
    ul.setAttribute('role', depth === 0 ? 'tree' : 'group');
    for (const node of nodes) {
      const li = this._item(node);
      ul.appendChild(li);
      if (node.children.length && (openAll || depth === 0 || node.failed_chain)) {
        this._open(li, openAll);
      }
    }
    return ul;
  }

  private _item(node: ITreeNode): HTMLLIElement {
    const li = document.createElement('li');
    li.className = 'jp-taskscope-Tree-item';
    li.setAttribute('role', 'treeitem');
    li.dataset.status = String(node.status);
    li.dataset.failedChain = String(node.failed_chain === true);
    li.dataset.collapsed = 'true';
    this._nodes.set(li, node);
    const line = document.createElement('div');
    line.className = 'jp-taskscope-Tree-line';
    const started = dateTime(node.started);
    line.title = visible(`${node.action}${started ? ` started ${started}` : ''}`);
    const toggle = span('jp-taskscope-Tree-toggle', node.children.length ? '▸' : '');
    if (node.children.length) {
      toggle.setAttribute('role', 'button');
      toggle.tabIndex = 0;
      toggle.setAttribute('aria-label', 'Fold or unfold the actions inside');
      li.setAttribute('aria-expanded', 'false');
    }
    line.append(
      toggle,
      span('jp-taskscope-Tree-type', cellText(node.type || '?')),
      span('jp-taskscope-Tree-slash', '/'),
      span('jp-taskscope-Tree-status', statusText(node.status))
    );
    const duration = humanDuration(node.duration);
    const pieces: [string, string][] = [
      // (no ⧖ as in the text view: the notebook's fonts often lack it)
      ['duration', duration],
      ['inputs', inputsText(node.fields)],
      ['result', resultText(node)],
      ['error', errorText(node)],
      ['chain', node.failed_chain && node.status !== 'failed' ? '✗ failed inside' : '']
    ];
    for (const [name, text] of pieces) {
      if (text) {
        const piece = span(`jp-taskscope-Tree-${name}`, text);
        piece.style.marginLeft = '1ch';
        line.appendChild(piece);
      }
    }
    li.appendChild(line);
    return li;
  }

  /** Unfold an item, building its children's list the first time. */
  private _open(li: HTMLLIElement, openAll: boolean): void {
    const node = this._nodes.get(li);
    if (!node) {
      return;
    }
    if (!li.querySelector(':scope > ul')) {
      li.appendChild(this._list(node.children, 1, openAll));
    }
    setOpen(li, true);
  }

  /** A click (or Enter) on a toggle folds or unfolds its item; whether it was one. */
  private _onClick(event: Event): boolean {
    const target = event.target as HTMLElement;
    if (!target.classList?.contains('jp-taskscope-Tree-toggle') || !target.textContent) {
      return false;
    }
    const li = target.closest('li');
    if (!li) {
      return false;
    }
    if (li.dataset.collapsed === 'true') {
      this._open(li as HTMLLIElement, false);
    } else {
      setOpen(li, false);
    }
    return true;
  }

  private _mimeType: string;
  private _nodes = new Map<HTMLLIElement, ITreeNode>();
}

/** Show an item open or closed (its list of children, if built, shows or not). */
function setOpen(li: HTMLElement, open: boolean): void {
  li.dataset.collapsed = String(!open);
  li.setAttribute('aria-expanded', String(open));
  const toggle = li.querySelector(':scope > .jp-taskscope-Tree-line > .jp-taskscope-Tree-toggle');
  if (toggle) {
    toggle.textContent = open ? '▾' : '▸';
  }
}

function span(className: string, text: string): HTMLSpanElement {
  const element = document.createElement('span');
  element.className = className;
  element.textContent = text;
  return element;
}

/** The renderer factory the mime extension registers. */
export const treeRendererFactory: IRenderMime.IRendererFactory = {
  // it never renders HTML from the data, so it may render untrusted outputs too
  safe: true,
  mimeTypes: [TREE_MIME_TYPE],
  defaultRank: 10,
  createRenderer: options => new TaskscopeTree(options)
};
