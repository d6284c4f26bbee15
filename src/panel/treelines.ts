/**
 * The panel tree's lines: the action tree flattened into the rows a grid shows, opened
 * one level at a time. Pure bookkeeping, no I/O: the tree model (treemodel.ts) fetches
 * pages and hands them here.
 *
 * Every expanded action is followed by its child actions (each followed by its own lines
 * when expanded), then the log rows logged directly inside it, then, when it has more of
 * those than ROWS_SHOWN, one line saying how many more. A child or row not fetched yet is
 * a placeholder line (`pending`, or a `row` whose row is null) that knows its parent and
 * its position among its siblings, so a page fills the placeholders it covers. One flat
 * array holds the lines: a grid reads line n in O(1), and expanding a node of 10,000
 * children inserts 10,000 placeholders in one splice.
 *
 * An id stays in `expanded` after its line goes away (a collapsed parent, a reload): the
 * action opens again when its line is filled, as a file browser keeps the folders open.
 */
import type { IActionNode, IRow } from '../protocol';

/** Log rows shown under one action; the Table view (filter action=<id>) has them all. */
export const ROWS_SHOWN = 1000;

/** Lines one splice inserts at most. */
const SPLICE_CHUNK = 8192;

interface ILineBase {
  /** 0 for a root. */
  depth: number;
  /** The id of the action it is inside ('' for a root). */
  parent: string;
  /** Its position among its parent's children (actions) or rows. */
  index: number;
  /** Its cells' texts, once drawn (treetext.ts cellTexts); cleared when it changes. */
  cells?: string[];
}

/** An action. */
export interface IActionLine extends ILineBase {
  readonly kind: 'action';
  node: IActionNode;
  expanded: boolean;
}

/** A child action not fetched yet. */
export interface IPendingLine extends ILineBase {
  readonly kind: 'pending';
}

/** A log row logged directly inside its parent (null until fetched). */
export interface IRowLine extends ILineBase {
  readonly kind: 'row';
  row: IRow | null;
}

/** "N more rows": the rows of the parent beyond ROWS_SHOWN. */
export interface IMoreLine extends ILineBase {
  readonly kind: 'more';
  hidden: number;
}

export type TreeLine = IActionLine | IPendingLine | IRowLine | IMoreLine;

/** What changed in the lines, as a DataModel says it. */
export type LinesChange =
  | { type: 'rows-inserted' | 'rows-removed'; index: number; span: number }
  | { type: 'cells-changed'; index: number; span: number }
  | { type: 'model-reset' };

/** A page of the siblings of `parent` one request can fill. */
export interface IPageNeed {
  parent: string;
  page: number;
}

export class TreeLines {
  constructor(onChange: (change: LinesChange) => void = () => undefined) {
    this._onChange = onChange;
  }

  /** The lines, top to bottom. */
  readonly lines: TreeLine[] = [];

  /** Ids of the actions the user opened (kept across reloads and collapsed parents). */
  readonly expanded = new Set<string>();

  /** Start again from `total` roots, none fetched. */
  reset(total: number): void {
    this.lines.length = 0;
    this._byId.clear();
    for (let i = 0; i < total; i++) {
      this.lines.push({ kind: 'pending', depth: 0, parent: '', index: i });
    }
    this._onChange({ type: 'model-reset' });
  }

  /** The shown line of an action, if any. */
  lineOf(id: string): IActionLine | undefined {
    return this._byId.get(id);
  }

  /**
   * Fill the placeholders a page of `parent`'s children covers (from `offset`), update the
   * actions already shown, and add placeholders for siblings that came since (`total`).
   * A page of a parent not shown (collapsed meanwhile) changes nothing.
   */
  applyPage(parent: string, offset: number, nodes: IActionNode[], total: number): void {
    const span = this._span(parent);
    if (!span) {
      return;
    }
    const [start, depth] = span;
    const reopen: IActionLine[] = [];
    if (!this._fillDense(start, depth, parent, offset, nodes, total, reopen)) {
      this._fillWalking(span, parent, offset, nodes, total, reopen);
    }
    for (const line of reopen) {
      this.expand(line);
    }
  }

  /**
   * The usual case at once: no sibling is open and none came, so child k is line
   * `start + k` (child total-1 there says so: each child before it has one line). False
   * when that is not so.
   */
  private _fillDense(
    start: number,
    depth: number,
    parent: string,
    offset: number,
    nodes: IActionNode[],
    total: number,
    reopen: IActionLine[]
  ): boolean {
    const lines = this.lines;
    const last = lines[start + total - 1];
    const next = lines[start + total];
    const isChild = (line: TreeLine | undefined) =>
      line !== undefined &&
      line.depth === depth &&
      line.parent === parent &&
      (line.kind === 'action' || line.kind === 'pending');
    if (
      offset + nodes.length > total ||
      !isChild(last) ||
      last.index !== total - 1 ||
      isChild(next)
    ) {
      return false;
    }
    for (let k = 0; k < nodes.length; k++) {
      const line = lines[start + offset + k];
      if (line.kind === 'action' && line.expanded) {
        return false; // (before anything changed: the walk does it all)
      }
    }
    for (let k = 0; k < nodes.length; k++) {
      const i = start + offset + k;
      this._fill(i, lines[i] as IActionLine | IPendingLine, nodes[k], reopen);
    }
    return true;
  }

  /** Any case: walk the lines under `parent`, skipping what is open below its children. */
  private _fillWalking(
    span: [number, number, number],
    parent: string,
    offset: number,
    nodes: IActionNode[],
    total: number,
    reopen: IActionLine[]
  ): void {
    const [start, depth] = span;
    let end = span[2];
    const lines = this.lines;
    let children = 0;
    let childrenEnd = -1; // after the last child action's lines: where rows begin
    for (let i = start; i < end; i++) {
      const line = lines[i];
      if (line.depth !== depth) {
        continue;
      }
      if (line.kind === 'row' || line.kind === 'more') {
        childrenEnd = childrenEnd < 0 ? i : childrenEnd;
        continue;
      }
      children++;
      const k = line.index - offset;
      if (k >= 0 && k < nodes.length) {
        end += this._fill(i, line, nodes[k], reopen);
      }
    }
    if (total > children) {
      // siblings that came since: those of this page filled at once
      const added: TreeLine[] = [];
      for (let k = children; k < total; k++) {
        const node = nodes[k - offset];
        const line: TreeLine = node
          ? actionLine(node, depth, k)
          : { kind: 'pending', depth, parent, index: k };
        added.push(line);
        if (node && this.expanded.has(node.action)) {
          reopen.push(line as IActionLine);
        }
      }
      this._insert(childrenEnd < 0 ? end : childrenEnd, added);
    }
  }

  /**
   * Put an action on line `i`: the same one updated (an open one grows what it shows), a
   * placeholder filled, or another action at this place (the order changed: the one that
   * was there closes). How many lines were added below it.
   */
  private _fill(i: number, line: IActionLine | IPendingLine, node: IActionNode, reopen: IActionLine[]): number {
    if (line.kind === 'action' && line.node.action === node.action) {
      line.node = node;
      line.cells = undefined;
      this._onChange({ type: 'cells-changed', index: i, span: 1 });
      return line.expanded ? this._grow(i, line) : 0;
    }
    let delta = 0;
    if (line.kind === 'action') {
      delta -= this._removeBelow(i, line);
      this._byId.delete(line.node.action);
    }
    const filled = actionLine(node, line.depth, line.index);
    this.lines[i] = filled;
    this._byId.set(node.action, filled);
    this._onChange({ type: 'cells-changed', index: i, span: 1 });
    if (this.expanded.has(node.action)) {
      reopen.push(filled);
    }
    return delta;
  }

  /** Fill the row lines of `parent` from its `from`-th row on. */
  applyRows(parent: string, from: number, rows: IRow[]): void {
    const span = this._span(parent);
    if (!span || rows.length === 0) {
      return;
    }
    const [start, depth, end] = span;
    for (let i = start; i < end; i++) {
      const line = this.lines[i];
      if (line.kind === 'row' && line.depth === depth) {
        const k = line.index - from;
        if (k >= 0 && k < rows.length) {
          line.row = rows[k];
          line.cells = undefined;
          this._onChange({ type: 'cells-changed', index: i, span: 1 });
        }
      }
    }
  }

  /** Open an action: placeholders for its children and rows below its line. */
  expand(line: IActionLine): void {
    const at = this.lines.indexOf(line);
    this.expanded.add(line.node.action);
    if (at < 0 || line.expanded) {
      return;
    }
    line.expanded = true;
    line.cells = undefined;
    this._onChange({ type: 'cells-changed', index: at, span: 1 });
    const { children, rows } = line.node;
    const depth = line.depth + 1;
    const parent = line.node.action;
    const added: TreeLine[] = [];
    for (let k = 0; k < children; k++) {
      added.push({ kind: 'pending', depth, parent, index: k });
    }
    added.push(...rowLines(parent, depth, 0, rows));
    this._insert(at + 1, added);
  }

  /** Close an action: its lines below go (it stays closed when shown again). */
  collapse(line: IActionLine): void {
    this.expanded.delete(line.node.action);
    const at = this.lines.indexOf(line);
    if (at < 0 || !line.expanded) {
      return;
    }
    this._removeBelow(at, line);
    line.cells = undefined;
    this._onChange({ type: 'cells-changed', index: at, span: 1 });
  }

  /** Whether an action line can open (it has children or rows). */
  static canExpand(line: TreeLine): line is IActionLine {
    return line.kind === 'action' && line.node.children + line.node.rows > 0;
  }

  /**
   * What the lines `first`..`last` wait for: the pages of siblings (of `pageSize`) whose
   * placeholders show, and for each parent the first row not fetched among those shown.
   */
  needs(
    first: number,
    last: number,
    pageSize: number
  ): { pages: IPageNeed[]; rows: Map<string, number> } {
    const pages = new Map<string, IPageNeed>();
    const rows = new Map<string, number>();
    const end = Math.min(last, this.lines.length - 1);
    for (let i = Math.max(0, first); i <= end; i++) {
      const line = this.lines[i];
      if (line.kind === 'pending') {
        const page = Math.floor(line.index / pageSize);
        pages.set(`${line.parent}\u0000${page}`, { parent: line.parent, page });
      } else if (line.kind === 'row' && line.row === null) {
        const known = rows.get(line.parent);
        if (known === undefined || line.index < known) {
          rows.set(line.parent, line.index);
        }
      }
    }
    return { pages: Array.from(pages.values()), rows };
  }

  /**
   * The pages of siblings that lines `first`..`last` show (filled or not): what a refresh
   * asks for again.
   */
  shownPages(first: number, last: number, pageSize: number): IPageNeed[] {
    const pages = new Map<string, IPageNeed>();
    const end = Math.min(last, this.lines.length - 1);
    for (let i = Math.max(0, first); i <= end; i++) {
      const line = this.lines[i];
      if (line.kind === 'action' || line.kind === 'pending') {
        const page = Math.floor(line.index / pageSize);
        pages.set(`${line.parent}\u0000${page}`, { parent: line.parent, page });
      }
    }
    return Array.from(pages.values());
  }

  /** [first line under `parent`, their depth, one past the last]; null when not open. */
  private _span(parent: string): [number, number, number] | null {
    if (parent === '') {
      return [0, 0, this.lines.length];
    }
    const line = this._byId.get(parent);
    if (!line || !line.expanded) {
      return null;
    }
    const at = this.lines.indexOf(line);
    return at < 0 ? null : [at + 1, line.depth + 1, this._subtreeEnd(at)];
  }

  /** One past the last line below line `at`. */
  private _subtreeEnd(at: number): number {
    const depth = this.lines[at].depth;
    let end = at + 1;
    while (end < this.lines.length && this.lines[end].depth > depth) {
      end++;
    }
    return end;
  }

  /**
   * An open action's children or rows grew (it ran on): placeholders for the new ones,
   * counted against the lines it has (a page of its own children may have added some
   * already); how many lines were added. Fewer than it shows (short of a clear, which
   * reloads, cannot happen) opens it afresh.
   */
  private _grow(at: number, line: IActionLine): number {
    const end = this._subtreeEnd(at);
    const depth = line.depth + 1;
    let rowsAt = end;
    let children = 0;
    for (let i = at + 1; i < end; i++) {
      const next = this.lines[i];
      if (next.depth !== depth) {
        continue;
      }
      if (next.kind === 'row' || next.kind === 'more') {
        rowsAt = i;
        break;
      }
      children++;
    }
    let rows = 0;
    while (rowsAt + rows < end && this.lines[rowsAt + rows].kind === 'row') {
      rows++;
    }
    const node = line.node;
    const wanted = Math.min(node.rows, ROWS_SHOWN);
    const more = end - rowsAt - rows;
    if (node.children === children && wanted === rows && more === (node.rows > ROWS_SHOWN ? 1 : 0)) {
      return 0;
    }
    if (node.children < children || wanted < rows) {
      this._removeBelow(at, line);
      this.expand(line);
      return this._subtreeEnd(at) - end;
    }
    const parent = node.action;
    this._remove(rowsAt + rows, more);
    this._insert(rowsAt + rows, rowLines(parent, depth, rows, node.rows));
    const added: TreeLine[] = [];
    for (let k = children; k < node.children; k++) {
      added.push({ kind: 'pending', depth, parent, index: k });
    }
    this._insert(rowsAt, added);
    return this._subtreeEnd(at) - end;
  }

  /** Remove the lines below an action's line (it is closed); how many went. */
  private _removeBelow(at: number, line: IActionLine): number {
    const n = this._subtreeEnd(at) - at - 1;
    line.expanded = false;
    this._remove(at + 1, n);
    return n;
  }

  private _insert(at: number, added: TreeLine[]): void {
    if (added.length === 0) {
      return;
    }
    // in chunks: splice(at, 0, ...added) passes every line as an argument (the stack's limit)
    for (let c = 0; c < added.length; c += SPLICE_CHUNK) {
      this.lines.splice(at + c, 0, ...added.slice(c, c + SPLICE_CHUNK));
    }
    for (const line of added) {
      if (line.kind === 'action') {
        this._byId.set(line.node.action, line);
      }
    }
    this._onChange({ type: 'rows-inserted', index: at, span: added.length });
  }

  private _remove(at: number, n: number): void {
    if (n <= 0) {
      return;
    }
    for (const line of this.lines.splice(at, n)) {
      if (line.kind === 'action' && this._byId.get(line.node.action) === line) {
        this._byId.delete(line.node.action);
      }
    }
    this._onChange({ type: 'rows-removed', index: at, span: n });
  }

  private _onChange: (change: LinesChange) => void;
  private _byId = new Map<string, IActionLine>();
}

function actionLine(node: IActionNode, depth: number, index: number): IActionLine {
  return { kind: 'action', depth, parent: node.parent, index, node, expanded: false };
}

/** Row placeholders for rows `from`..`count - 1` of an action (at most ROWS_SHOWN), and a "more" line. */
function rowLines(parent: string, depth: number, from: number, count: number): TreeLine[] {
  const lines: TreeLine[] = [];
  for (let k = from; k < Math.min(count, ROWS_SHOWN); k++) {
    lines.push({ kind: 'row', depth, parent, index: k, row: null });
  }
  if (count > ROWS_SHOWN) {
    lines.push({ kind: 'more', depth, parent, index: ROWS_SHOWN, hidden: count - ROWS_SHOWN });
  }
  return lines;
}
