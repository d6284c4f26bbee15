/**
 * The log panel's grid: a @lumino/datagrid DataGrid drawing text on a canvas (log text
 * never becomes HTML), with colours read from the JupyterLab theme and a `painted` signal
 * that tells the panel what shows after every paint (scrolling included: the grid has no
 * scroll signal of its own).
 *
 * Its columns fit its width (src/panel/columns.ts): the message keeps a readable width and
 * the others give way, down to stepping out, whenever the grid is resized; a column the
 * user sizes by dragging its header edge keeps its width.
 */
import {
  BasicKeyHandler,
  BasicMouseHandler,
  BasicSelectionModel,
  DataGrid,
  DataModel,
  TextRenderer
} from '@lumino/datagrid';
import { Message } from '@lumino/messaging';
import { ISignal, Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

import { LevelClass, levelClass } from '../text';
import { ColumnView, fitColumns, readableWidth } from './columns';
import { LogDataModel } from './model';

const LEVELS: LevelClass[] = ['debug', 'info', 'warning', 'error', 'critical', 'system'];

/** Colours resolved from the theme's CSS variables (a canvas cannot read var()). */
export interface IThemeColors {
  font: string;
  headerFont: string;
  text: string;
  level: { [level in LevelClass]: string };
  /** A faint background for rows at WARNING and above. */
  tint: { [level in LevelClass]: string };
}

/** The panel's grids: rows of 20 px under a column header, the last column stretched. */
export const GRID_OPTIONS: DataGrid.IOptions = {
  defaultSizes: {
    rowHeight: 20,
    columnWidth: 120,
    rowHeaderWidth: 0,
    columnHeaderHeight: 22
  },
  minimumSizes: {
    rowHeight: 20,
    columnWidth: 40,
    rowHeaderWidth: 0,
    columnHeaderHeight: 22
  },
  headerVisibility: 'column',
  stretchLastColumn: true
};

export class LogGrid extends DataGrid {
  constructor(model: LogDataModel) {
    super(GRID_OPTIONS);
    this.addClass('jp-taskscope-LogGrid');
    this.columns = new ColumnView(model);
    this.dataModel = this.columns;
    this.selectionModel = new BasicSelectionModel({
      dataModel: this.columns,
      selectionMode: 'row'
    });
    // select by click and arrow keys; resize columns by dragging their header edges
    this.mouseHandler = new BasicMouseHandler();
    this.keyHandler = new BasicKeyHandler();
    // the usual widths until the grid knows its own
    this._fit(Infinity);
    this.copyConfig = { ...this.copyConfig, headers: 'none' };
    batchCellCopies(this);
  }

  /** The columns the grid shows of the panel's model. */
  readonly columns: ColumnView;

  /**
   * The grid's width (scroll bar and border included) at which every column shows and the
   * message column keeps its usual width: less than this, the other columns give way.
   */
  get readableWidth(): number {
    const columns = readableWidth(this._charWidth, this._userWidths);
    return columns + this._scrollBarWidth() + this._border();
  }

  /**
   * Resize a column. A resize from outside the grid's own fitting (a drag of a header
   * edge, a double click on one) is the user's: that column keeps its width from then on.
   */
  resizeColumn(region: DataModel.ColumnRegion, index: number, size: number | null): void {
    const id = region === 'body' && !this._fitting ? this.columns?.idAt(index) : undefined;
    if (id !== undefined) {
      this._userWidths.set(id, size ?? this.columnSize('body', index));
    }
    super.resizeColumn(region, index, size);
    if (id !== undefined && size === null) {
      // a double click fits the column to its content: its width is known once done (the
      // grid resizes on its next frame, before this)
      requestAnimationFrame(() => {
        const column = this.columns.columnOf(id);
        if (column >= 0) {
          this._userWidths.set(id, this.columnSize('body', column));
        }
      });
    }
  }

  /** Emitted after each paint: what shows may have changed (scroll, resize, new rows). */
  get painted(): ISignal<this, void> {
    return this._painted;
  }

  /** The body rows on screen, first and last (last < first when none). */
  visibleRows(): [number, number] {
    const viewport = this.currentViewport;
    return viewport ? [viewport.firstRow, viewport.lastRow] : [0, -1];
  }

  /** Whether the view is scrolled to its last row. */
  get atBottom(): boolean {
    return this.scrollY >= this.maxScrollY - 1;
  }

  /** Read the theme's colours again (on attach and when the theme changes). */
  applyTheme(): void {
    const colors = readTheme(this.node);
    this.style = gridStyle(this.node);
    const model = this.columns.model;
    const levelOf = (row: number) => levelClass(model.rowAt(row)?.levelno);
    const columns = this.columns;
    // Eliding measures text once per removed character: far too slow for log lines.
    // Cells are cut to a few hundred characters and the canvas clips each cell.
    const body = new TextRenderer({
      font: colors.font,
      textColor: ({ row, column }) =>
        columns.idAt(column) === 'level' ? colors.level[levelOf(row)] : colors.text,
      backgroundColor: ({ row }) => colors.tint[levelOf(row)],
      elideDirection: 'none'
    });
    this._charWidth = useRenderers(this, colors, body, this._charWidth);
    this._fit();
  }

  /** Whether the grid is fitting its columns (they step in and out: not the user's doing). */
  get fitting(): boolean {
    return this._fitting;
  }

  /** Emitted after the grid's size changed (its columns fitted to it). */
  get resized(): ISignal<this, void> {
    return this._resized;
  }

  protected onResize(msg: Widget.ResizeMessage): void {
    super.onResize(msg);
    this._fit();
    this._resized.emit();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._fit();
  }

  protected paintContent(rx: number, ry: number, rw: number, rh: number): void {
    super.paintContent(rx, ry, rw, rh);
    this._painted.emit();
  }

  /** Fit the columns to a body width (by default the grid's own, less its scroll bar). */
  private _fit(width = this.node.clientWidth - this._scrollBarWidth()): void {
    if (!this.columns || !(width > 0)) {
      return;
    }
    const { shown, widths } = fitColumns(width, this._charWidth, this._userWidths);
    this._fitting = true;
    try {
      this.columns.show(shown);
      shown.forEach((id, column) => this.resizeColumn('body', column, widths.get(id)!));
    } finally {
      this._fitting = false;
    }
  }

  /**
   * The vertical scroll bar's width, kept free whether or not it shows now: rows arriving
   * would bring it, and with it a sideways scroll.
   */
  private _scrollBarWidth(): number {
    const bar = this.node.querySelector('.lm-ScrollBar[data-orientation="vertical"]');
    const width = bar ? parseFloat(getComputedStyle(bar).minWidth) : NaN;
    return isFinite(width) && width > 0 ? width : SCROLL_BAR_WIDTH;
  }

  private _border(): number {
    const width = this.node.offsetWidth - this.node.clientWidth;
    return width > 0 ? width : 0;
  }

  private _painted = new Signal<this, void>(this);
  private _resized = new Signal<this, void>(this);
  private _charWidth = CHAR_WIDTH;
  private _userWidths = new Map<string, number>();
  private _fitting = false;
}

/** Until the theme is read: a 13px monospace font's character, and JupyterLab's scroll bar. */
const CHAR_WIDTH = 7.8;
const SCROLL_BAR_WIDTH = 16;

/**
 * Draw a grid's body with `body` and its header in the theme's header font; the width of a
 * character of the body's font (`fallback` where none can be measured).
 */
export function useRenderers(
  grid: DataGrid,
  colors: IThemeColors,
  body: TextRenderer,
  fallback: number
): number {
  const header = new TextRenderer({
    font: colors.headerFont,
    textColor: colors.text,
    elideDirection: 'none'
  });
  grid.cellRenderers.update({ body, 'column-header': header });
  return charWidth(colors.font, fallback);
}

/** A character's width in a (monospace) canvas font; `fallback` where none can be measured. */
export function charWidth(font: string, fallback: number): number {
  const context = document.createElement('canvas').getContext('2d');
  if (!context) {
    return fallback;
  }
  context.font = font;
  const width = context.measureText('0123456789').width / 10;
  return width > 0 ? width : fallback;
}

/**
 * One screen copy per painted region instead of one per cell.
 *
 * DataGrid paints each cell into an off-screen buffer and copies it to the screen with its
 * own drawImage. Where the canvas is drawn in software (no GPU: VMs, remote desktops,
 * headless browsers) every such copy snapshots the whole buffer, ~2 ms each, so a grid of
 * 100 cells took ~150 ms a paint. The cells of one `_drawCells` call tile a rectangle and
 * nothing else is drawn on the screen between their copies, so one copy of the rectangle
 * puts the same pixels there. These are DataGrid internals: without them (another
 * version), the grid keeps copying per cell.
 */
export function batchCellCopies(grid: DataGrid): void {
  const internals = grid as unknown as {
    _drawCells?: (this: unknown, rgn: unknown) => void;
    _blitContent?: (this: unknown, source: unknown, ...rect: number[]) => void;
    _buffer?: HTMLCanvasElement;
  };
  const drawCells = internals._drawCells;
  const blit = internals._blitContent;
  if (typeof drawCells !== 'function' || typeof blit !== 'function' || !internals._buffer) {
    return;
  }
  let box: { x1: number; y1: number; x2: number; y2: number } | null = null;
  internals._blitContent = function (source, x, y, w, h, dx, dy) {
    if (box && source === internals._buffer && x === dx && y === dy) {
      box.x1 = Math.min(box.x1, x);
      box.y1 = Math.min(box.y1, y);
      box.x2 = Math.max(box.x2, x + w);
      box.y2 = Math.max(box.y2, y + h);
      return;
    }
    blit.call(this, source, x, y, w, h, dx, dy);
  };
  internals._drawCells = function (rgn) {
    box = { x1: Infinity, y1: Infinity, x2: -Infinity, y2: -Infinity };
    try {
      drawCells.call(this, rgn);
    } finally {
      const { x1, y1, x2, y2 } = box;
      box = null;
      if (x2 > x1 && y2 > y1) {
        blit.call(this, internals._buffer, x1, y1, x2 - x1, y2 - y1, x1, y1);
      }
    }
  };
}

/** A grid's style in the theme's colours (striped rows, the brand colour selects). */
export function gridStyle(node: HTMLElement): DataGrid.Style {
  const css = getComputedStyle(node);
  const value = (name: string) => css.getPropertyValue(name).trim();
  const layout0 = value('--jp-layout-color0');
  const layout1 = value('--jp-layout-color1');
  const brand = resolveColor(node, 'var(--jp-brand-color1)');
  return {
    ...DataGrid.defaultStyle,
    voidColor: layout0,
    backgroundColor: layout0,
    rowBackgroundColor: i => (i % 2 === 0 ? layout0 : layout1),
    gridLineColor: value('--jp-border-color3'),
    headerBackgroundColor: value('--jp-layout-color2'),
    headerGridLineColor: value('--jp-border-color2'),
    selectionFillColor: withAlpha(brand, 0.2),
    selectionBorderColor: brand,
    cursorFillColor: 'transparent',
    cursorBorderColor: brand,
    headerSelectionFillColor: withAlpha(brand, 0.1),
    headerSelectionBorderColor: 'transparent'
  };
}

/** The theme's colours for the canvas: CSS variables resolved to colours it can use. */
export function readTheme(node: HTMLElement): IThemeColors {
  const css = getComputedStyle(node);
  const size = css.getPropertyValue('--jp-code-font-size').trim() || '13px';
  const family =
    css.getPropertyValue('--jp-code-font-family').trim() || 'monospace';
  const ui = css.getPropertyValue('--jp-ui-font-family').trim() || 'sans-serif';
  const level = {} as IThemeColors['level'];
  const tint = {} as IThemeColors['tint'];
  for (const name of LEVELS) {
    level[name] = resolveColor(node, `var(--jp-taskscope-level-${name})`);
    const strong = name === 'warning' || name === 'error' || name === 'critical';
    tint[name] = strong ? withAlpha(level[name], name === 'warning' ? 0.1 : 0.16) : '';
  }
  return {
    font: `${size} ${family}`,
    headerFont: `bold ${css.getPropertyValue('--jp-ui-font-size1').trim() || '13px'} ${ui}`,
    text: resolveColor(node, 'var(--jp-ui-font-color1)'),
    level,
    tint
  };
}

/** A CSS colour (var() and all) as the `rgb(...)` a canvas takes. */
export function resolveColor(node: HTMLElement, color: string): string {
  const probe = document.createElement('span');
  probe.style.display = 'none';
  probe.style.color = color;
  node.appendChild(probe);
  const resolved = getComputedStyle(probe).color;
  probe.remove();
  return resolved;
}

/** `rgb(r, g, b)` as `rgba(r, g, b, alpha)`. */
export function withAlpha(rgb: string, alpha: number): string {
  const match = /rgba?\(([^,]+),([^,]+),([^,)]+)/.exec(rgb);
  return match
    ? `rgba(${match[1].trim()}, ${match[2].trim()}, ${match[3].trim()}, ${alpha})`
    : rgb;
}
