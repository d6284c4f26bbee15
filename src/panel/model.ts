/**
 * The log panel's data model: the rows of one kernel's session, as a @lumino/datagrid
 * DataModel that pages them from the kernel's store on demand.
 *
 * Like the CSV viewer's DSVModel it answers `data()` synchronously from what it holds and
 * fills in the rest as it arrives; unlike it, it never holds the whole table. Rows come in
 * blocks (keyset pages, see BlockIndex) kept in a least-recently-used cache of at most
 * `maxRows` rows, whatever the session's size. New rows are announced once per batch
 * (`tail()`), as one "rows-inserted" change.
 *
 * With a live source (the notebook's KernelSession) it follows the kernel by itself: the
 * session's `rowsAppended` becomes a tail, its `reset` an index of the filter again.
 */
import { DataModel } from '@lumino/datagrid';
import { ISignal, Signal } from '@lumino/signaling';

import { GRID_COLUMNS } from '../presentation';
import { IIndexReply, IRow } from '../protocol';
import { BlockIndex } from './blockindex';
import { IFilter, kernelFilter } from './filter';
import { isLive, IRowSource, IRowsAppended } from '../rowsource';

/** The grid's columns: the record's `grid` columns, as a person reads a log. */
export { GRID_COLUMNS };

/** Rows per block: one keyset page. */
export const BLOCK_SIZE = 250;
/** The most rows the model holds, however many the session has. */
export const MAX_ROWS = 50000;
/** Above this many new seqs, the tail asks for positions only and fetches what shows. */
const TAIL_ROWS = 5000;
/** Block requests in flight at once: the kernel answers them one after another anyway. */
const MAX_IN_FLIGHT = 2;
/** Misses remembered outside the viewport; older ones were scrolled past. */
const MAX_WANTED = 4;

/** A row with its cell texts, made when first drawn. */
interface IHeldRow {
  row: IRow;
  cells?: string[];
}

/** One filter's rows: what a reset replaces as a whole. */
class View {
  constructor(filter: IFilter, index: BlockIndex) {
    this.filter = filter;
    // relative times ("10min") are fixed when the filter is applied: a window that
    // slid on under the view would move every row's position
    this.query = kernelFilter(filter, Date.now() / 1000);
    this.index = index;
  }
  readonly filter: IFilter;
  readonly query: { [key: string]: unknown };
  readonly index: BlockIndex;
  /** Blocks held, least recently used first. */
  readonly blocks = new Map<number, IHeldRow[]>();
  readonly inFlight = new Set<number>();
  /** The newest seq the kernel has been asked about: the tail starts after it. */
  examined = 0;
}

export class LogDataModel extends DataModel {
  constructor(options: LogDataModel.IOptions) {
    super();
    this._connect(options.source);
    this._blockSize = options.blockSize ?? BLOCK_SIZE;
    this._maxBlocks = Math.max(
      2,
      Math.floor((options.maxRows ?? MAX_ROWS) / this._blockSize)
    );
    this._view = new View({}, new BlockIndex(this._blockSize));
  }

  /** Emitted when the count, the loading state or the error changes. */
  get stateChanged(): ISignal<this, void> {
    return this._stateChanged;
  }

  /** The filter of the rows shown. */
  get filter(): IFilter {
    return this._view.filter;
  }

  /** Rows matching the filter, as far as the model knows. */
  get count(): number {
    return this._view.index.count;
  }

  /** Rows held in the browser now (never more than maxRows plus a block). */
  get heldRows(): number {
    let n = 0;
    for (const block of this._view.blocks.values()) {
      n += block.length;
    }
    return n;
  }

  /** Whether the view is being (re)indexed. */
  get loading(): boolean {
    return this._loading;
  }

  /** The last error from the kernel (a bad filter, a lost comm); null after a success. */
  get error(): string | null {
    return this._error;
  }

  /**
   * Whether the tail fetches the new rows themselves (the grid follows the newest rows).
   * Following again catches up with what a live source reported meanwhile.
   */
  get following(): boolean {
    return this._following;
  }

  set following(value: boolean) {
    this._following = value;
    if (value && isLive(this._source)) {
      void this.tail(this._source.lastSeq);
    }
  }

  /** Where rows come from; null: nowhere yet (the notebook has no kernel). */
  get source(): IRowSource | null {
    return this._source;
  }

  /**
   * Read rows from another source (the notebook moved to another kernel): the filter is
   * indexed there.
   */
  setSource(source: IRowSource | null): Promise<void> {
    if (source === this._source) {
      return Promise.resolve();
    }
    this._disconnect();
    this._connect(source);
    this._tailWanted = 0;
    return this.refresh().catch(() => undefined);
  }

  rowCount(region: DataModel.RowRegion): number {
    return region === 'body' ? this._view.index.count : 1;
  }

  columnCount(region: DataModel.ColumnRegion): number {
    return region === 'body' ? GRID_COLUMNS.length : 0;
  }

  data(region: DataModel.CellRegion, row: number, column: number): string {
    if (region === 'column-header') {
      return GRID_COLUMNS[column]?.title ?? '';
    }
    if (region !== 'body') {
      return '';
    }
    const held = this._held(row);
    if (!held) {
      this._want(this._view.index.blockOf(row));
      return '';
    }
    if (!held.cells) {
      held.cells = GRID_COLUMNS.map(c => c.cell(held.row));
    }
    return held.cells[column] ?? '';
  }

  /** The row at a position if held (no fetch). */
  rowAt(position: number): IRow | undefined {
    return this._held(position)?.row;
  }

  /** The row at a position, fetching its block if needed. */
  async fetchRow(position: number): Promise<IRow | undefined> {
    const held = this._held(position);
    if (held) {
      return held.row;
    }
    const view = this._view;
    await this._fetch(view, view.index.blockOf(position));
    return this._view === view ? this._held(position)?.row : undefined;
  }

  /**
   * The rows the grid shows now: their blocks are fetched first, then the blocks around
   * them, so scrolling on finds them held.
   */
  setViewport(first: number, last: number): void {
    const index = this._view.index;
    this._viewport = [index.blockOf(first), index.blockOf(Math.max(first, last))];
    this._pump();
  }

  /** Show the rows of another filter: indexes it in the kernel, then resets the grid. */
  setFilter(filter: IFilter): Promise<void> {
    this._requested = filter;
    return this._reset(filter);
  }

  /**
   * Index the filter again (after a clear, a restart, a new session): the last one asked
   * for, which may still be on its way or may have failed (no kernel yet).
   */
  refresh(): Promise<void> {
    return this._reset(this._requested);
  }

  /**
   * Take the rows stored since the last look (up to `lastSeq`, the kernel's newest), as
   * one rows-inserted change. Following: the rows themselves (they are about to show);
   * otherwise, or after a burst, only their positions. Calls made while one runs are
   * folded into one more run.
   */
  async tail(lastSeq: number): Promise<void> {
    this._tailWanted = Math.max(this._tailWanted, lastSeq);
    if (this._tailing || !this._source) {
      return;
    }
    this._tailing = true;
    try {
      while (
        !this._loading &&
        this._tailWanted > Math.max(this._view.examined, this._view.index.lastSeq ?? 0)
      ) {
        await this._tailOnce(this._source, this._view, this._tailWanted);
      }
    } catch (error) {
      this._setError(error);
    } finally {
      this._tailing = false;
    }
  }

  /** Every row matching the filter, in seq order, page by page (CSV export). */
  async *allRows(pageSize = 10000): AsyncGenerator<IRow[]> {
    const view = this._view;
    const source = this._source;
    const last = view.index.lastSeq;
    if (last === null || !source) {
      return;
    }
    let after: number | null = null;
    for (;;) {
      const page = await source.query({
        filter: view.query,
        after_seq: after,
        before_seq: last + 1,
        limit: pageSize,
        with_total: false
      });
      if (page.rows.length === 0) {
        return;
      }
      yield page.rows;
      after = page.last_seq;
    }
  }

  dispose(): void {
    this._isDisposed = true;
    this._disconnect();
    this._view.blocks.clear();
    Signal.clearData(this);
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  private _connect(source: IRowSource | null): void {
    this._source = source;
    if (isLive(source)) {
      source.rowsAppended.connect(this._onRowsAppended, this);
      source.reset.connect(this._onReset, this);
    }
  }

  private _disconnect(): void {
    const source = this._source;
    if (isLive(source)) {
      source.rowsAppended.disconnect(this._onRowsAppended, this);
      source.reset.disconnect(this._onReset, this);
    }
    this._source = null;
  }

  private _onRowsAppended(_: unknown, rows: IRowsAppended): void {
    void this.tail(rows.lastSeq);
  }

  private _onReset(): void {
    // seqs may start again (a restart): what the tail wanted of the old rows means nothing
    this._tailWanted = 0;
    void this.refresh().catch(() => undefined);
  }

  private async _reset(filter: IFilter): Promise<void> {
    const ticket = ++this._resets;
    const source = this._source;
    if (!source || (isLive(source) && !source.isConnected)) {
      // nothing to ask yet: show the filter's (no) rows; the source's reset indexes it
      this._view = new View(filter, new BlockIndex(this._blockSize));
      this._loading = false;
      this._error = null;
      this.emitChanged({ type: 'model-reset' });
      this._stateChanged.emit();
      return;
    }
    this._loading = true;
    this._stateChanged.emit();
    let reply: IIndexReply;
    try {
      reply = await source.index({
        filter: kernelFilter(filter),
        every: this._blockSize
      });
    } catch (error) {
      if (ticket === this._resets) {
        this._loading = false;
        this._setError(error);
      }
      throw error;
    }
    if (ticket !== this._resets || this._isDisposed) {
      return; // a newer reset won
    }
    const view = new View(filter, BlockIndex.fromReply(reply, this._blockSize));
    view.examined = reply.last_seq ?? 0;
    this._view = view;
    this._loading = false;
    this._error = null;
    this.emitChanged({ type: 'model-reset' });
    this._stateChanged.emit();
    if (this._tailWanted > view.examined) {
      void this.tail(this._tailWanted);
    }
  }

  private async _tailOnce(source: IRowSource, view: View, upTo: number): Promise<void> {
    const index = view.index;
    const after = Math.max(view.examined, index.lastSeq ?? 0);
    const before = index.count;
    let consistent: boolean;
    if (this._following && upTo - after <= TAIL_ROWS) {
      const page = await source.query({
        filter: view.query,
        after_seq: after,
        limit: TAIL_ROWS,
        with_total: false
      });
      if (view !== this._view) {
        return;
      }
      this._hold(view, index.count, page.rows);
      consistent = index.append(page.rows.map(r => r.seq));
    } else {
      const reply = await source.index({
        filter: view.query,
        every: this._blockSize,
        after_seq: after,
        skip: index.tailSkip
      });
      if (view !== this._view) {
        return;
      }
      consistent = index.extend(reply);
    }
    view.examined = Math.max(view.examined, upTo);
    if (!consistent) {
      // rows went away under the view (cleared): index it again
      await this.refresh();
      return;
    }
    if (index.count > before) {
      this.emitChanged({
        type: 'rows-inserted',
        region: 'body',
        index: before,
        span: index.count - before
      });
      this._stateChanged.emit();
    }
  }

  /** Put rows that continue the view (positions from `position` on) in their blocks. */
  private _hold(view: View, position: number, rows: IRow[]): void {
    const size = this._blockSize;
    for (let i = 0; i < rows.length; i++) {
      const p = position + i;
      const number = Math.floor(p / size);
      let block = view.blocks.get(number);
      if (!block && p % size === 0) {
        block = [];
        view.blocks.set(number, block);
      }
      // a block held only in part (its start was evicted or never read) is left to paging
      if (block && block.length === p - number * size) {
        block.push({ row: rows[i] });
      }
    }
    this._evict(view);
  }

  private _held(position: number): IHeldRow | undefined {
    const view = this._view;
    const number = view.index.blockOf(position);
    const block = view.blocks.get(number);
    if (!block) {
      return undefined;
    }
    // most recently used last
    view.blocks.delete(number);
    view.blocks.set(number, block);
    return block[position - number * this._blockSize];
  }

  private _want(block: number): void {
    const at = this._wanted.indexOf(block);
    if (at >= 0) {
      this._wanted.splice(at, 1);
    }
    this._wanted.push(block);
    if (this._wanted.length > MAX_WANTED) {
      this._wanted.shift();
    }
    if (!this._pumpQueued) {
      this._pumpQueued = true;
      void Promise.resolve().then(() => {
        this._pumpQueued = false;
        this._pump();
      });
    }
  }

  /** Start block fetches: shown blocks first, then the latest misses, then neighbours. */
  private _pump(): void {
    const view = this._view;
    // a disposed model holds nothing, so every block would look missing for ever
    while (!this._isDisposed && view.inFlight.size < MAX_IN_FLIGHT) {
      const next = this._nextBlock(view);
      if (next === null) {
        return;
      }
      void this._fetch(view, next).catch(error => this._setError(error));
    }
  }

  private _nextBlock(view: View): number | null {
    const missing = (b: number) =>
      b >= 0 &&
      view.index.blockLength(b) > 0 &&
      !view.inFlight.has(b) &&
      (view.blocks.get(b)?.length ?? -1) < view.index.blockLength(b);
    const [first, last] = this._viewport;
    for (let b = first; b <= last; b++) {
      if (missing(b)) {
        return b;
      }
    }
    // misses outside the viewport, newest first (older ones were scrolled past)
    for (let b = this._wanted.pop(); b !== undefined; b = this._wanted.pop()) {
      if (missing(b)) {
        return b;
      }
    }
    // the neighbours of what shows, so scrolling on finds them held
    for (const b of last >= first ? [last + 1, first - 1] : []) {
      if (missing(b)) {
        return b;
      }
    }
    return null;
  }

  private async _fetch(view: View, number: number): Promise<void> {
    const start = view.index.startSeq(number);
    const source = this._source;
    if (start === null || view.inFlight.has(number) || !source) {
      return;
    }
    view.inFlight.add(number);
    try {
      const page = await source.query({
        filter: view.query,
        after_seq: start - 1,
        limit: this._blockSize,
        with_total: false
      });
      if (view !== this._view || this._isDisposed) {
        return;
      }
      const expected = view.index.blockLength(number);
      if (page.rows.length < expected || page.rows[0]?.seq !== start) {
        // fewer rows than the index promised: they were deleted (a clear)
        void this.refresh().catch(() => undefined);
        return;
      }
      const rows = page.rows.slice(0, expected).map(row => ({ row }));
      view.blocks.delete(number);
      view.blocks.set(number, rows);
      this._evict(view);
      this._error = null;
      this.emitChanged({
        type: 'cells-changed',
        region: 'body',
        row: number * this._blockSize,
        rowSpan: rows.length,
        column: 0,
        columnSpan: GRID_COLUMNS.length
      });
    } finally {
      view.inFlight.delete(number);
      if (view === this._view) {
        this._pump();
      }
    }
  }

  /** Drop the least recently used blocks beyond the bound, never one on screen. */
  private _evict(view: View): void {
    const [first, last] = this._viewport;
    for (const number of view.blocks.keys()) {
      if (view.blocks.size <= this._maxBlocks) {
        return;
      }
      if (number < first || number > last) {
        view.blocks.delete(number);
      }
    }
  }

  private _setError(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    if (message !== this._error) {
      this._error = message;
      this._stateChanged.emit();
    }
  }

  private _source: IRowSource | null = null;
  private _following = true;
  private _blockSize: number;
  private _maxBlocks: number;
  private _view: View;
  private _requested: IFilter = {};
  private _viewport: [number, number] = [0, -1];
  private _wanted: number[] = [];
  private _pumpQueued = false;
  private _resets = 0;
  private _loading = false;
  private _error: string | null = null;
  private _tailing = false;
  private _tailWanted = 0;
  private _isDisposed = false;
  private _stateChanged = new Signal<this, void>(this);
}

export namespace LogDataModel {
  export interface IOptions {
    /** Where rows come from: the notebook's kernel session, or null while it has none. */
    source: IRowSource | null;
    /** Rows per block (one page); BLOCK_SIZE by default. */
    blockSize?: number;
    /** The most rows held in the browser; MAX_ROWS by default. */
    maxRows?: number;
  }
}
