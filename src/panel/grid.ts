/**
 * The log panel's grid: a @lumino/datagrid DataGrid drawing text on a canvas (log text
 * never becomes HTML), with colours read from the JupyterLab theme and a `painted` signal
 * that tells the panel what shows after every paint (scrolling included: the grid has no
 * scroll signal of its own).
 */
import {
  BasicKeyHandler,
  BasicMouseHandler,
  BasicSelectionModel,
  DataGrid,
  TextRenderer
} from '@lumino/datagrid';
import { ISignal, Signal } from '@lumino/signaling';

import { LevelClass, levelClass } from '../text';
import { COLUMNS, LogDataModel } from './model';

/**
 * Column widths a log reads well in. The message column, last, is stretched over what is
 * left (stretchLastColumn), so its own width is only its minimum before a scroll bar.
 */
const WIDTHS: { [id: string]: number } = {
  time: 104,
  level: 76,
  source: 64,
  logger: 120,
  where: 120,
  task: 100,
  message: 280
};

const LEVELS: LevelClass[] = ['debug', 'info', 'warning', 'error', 'critical', 'system'];

/** Colours resolved from the theme's CSS variables (a canvas cannot read var()). */
interface IThemeColors {
  font: string;
  headerFont: string;
  text: string;
  level: { [level in LevelClass]: string };
  /** A faint background for rows at WARNING and above. */
  tint: { [level in LevelClass]: string };
}

export class LogGrid extends DataGrid {
  constructor(model: LogDataModel) {
    super({
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
    });
    this.addClass('jp-taskscope-LogGrid');
    this.dataModel = model;
    this.selectionModel = new BasicSelectionModel({
      dataModel: model,
      selectionMode: 'row'
    });
    // select by click and arrow keys; resize columns by dragging their header edges
    this.mouseHandler = new BasicMouseHandler();
    this.keyHandler = new BasicKeyHandler();
    COLUMNS.forEach((column, i) =>
      this.resizeColumn('body', i, WIDTHS[column.id] ?? 120)
    );
    this.copyConfig = { ...this.copyConfig, headers: 'none' };
    batchCellCopies(this);
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
    const css = getComputedStyle(this.node);
    const value = (name: string) => css.getPropertyValue(name).trim();
    const layout0 = value('--jp-layout-color0');
    const layout1 = value('--jp-layout-color1');
    const brand = resolveColor(this.node, 'var(--jp-brand-color1)');
    this.style = {
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
    const model = this.dataModel as LogDataModel;
    const levelOf = (row: number) => levelClass(model.rowAt(row)?.levelno);
    const levelColumn = COLUMNS.findIndex(c => c.id === 'level');
    // Eliding measures text once per removed character: far too slow for log lines.
    // Cells are cut to a few hundred characters and the canvas clips each cell.
    const body = new TextRenderer({
      font: colors.font,
      textColor: ({ row, column }) =>
        column === levelColumn ? colors.level[levelOf(row)] : colors.text,
      backgroundColor: ({ row }) => colors.tint[levelOf(row)],
      elideDirection: 'none'
    });
    const header = new TextRenderer({
      font: colors.headerFont,
      textColor: colors.text,
      elideDirection: 'none'
    });
    this.cellRenderers.update({ body, 'column-header': header });
  }

  protected paintContent(rx: number, ry: number, rw: number, rh: number): void {
    super.paintContent(rx, ry, rw, rh);
    this._painted.emit();
  }

  private _painted = new Signal<this, void>(this);
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
function batchCellCopies(grid: DataGrid): void {
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

/** The theme's colours for the canvas: CSS variables resolved to colours it can use. */
function readTheme(node: HTMLElement): IThemeColors {
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
function resolveColor(node: HTMLElement, color: string): string {
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
