/**
 * Helpers for the log panel and inline table UI tests: notebooks on a real kernel, code
 * run in cells, and a look inside the panel (its grid draws on a canvas, so what a row
 * shows is read from the panel's data model, the thing the canvas draws).
 */
import * as fs from 'fs';
import * as path from 'path';

import { expect, IJupyterLabPageFixture, JupyterLabPage } from '@jupyterlab/galata';
import type { Locator, Page, TestInfo } from '@playwright/test';

/** Fixed place for the screenshots a person looks at (gitignored). */
export const SHOTS = path.resolve(__dirname, '..', '..', 'test-results', 'screenshots');

export const PANEL = '.jp-taskscope-LogPanel';

/**
 * Make a notebook file `name` (one empty code cell) in the file browser's folder through
 * the contents API, open it on `kernel` (a kernel spec's name, or a running kernel's id)
 * and wait until its tab is the current one and its kernel is idle; the panel's id.
 *
 * Unlike galata's `notebook.createNew`, which makes Untitled.ipynb and renames it while
 * the kernel starts (on a slow machine the server's session can keep the old path, and a
 * later notebook made as Untitled.ipynb then joins that kernel), the notebook's session
 * has its final path from the start, and the helper waits for its own tab rather than
 * reading whichever tab is current.
 */
export async function createNotebook(
  page: IJupyterLabPageFixture,
  name: string,
  kernel: { name: string } | { id: string } = { name: 'python3' }
): Promise<string> {
  const dir = await page.filebrowser.getCurrentDirectory();
  const id = await page.evaluate(
    async ({ path, kernel }) => {
      const app = (window as any).jupyterapp;
      await app.serviceManager.contents.save(path, {
        type: 'notebook',
        format: 'json',
        content: {
          cells: [
            {
              id: 'cell-0',
              cell_type: 'code',
              source: '',
              metadata: {},
              outputs: [],
              execution_count: null
            }
          ],
          metadata: {},
          nbformat: 4,
          nbformat_minor: 5
        }
      });
      const widget = await app.commands.execute('docmanager:open', {
        path,
        factory: 'Notebook',
        kernel
      });
      await widget.context.ready;
      await widget.sessionContext.ready;
      return widget.id as string;
    },
    { path: dir ? `${dir}/${name}` : name, kernel }
  );
  await expect(page.activity.getTabLocator(name)).toHaveClass(/jp-mod-current/);
  await page.waitForFunction(
    widgetId => (window as any).jupyterapp.shell.currentWidget?.id === widgetId,
    id
  );
  await kernelIdle(page);
  return id;
}

/** Create a notebook, wait until its kernel answers and taskscope's comm is open. */
export async function openNotebook(
  page: IJupyterLabPageFixture,
  name: string
): Promise<void> {
  expect(await page.notebook.createNew(name, { kernel: 'python3' })).toBe(name);
  await expect(
    page.locator('.jp-NotebookPanel-toolbar .jp-taskscope-ToolbarItem')
  ).toHaveAttribute('data-state', /stopped|recording/, { timeout: 90000 });
}

/**
 * Run code in a new cell at the end of the notebook (or in the last cell if it is empty);
 * its text output. The source is set on the cell's model rather than typed: typing goes
 * key by key (seconds a cell on this machine) and the editor would re-indent it.
 */
export async function run(page: IJupyterLabPageFixture, code: string): Promise<string> {
  await activateNotebook(page);
  const index = await page.evaluate(code => {
    const app = (window as any).jupyterapp;
    const notebook = app.shell.currentWidget.content;
    const cells = notebook.model.cells;
    const last = cells.length - 1;
    const lastCell = last >= 0 ? cells.get(last) : null;
    if (lastCell?.type === 'code' && lastCell.sharedModel.getSource().trim() === '') {
      lastCell.sharedModel.setSource(code);
      return last;
    }
    notebook.model.sharedModel.insertCell(cells.length, { cell_type: 'code', source: code });
    return cells.length - 1;
  }, code);
  expect(await page.notebook.runCell(index, true)).toBe(true);
  return ((await page.notebook.getCellTextOutput(index)) ?? []).join('');
}

/** The last line of a cell's output (a count printed after other output). */
export function lastLine(output: string): string {
  return output.trim().split('\n').pop() ?? '';
}

/** Make the (only) notebook the current widget: the notebook helpers act on that one. */
export async function activateNotebook(page: IJupyterLabPageFixture): Promise<void> {
  await page.evaluate(() => {
    const app = (window as any).jupyterapp;
    const notebook = Array.from(app.shell.widgets('main') as Iterable<any>).find((w: any) =>
      w.node.classList.contains('jp-NotebookPanel')
    ) as any;
    app.shell.activateById(notebook.id);
  });
}

/** Start recording with a logger `demo`, and log `n` INFO rows "row 0".."row n-1". */
export const START_AND_LOG = (n: number): string =>
  [
    'import taskscope as ts',
    'ts.start()',
    'log = ts.logger.getLogger("demo")',
    `for i in range(${n}): log.info("row %d", i)`,
    'ts.logger.dataset.count()'
  ].join('\n');

/**
 * More rows, of other loggers and levels: 20 WARNING "slow query i" (demo.db), 5 ERROR
 * "failed job i" (other, with extra), a print; the cell's value is the session's count.
 */
export const MIXED = [
  'db = ts.logger.getLogger("demo.db")',
  'other = ts.logger.getLogger("other")',
  'for i in range(20): db.warning("slow query %d", i)',
  'for i in range(5): other.error("failed job %d", i, extra={"job": i})',
  'print("a print line")',
  'ts.logger.dataset.count()'
].join('\n');

/** Open the current notebook's Task logs panel from the status bar item. */
export async function openPanel(page: IJupyterLabPageFixture): Promise<Locator> {
  await page.locator('.jp-taskscope-StatusItem').click();
  const panel = page.locator(PANEL);
  await expect(panel).toBeVisible();
  return panel;
}

/** What the panel holds: counts, follow state, scroll position and the rows on screen. */
export interface IPanelState {
  count: number;
  following: boolean;
  scrollY: number;
  maxScrollY: number;
  first: number;
  last: number;
  /** The message column of the rows on screen ('' where not fetched yet). */
  messages: string[];
  status: string;
  loading: boolean;
  error: string | null;
  heldRows: number;
}

export async function panelState(page: IJupyterLabPageFixture): Promise<IPanelState> {
  return page.evaluate(() => {
    const app = (window as any).jupyterapp;
    const panel = Array.from(app.shell.widgets('main') as Iterable<any>).find(
      (w: any) => w.node.classList.contains('jp-taskscope-LogPanel')
    ) as any;
    if (!panel) {
      throw new Error('no Task logs panel');
    }
    const view = panel.content;
    const [first, last] = view.grid.visibleRows();
    const message = view.model.columnCount('body') - 1;
    const messages: string[] = [];
    for (let row = first; row <= last; row++) {
      messages.push(view.model.data('body', row, message));
    }
    return {
      count: view.model.count,
      following: view.following,
      scrollY: view.grid.scrollY,
      maxScrollY: view.grid.maxScrollY,
      first,
      last,
      messages,
      status: view.node.querySelector('.jp-taskscope-LogView-status').textContent,
      loading: view.model.loading,
      error: view.model.error,
      heldRows: view.model.heldRows
    };
  });
}

/** Wait until the panel's state passes a check (rows arrive asynchronously). */
export async function waitForPanel(
  page: IJupyterLabPageFixture,
  check: (state: IPanelState) => boolean,
  timeout = 30000
): Promise<IPanelState> {
  let state = await panelState(page);
  const deadline = Date.now() + timeout;
  while (!check(state)) {
    if (Date.now() > deadline) {
      throw new Error(`the panel never got there: ${JSON.stringify(state).slice(0, 2000)}`);
    }
    await page.waitForTimeout(100);
    state = await panelState(page);
  }
  return state;
}

/** Click a body row of the grid (scrolled into view first); the row is then selected. */
export async function clickRow(page: IJupyterLabPageFixture, row: number): Promise<void> {
  const grid = page.locator(`${PANEL} .jp-taskscope-LogGrid`);
  const cursorRow = () =>
    page.evaluate(() => {
      const app = (window as any).jupyterapp;
      const panel = Array.from(app.shell.widgets('main') as Iterable<any>).find((w: any) =>
        w.node.classList.contains('jp-taskscope-LogPanel')
      ) as any;
      return panel.content.grid.selectionModel.cursorRow;
    });
  // A click can land while the grid is still laying out (a block of rows arriving, the
  // filter bar wrapping): then it selects nothing, and the row is scrolled to and
  // clicked again, at most three times.
  for (let attempt = 0; attempt < 3; attempt++) {
    const y = await page.evaluate(async r => {
      const app = (window as any).jupyterapp;
      const panel = Array.from(app.shell.widgets('main') as Iterable<any>).find((w: any) =>
        w.node.classList.contains('jp-taskscope-LogPanel')
      ) as any;
      const grid = panel.content.grid;
      grid.scrollToRow(r);
      // the grid scrolls on its next frame
      for (let i = 0; i < 2; i++) {
        await new Promise(resolve => requestAnimationFrame(resolve));
      }
      return grid.headerHeight + r * grid.defaultSizes.rowHeight - grid.scrollY + 10;
    }, row);
    const box = (await grid.boundingBox())!;
    await page.mouse.click(box.x + 200, box.y + y);
    try {
      await expect.poll(cursorRow, { timeout: 3000 }).toBe(row);
      return;
    } catch {
      // not selected yet: scroll and click again
    }
  }
  await expect.poll(cursorRow).toBe(row);
}

/**
 * Wait until the workspace on the server holds JupyterLab's state as the page has it.
 * JupyterLab writes its state (the layout, what the restorer keeps of each widget: a
 * panel's notebook and filter) 500 ms after the last change, and every change postpones
 * it: a reload before that write restores the layout of earlier, without a panel opened
 * or filtered just before.
 */
export async function waitForSavedState(page: IJupyterLabPageFixture): Promise<void> {
  await expect
    .poll(
      () =>
        page.evaluate(async () => {
          const galata = (window as any).galata;
          const app = (window as any).jupyterapp;
          const state = await galata.getPlugin('@jupyterlab/apputils-extension:state');
          const resolver = await galata.getPlugin('@jupyterlab/apputils-extension:resolver');
          const current = await state.toJSON();
          const saved = (await app.serviceManager.workspaces.fetch(resolver.name)).data;
          return Object.keys(current).filter(
            key => JSON.stringify(current[key]) !== JSON.stringify(saved[key])
          );
        }),
      { message: 'state keys the workspace does not hold yet' }
    )
    .toEqual([]);
}

/**
 * Reload the page once JupyterLab has saved its state (the panels it restores). No
 * Launcher comes back (the notebook does), so wait for the splash to go rather than for
 * galata's usual "Launcher active".
 */
export async function reloadPage(page: IJupyterLabPageFixture): Promise<void> {
  await waitForSavedState(page);
  await (page as unknown as JupyterLabPage).reload({ waitForIsReady: false });
  await page.locator('#jupyterlab-splash').waitFor({ state: 'detached' });
}

/** Save a screenshot under test-results/screenshots and attach it to the test's report. */
export async function shoot(
  testInfo: TestInfo,
  name: string,
  take: (file: string) => Promise<unknown>
): Promise<void> {
  fs.mkdirSync(SHOTS, { recursive: true });
  const file = path.join(SHOTS, name);
  await take(file);
  await testInfo.attach(name, { path: file, contentType: 'image/png' });
}

/** Switch JupyterLab's theme and wait until it applies. */
export async function setTheme(
  page: IJupyterLabPageFixture,
  theme: 'JupyterLab Light' | 'JupyterLab Dark'
): Promise<void> {
  await page.theme.setTheme(theme);
  await expect(page.locator('body')).toHaveAttribute(
    'data-jp-theme-name',
    theme
  );
}

/** RFC 4180 CSV as rows of fields (quoted fields, doubled quotes, CRLF). */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') {
        quoted = false;
      } else {
        field += ch;
      }
    } else if (ch === '"') {
      quoted = true;
    } else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else {
      field += ch;
    }
  }
  if (field !== '' || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

/** Set a filter field of the panel and wait until the panel shows its rows. */
export async function setPanelFilter(
  page: IJupyterLabPageFixture,
  key: string,
  value: string
): Promise<void> {
  const field = page.locator(`${PANEL} [data-filter="${key}"]`);
  if ((await field.evaluate(node => node.tagName)) === 'SELECT') {
    await field.selectOption(value);
  } else {
    await field.fill(value);
    await field.press('Enter');
  }
}

/** How the panel's grid lays out its columns: what a reader sees of the message column. */
export interface IGridLayout {
  /** The split's orientation: 'horizontal' puts the detail beside the grid, 'vertical' below. */
  orientation: string;
  grid: { x: number; y: number; width: number; height: number };
  detail: { x: number; y: number; width: number; height: number } | null;
  /** The record names of the columns that show, the message (msg) last. */
  shown: string[];
  /** Every shown column's drawn width, the message column last. */
  columns: number[];
  /** How far the grid scrolls sideways (0: every column fits). */
  maxScrollX: number;
  /** The message column's width on screen at the current scroll, px and characters. */
  messagePx: number;
  messageChars: number;
}

export async function gridLayout(page: IJupyterLabPageFixture): Promise<IGridLayout> {
  return page.evaluate(() => {
    const app = (window as any).jupyterapp;
    const panel = Array.from(app.shell.widgets('main') as Iterable<any>).find((w: any) =>
      w.node.classList.contains('jp-taskscope-LogPanel')
    ) as any;
    const view = panel.content;
    const grid = view.grid;
    const box = (node: HTMLElement) => {
      const r = node.getBoundingClientRect();
      return { x: r.x, y: r.y, width: r.width, height: r.height };
    };
    const n = grid.dataModel.columnCount('body');
    const columns: number[] = [];
    for (let i = 0; i < n; i++) {
      columns.push(grid.columnSize('body', i));
    }
    const left = columns.slice(0, -1).reduce((a: number, b: number) => a + b, 0);
    const start = Math.max(0, left - grid.scrollX);
    const end = Math.min(grid.pageWidth, left + columns[n - 1] - grid.scrollX);
    // the width of a character in the grid's font (monospace)
    const css = getComputedStyle(grid.node);
    const context = document.createElement('canvas').getContext('2d')!;
    context.font = `${css.getPropertyValue('--jp-code-font-size').trim()} ${css
      .getPropertyValue('--jp-code-font-family')
      .trim()}`;
    const charWidth = context.measureText('0123456789').width / 10;
    const messagePx = Math.max(0, end - start);
    return {
      orientation: view.node.querySelector('.jp-taskscope-LogView-split').dataset.orientation,
      grid: box(grid.node),
      shown: grid.columns.shown,
      detail: view.detail.isVisible ? box(view.detail.node) : null,
      columns,
      maxScrollX: grid.maxScrollX,
      messagePx,
      messageChars: Math.floor(messagePx / charWidth)
    };
  });
}

/** Move the Task logs panel next to its notebook in the dock (as dragging its tab does). */
export async function dockPanel(
  page: IJupyterLabPageFixture,
  mode: 'split-right' | 'split-bottom'
): Promise<void> {
  await page.evaluate(mode => {
    const app = (window as any).jupyterapp;
    const widgets = Array.from(app.shell.widgets('main') as Iterable<any>);
    const panel = widgets.find((w: any) => w.node.classList.contains('jp-taskscope-LogPanel'));
    const notebook = widgets.find((w: any) => w.node.classList.contains('jp-NotebookPanel'));
    app.shell.add(panel, 'main', { mode, ref: (notebook as any).id });
    app.shell.activateById((panel as any).id);
  }, mode);
  // the dock lays out on the next frames
  await page.waitForTimeout(300);
}

/** Wait until the current notebook's kernel is connected and idle (after a restart). */
export async function kernelIdle(page: Page): Promise<void> {
  await page.waitForFunction(
    () => {
      const widget = (window as any).jupyterapp?.shell?.currentWidget;
      const k = widget?.sessionContext?.session?.kernel;
      return !!k && k.connectionStatus === 'connected' && k.status === 'idle';
    },
    undefined,
    { timeout: 90000 }
  );
}
