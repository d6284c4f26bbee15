/**
 * The Tree mode's grid: a @lumino/datagrid DataGrid over the ActionTreeModel, drawing
 * text on a canvas like the table's grid (log text never becomes HTML), in the theme's
 * colours: failed actions and the actions above them (their chain to the root) in the
 * error colour with a tint, statuses in their colours, log rows in their level's.
 *
 * A click on a line's ▸/▾ (or a double click anywhere on it, or →/←/Enter) opens or
 * closes it; a click on the Duration header asks for the siblings by duration.
 */
import {
  BasicKeyHandler,
  BasicMouseHandler,
  BasicSelectionModel,
  DataGrid,
  TextRenderer
} from '@lumino/datagrid';
import { ISignal, Signal } from '@lumino/signaling';

import { StatusClass, statusClass } from '../actiontext';
import { levelClass } from '../text';
import {
  batchCellCopies,
  GRID_OPTIONS,
  gridStyle,
  readTheme,
  resolveColor,
  useRenderers,
  withAlpha
} from './grid';
import { ActionTreeModel, TREE_COLUMNS, TreeColumn } from './treemodel';
import { TreeLines } from './treelines';

/** Column widths in characters (the last one stretches). */
const WIDTHS: { [id in TreeColumn]: number } = {
  tree: 44,
  status: 11,
  duration: 10,
  inputs: 44,
  task: 16,
  worker: 16,
  cell: 10
};
/** The text renderer's padding left of the text. */
const PADDING = 8;
const STATUSES: StatusClass[] = ['succeeded', 'failed', 'started', 'chain'];

export class TreeGrid extends DataGrid {
  constructor(model: ActionTreeModel) {
    super(GRID_OPTIONS);
    this.addClass('jp-taskscope-TreeGrid');
    this.model = model;
    this.dataModel = model;
    this.selectionModel = new BasicSelectionModel({ dataModel: model, selectionMode: 'row' });
    this.mouseHandler = new TreeMouseHandler(this);
    this.keyHandler = new TreeKeyHandler(this);
    this.copyConfig = { ...this.copyConfig, headers: 'none' };
    batchCellCopies(this);
    this._size();
  }

  readonly model: ActionTreeModel;

  /** Emitted after each paint: what shows may have changed. */
  get painted(): ISignal<this, void> {
    return this._painted;
  }

  /** Emitted when a column header is clicked (Duration: sort by it). */
  get headerClicked(): ISignal<this, TreeColumn> {
    return this._headerClicked;
  }

  /** The body rows on screen, first and last (last < first when none). */
  visibleRows(): [number, number] {
    const viewport = this.currentViewport;
    return viewport ? [viewport.firstRow, viewport.lastRow] : [0, -1];
  }

  /** Open or close the line at a body row (if it has anything inside). */
  toggle(row: number): boolean {
    return this.model.toggle(row);
  }

  /** Whether a point in a tree cell (x from its left) is on the line's ▸/▾. */
  onToggle(row: number, x: number): boolean {
    const line = this.model.lineAt(row);
    if (!line || !TreeLines.canExpand(line)) {
      return false;
    }
    const toggleEnd = PADDING + (line.depth * 3 + 2) * this._charWidth;
    return x <= toggleEnd + this._charWidth;
  }

  /** Read the theme's colours again (on attach and when the theme changes). */
  applyTheme(): void {
    const colors = readTheme(this.node);
    this.style = gridStyle(this.node);
    const status = {} as { [name in StatusClass]: string };
    for (const name of STATUSES) {
      status[name] = resolveColor(this.node, `var(--jp-taskscope-status-${name})`);
    }
    const model = this.model;
    const body = new TextRenderer({
      font: colors.font,
      textColor: ({ row, column }) => {
        const line = model.lineAt(row);
        if (!line) {
          return colors.text;
        }
        if (line.kind === 'row') {
          return line.row ? colors.level[levelClass(line.row.levelno)] : colors.text;
        }
        if (line.kind !== 'action') {
          return colors.level.debug;
        }
        const id = TREE_COLUMNS[column]?.id;
        if (id === 'status') {
          // its own status; the chain is marked on the tree column
          return status[statusClass({ status: line.node.status })];
        }
        const kind = statusClass(line.node);
        return id === 'tree' && (kind === 'failed' || kind === 'chain') ? status[kind] : colors.text;
      },
      backgroundColor: ({ row }) => {
        const line = model.lineAt(row);
        if (line?.kind !== 'action') {
          return '';
        }
        const kind = statusClass(line.node);
        return kind === 'failed'
          ? withAlpha(status.failed, 0.16)
          : kind === 'chain'
            ? withAlpha(status.failed, 0.06)
            : '';
      },
      elideDirection: 'none'
    });
    this._charWidth = useRenderers(this, colors, body, this._charWidth);
    this._size();
  }

  protected paintContent(rx: number, ry: number, rw: number, rh: number): void {
    super.paintContent(rx, ry, rw, rh);
    this._painted.emit();
  }

  /** @internal the mouse handler's word of a header click. */
  clickHeader(column: number): void {
    const id = TREE_COLUMNS[column]?.id;
    if (id) {
      this._headerClicked.emit(id);
    }
  }

  private _size(): void {
    TREE_COLUMNS.forEach((column, i) =>
      this.resizeColumn('body', i, Math.round(WIDTHS[column.id] * this._charWidth + 2 * PADDING))
    );
  }

  private _charWidth = 7.8;
  private _painted = new Signal<this, void>(this);
  private _headerClicked = new Signal<this, TreeColumn>(this);
}

/** Clicks: the ▸/▾ toggles, a double click toggles, a header click sorts. */
class TreeMouseHandler extends BasicMouseHandler {
  constructor(grid: TreeGrid) {
    super();
    this._grid = grid;
  }

  onMouseDown(grid: DataGrid, event: MouseEvent): void {
    const hit = grid.hitTest(event.clientX, event.clientY);
    const edge = hit.x < 5 || hit.x > hit.width - 5; // a column's edge: resize it
    if (hit.region === 'column-header' && !edge && event.button === 0) {
      this._grid.clickHeader(hit.column);
      return;
    }
    if (
      hit.region === 'body' &&
      hit.column === 0 &&
      event.button === 0 &&
      this._grid.onToggle(hit.row, hit.x)
    ) {
      this._grid.toggle(hit.row);
    }
    super.onMouseDown(grid, event);
  }

  onMouseDoubleClick(grid: DataGrid, event: MouseEvent): void {
    const hit = grid.hitTest(event.clientX, event.clientY);
    if (hit.region === 'body' && !(hit.column === 0 && this._grid.onToggle(hit.row, hit.x))) {
      this._grid.toggle(hit.row);
    }
  }

  private _grid: TreeGrid;
}

/** Keys: → opens, ← closes, Enter toggles the cursor's line; the rest as usual. */
class TreeKeyHandler extends BasicKeyHandler {
  constructor(grid: TreeGrid) {
    super();
    this._grid = grid;
  }

  onKeyDown(grid: DataGrid, event: KeyboardEvent): void {
    const row = grid.selectionModel?.cursorRow ?? -1;
    const line = row >= 0 ? this._grid.model.lineAt(row) : undefined;
    const open = line?.kind === 'action' && line.expanded;
    const wanted =
      (event.key === 'ArrowRight' && !open) ||
      (event.key === 'ArrowLeft' && open) ||
      event.key === 'Enter';
    if (line && wanted && this._grid.toggle(row)) {
      event.preventDefault();
      event.stopPropagation();
      return;
    }
    super.onKeyDown(grid, event);
  }

  private _grid: TreeGrid;
}
