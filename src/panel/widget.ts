/**
 * The log panel's content: the filter bar, the grid of rows with the detail of the
 * selected one (beside the grid, or below it when that keeps the message column readable),
 * or in Tree mode the rows grouped under their actions (treeview.ts, made when first
 * shown), and a status line ("N of M rows"). Layout, selection and following only: the data model
 * keeps itself in step with the notebook's kernel session (new rows, resets), and the view
 * keeps the newest rows in sight while the user is at the bottom.
 */
import { ISignal, Signal } from '@lumino/signaling';
import { Message } from '@lumino/messaging';
import { Panel, SplitPanel, Widget } from '@lumino/widgets';

import { TaskscopeModel } from '../model';
import { IActionsQuery, IActionsReply, IRow } from '../protocol';
import { csvHeader, csvRows } from '../csv';
import { datasetCall } from '../pycode';
import { RowDetail } from './detail';
import { IFilter, kernelFilter } from './filter';
import { FilterBar } from './filterbar';
import { LogGrid } from './grid';
import { LogDataModel } from './model';
import { ILiveRowSource } from '../rowsource';
import { IActionSource } from './treemodel';
import { TreeView } from './treeview';

/**
 * The split of grid and detail, as shares of the split's width (the detail beside the
 * grid) or height (below it), until the user drags the handle between them.
 */
const SHARES: { [orientation in SplitPanel.Orientation]: number[] } = {
  horizontal: [0.7, 0.3],
  vertical: [0.6, 0.4]
};
/** Pixels between grid and detail: the handle to drag. */
const SPACING = 4;
/**
 * The least split height for the detail below the grid: the grid's header and 8 rows,
 * the detail's head and a few facts.
 */
const BELOW_HEIGHT = 330;
/** How much wider than high a split must be to put the detail beside when neither way fits. */
const WIDE = 2;

/** How long an action's outcome stays in the status line. */
const NOTICE_MS = 8000;
/** A scroll this soon after a wheel, key or drag is the user's. */
const USER_INPUT_MS = 500;

/** What the view needs of a kernel session: its rows and its status (and its actions, for the tree). */
export interface ILogSession extends ILiveRowSource {
  readonly model: TaskscopeModel;
  actions?(query: IActionsQuery): Promise<IActionsReply>;
}

/** How the panel shows the rows: the flat table, or grouped under their actions. */
export type ViewMode = 'table' | 'tree';

/** A session that can answer the tree (one that has the `actions` op). */
function actionSource(session: ILogSession | null): IActionSource | null {
  return session && typeof session.actions === 'function' ? (session as IActionSource) : null;
}

export class LogView extends Panel {
  constructor(options: LogView.IOptions) {
    super();
    this.addClass('jp-taskscope-LogView');
    this._session = options.session;
    this.model = new LogDataModel({ source: options.session });
    this.filterBar = new FilterBar();
    this.grid = new LogGrid(this.model);
    this.detail = new RowDetail();
    this._footer = new Widget();
    this._footer.addClass('jp-taskscope-LogView-status');
    this._footer.node.setAttribute('aria-live', 'polite');

    const split = (this._split = new SplitPanel({
      orientation: 'horizontal',
      spacing: SPACING
    }));
    split.addClass('jp-taskscope-LogView-split');
    split.addWidget(this.grid);
    split.addWidget(this.detail);
    SplitPanel.setStretch(this.grid, 3);
    SplitPanel.setStretch(this.detail, 1);
    // the grid has the width until a row is picked
    this.detail.hide();
    this.detail.closed.connect(this._closeDetail, this);
    // Escape in the grid or the detail closes the detail (the grid also drops its selection)
    this.node.addEventListener('keydown', event => {
      const target = event.target as Node;
      if (
        event.key === 'Escape' &&
        this.detail.isVisible &&
        (this.grid.node.contains(target) || this.detail.node.contains(target))
      ) {
        this._closeDetail();
      }
    });
    split.handleMoved.connect(() => {
      if (this.detail.isVisible) {
        this._shares[split.orientation] = split.relativeSizes();
      }
    });
    this.addWidget(this.filterBar);
    this.addWidget(split);
    this.addWidget(this._footer);

    this.filterBar.setFilter(options.filter ?? {});
    this.filterBar.filterChanged.connect((_, filter) => void this.setFilter(filter));
    this.model.changed.connect(this._onModelChanged, this);
    this.model.stateChanged.connect(this._renderStatus, this);
    this.grid.painted.connect(this._onPainted, this);
    this.grid.resized.connect(this._onGridResized, this);
    this._watchInput();
    this.grid.selectionModel!.changed.connect(this._onSelection, this);
    this._session?.model.changed.connect(this._onStatus, this);
    this._following = this.model.following = options.following ?? true;
    void this.setFilter(options.filter ?? {});
    this._onStatus();
  }

  readonly model: LogDataModel;
  readonly filterBar: FilterBar;
  readonly grid: LogGrid;
  readonly detail: RowDetail;

  /** Whether the grid follows the newest rows. */
  get following(): boolean {
    return this._following;
  }

  set following(value: boolean) {
    if (value === this._following) {
      return;
    }
    this._following = value;
    this.model.following = value;
    if (value) {
      this._scrollToBottom();
    }
    this._followingChanged.emit(value);
    this._renderStatus();
  }

  /** Table or Tree. */
  get mode(): ViewMode {
    return this._mode;
  }

  set mode(mode: ViewMode) {
    if (mode === this._mode) {
      return;
    }
    this._mode = mode;
    const tree = mode === 'tree' ? this._treeView() : this._tree;
    this._split.setHidden(mode === 'tree');
    tree?.setHidden(mode !== 'tree');
    this._modeChanged.emit(mode);
    this._renderStatus();
  }

  /** Emitted when the mode changes (the toolbar's switch shows it, the restorer saves it). */
  get modeChanged(): ISignal<this, ViewMode> {
    return this._modeChanged;
  }

  /** The Tree mode's view, made the first time the tree shows. */
  get tree(): TreeView | null {
    return this._tree;
  }

  /** Emitted when following starts or stops (the toolbar's toggle shows it). */
  get followingChanged(): ISignal<this, boolean> {
    return this._followingChanged;
  }

  /** Emitted when the filter the view shows changes (the restorer saves it). */
  get filterChanged(): ISignal<this, IFilter> {
    return this._filterChanged;
  }

  /** The notebook's kernel session shown; null while the notebook has no kernel. */
  get session(): ILogSession | null {
    return this._session;
  }

  /** Show another kernel session's rows (the notebook's kernel changed), same filter. */
  setSession(session: ILogSession | null): void {
    if (session === this._session) {
      return;
    }
    this._session?.model.changed.disconnect(this._onStatus, this);
    this._session = session;
    session?.model.changed.connect(this._onStatus, this);
    // another kernel's rows: the selection and the detail were of the old ones
    this.grid.selectionModel?.clear();
    this.detail.setRow(null);
    this.detail.hide();
    void this._tree?.setSource(actionSource(session));
    void this.model.setSource(session).then(() => {
      if (this._following) {
        this._scrollToBottom();
      }
    });
    this._onStatus();
  }

  /** "N of M rows": matching rows of all rows in the session. */
  get summary(): string {
    const total = this._session?.model.status?.rows ?? 0;
    const shown = this.model.count;
    return `${shown.toLocaleString()} of ${Math.max(total, shown).toLocaleString()} rows`;
  }

  /** Show the rows of a filter (the kernel evaluates it). */
  async setFilter(filter: IFilter): Promise<void> {
    this.filterBar.setError(null);
    try {
      await this.model.setFilter(filter);
    } catch (error) {
      this.filterBar.setError((error as Error).message);
      return;
    }
    void this._tree?.model.setFilter(this._treeFilter());
    this._filterChanged.emit(filter);
    if (this._following) {
      this._scrollToBottom();
    }
  }

  /** Index the rows again (when asked; the model does after a reset by itself). */
  async refresh(): Promise<void> {
    await this.model.refresh().catch(() => undefined);
    if (this._following) {
      this._scrollToBottom();
    }
  }

  /** The Python cell that gives these rows as a DataFrame (as the user typed the filter). */
  notebookCode(): string {
    return datasetCall(kernelFilter(this.model.filter));
  }

  /**
   * The rows matching the filter as CSV, page by page into a Blob, so the browser's heap
   * holds one page at a time however many rows there are.
   */
  async exportCsv(onProgress?: (rows: number) => void): Promise<Blob> {
    const parts: Blob[] = [new Blob([csvHeader()])];
    let rows = 0;
    for await (const page of this.model.allRows()) {
      parts.push(new Blob([csvRows(page)]));
      rows += page.length;
      onProgress?.(rows);
    }
    return new Blob(parts, { type: 'text/csv' });
  }

  /** Say something in the status line for a while (an action's outcome). */
  announce(message: string): void {
    this._notice = message;
    this._renderStatus();
    clearTimeout(this._noticeTimer);
    this._noticeTimer = setTimeout(() => {
      this._notice = '';
      this._renderStatus();
    }, NOTICE_MS);
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    this.grid.applyTheme();
    this._arrange();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._arrange();
  }

  protected onResize(msg: Widget.ResizeMessage): void {
    super.onResize(msg);
    this._arrange();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._session?.model.changed.disconnect(this._onStatus, this);
    clearTimeout(this._noticeTimer);
    this.model.dispose();
    super.dispose();
  }

  private _treeView(): TreeView {
    if (!this._tree) {
      const tree = (this._tree = new TreeView({ source: null }));
      tree.model.stateChanged.connect(this._renderStatus, this);
      this.insertWidget(this.widgets.indexOf(this._footer), tree);
      void tree.model.setFilter(this._treeFilter());
      void tree.setSource(actionSource(this._session));
    }
    return this._tree;
  }

  /** The panel's filter as the tree's: the kernel's action filters take the row filters' names. */
  private _treeFilter(): { [key: string]: unknown } {
    return kernelFilter(this.model.filter, Date.now() / 1000);
  }

  private _onStatus(): void {
    this.filterBar.setWorkers(this._session?.model.status?.workers ?? []);
    this._renderStatus();
  }

  private _onModelChanged(_: LogDataModel, change: { type: string }): void {
    if ((change.type === 'rows-inserted' || change.type === 'model-reset') && this._following) {
      this._scrollToBottom();
    }
  }

  /**
   * After a paint: fetch what shows. A scroll up by the user stops following, a scroll
   * down to the end resumes it; the grid's own moves (rows in, a new filter, a resize)
   * change nothing.
   */
  private _onPainted(): void {
    const [first, last] = this.grid.visibleRows();
    this._shown = [first, last];
    this.model.setViewport(first, last);
    const y = this.grid.scrollY;
    if (!this._autoScrolling && this._userScrolling()) {
      // (a grid grown taller moves up too, but stays at the bottom: that is no scroll up)
      if (this._following && y < this._lastScrollY && !this.grid.atBottom) {
        this.following = false;
      } else if (!this._following && y > this._lastScrollY && this.grid.atBottom) {
        this.following = true;
      }
    }
    this._lastScrollY = y;
  }

  /**
   * After the grid's size changed (the detail opened below it, the panel was resized):
   * the newest rows stay in view while following, else the selected row if it was.
   */
  private _onGridResized(): void {
    if (this._following) {
      this._scrollToBottom();
      return;
    }
    const cursor = this.grid.selectionModel?.cursorRow ?? -1;
    const [first, last] = this._shown;
    if (cursor >= first && cursor <= last) {
      this._autoScrolling = true;
      try {
        this.grid.scrollToRow(cursor);
      } finally {
        this._autoScrolling = false;
        this._lastScrollY = this.grid.scrollY;
      }
    }
  }

  /** Whether the user is moving the grid: a wheel, a key, a drag of the scroll bar. */
  private _userScrolling(): boolean {
    return this._pointerDown || performance.now() - this._inputAt < USER_INPUT_MS;
  }

  private _watchInput(): void {
    const node = this.grid.node;
    const input = () => (this._inputAt = performance.now());
    for (const type of ['wheel', 'keydown', 'touchmove']) {
      node.addEventListener(type, input, { capture: true, passive: true });
    }
    node.addEventListener('mousedown', () => (this._pointerDown = true), true);
    const up = () => {
      if (this._pointerDown) {
        this._pointerDown = false;
        input();
      }
    };
    window.addEventListener('mouseup', up, true);
    this.disposed.connect(() => window.removeEventListener('mouseup', up, true));
  }

  private _scrollToBottom(): void {
    this._autoScrolling = true;
    try {
      this.grid.scrollTo(this.grid.scrollX, this.grid.maxScrollY);
    } finally {
      this._autoScrolling = false;
      this._lastScrollY = this.grid.scrollY;
    }
  }

  private _onSelection(): void {
    const cursor = this.grid.selectionModel?.cursorRow ?? -1;
    const again = cursor === this._cursor;
    this._cursor = cursor;
    // The grid emits the selection again when the model's rows change or its columns
    // step in or out: that is no new pick, and a detail the user closed stays closed
    // (a click on the same row opens it again).
    const reemitted = again && this.detail.isHidden && !this._pointerDown;
    if (cursor < 0 || this.grid.fitting || reemitted) {
      return;
    }
    const held = this.model.rowAt(cursor);
    if (held) {
      this._showRow(held);
      return;
    }
    void this.model.fetchRow(cursor).then(row => row && this._showRow(row));
  }

  private _showRow(row: IRow): void {
    const shown = this.detail.row;
    if (this.detail.isVisible && shown?.seq === row.seq && shown.created === row.created) {
      // the same row: keep the detail as it is (scrolled, text selected)
      return;
    }
    this.detail.setRow(row);
    if (this.detail.isHidden) {
      this._arrange();
      this.detail.show();
      this._split.setRelativeSizes(this._shares[this._split.orientation]);
    }
  }

  /** Hide the detail; the grid has the keys (and the room) again. */
  private _closeDetail(): void {
    this.detail.hide();
    this.grid.activate();
  }

  /** Put the detail beside the grid or below it, whichever suits the split's size. */
  private _arrange(): void {
    const split = this._split;
    const width = split.node.clientWidth;
    const height = split.node.clientHeight;
    if (!width || !height) {
      return;
    }
    const orientation = detailOrientation({
      width,
      height,
      gridShare: this._shares.horizontal[0],
      readableWidth: this.grid.readableWidth
    });
    if (orientation !== split.orientation) {
      split.orientation = orientation;
      if (this.detail.isVisible) {
        split.setRelativeSizes(this._shares[orientation]);
      }
    }
  }

  private _renderStatus(): void {
    const tree = this._mode === 'tree' ? this._tree : null;
    const parts = [tree ? tree.summary : this.summary];
    if (this.model.loading && !tree) {
      parts.push('filtering…');
    }
    if (!this._following && !tree) {
      parts.push('paused');
    }
    const state = this._session?.model.state ?? 'no-kernel';
    if (state === 'no-kernel') {
      parts.push('no kernel');
    } else if (state === 'connecting') {
      parts.push('connecting to the kernel…');
    } else if (state === 'no-comms') {
      parts.push('no comm to the kernel: reopen the notebook');
    } else if (state !== 'recording' && state !== 'stopped') {
      parts.push('no taskscope in this kernel');
    }
    if (this.model.error && !tree) {
      parts.push(`error: ${this.model.error}`);
    } else if (this._notice) {
      parts.push(this._notice);
    }
    this._footer.node.textContent = parts.join(' · ');
  }

  private _session: ILogSession | null;
  private _split: SplitPanel;
  private _shares = { ...SHARES };
  private _footer: Widget;
  private _following = false;
  private _autoScrolling = false;
  private _lastScrollY = 0;
  /** The selection's cursor row when last seen. */
  private _cursor = -1;
  /** The body rows on screen at the last paint. */
  private _shown: [number, number] = [0, -1];
  private _inputAt = -Infinity;
  private _pointerDown = false;
  private _notice = '';
  private _noticeTimer: ReturnType<typeof setTimeout> | undefined = undefined;
  private _mode: ViewMode = 'table';
  private _tree: TreeView | null = null;
  private _modeChanged = new Signal<this, ViewMode>(this);
  private _followingChanged = new Signal<this, boolean>(this);
  private _filterChanged = new Signal<this, IFilter>(this);
}

/**
 * Where the detail goes in a split of a size: beside the grid when the grid keeps a
 * readable message column there; else below it when the split is tall enough for both;
 * else (a small split) beside when the split is wide rather than tall.
 */
export function detailOrientation(split: {
  width: number;
  height: number;
  /** The grid's share of the width when the detail is beside it. */
  gridShare: number;
  /** The grid width its message column needs (LogGrid.readableWidth). */
  readableWidth: number;
}): SplitPanel.Orientation {
  const { width, height, gridShare, readableWidth } = split;
  if ((width - SPACING) * gridShare >= readableWidth) {
    return 'horizontal';
  }
  if (height >= BELOW_HEIGHT) {
    return 'vertical';
  }
  return width >= WIDE * height ? 'horizontal' : 'vertical';
}

export namespace LogView {
  export interface IOptions {
    /** The notebook's kernel session: rows, their resets and the kernel's status. */
    session: ILogSession | null;
    /** The filter to start with (a restored panel's). */
    filter?: IFilter;
    /** Follow the newest rows from the start (default true). */
    following?: boolean;
  }
}
