/**
 * The Binder demo (binder/demo.ipynb) walked in a real JupyterLab on a real kernel, with
 * its real LocalCluster and process pool: run it all, watch the toolbar item and status
 * bar during the long run, check the inline table, open the Task logs panel and filter it
 * by worker and by task (the kernel's counts are the reference), toggle recording from the
 * toolbar. It saves the screenshots the README uses: in test-results/screenshots, and in
 * docs/images/ (the committed ones) when TASKSCOPE_README_SHOTS=1, so that an ordinary run
 * leaves the working tree clean.
 */
import * as fs from 'fs';
import * as path from 'path';

import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';
import type { Locator } from '@playwright/test';

import {
  activateNotebook,
  clickRow,
  PANEL,
  panelState,
  reloadPage,
  setPanelFilter,
  setTheme,
  SHOTS,
  waitForPanel
} from './panel-helpers';

const DEMO = path.resolve(__dirname, '..', '..', 'binder', 'demo.ipynb');
const IMAGES = process.env.TASKSCOPE_README_SHOTS
  ? path.resolve(__dirname, '..', '..', 'docs', 'images')
  : SHOTS;
const ITEM = '.jp-NotebookPanel-toolbar .jp-taskscope-ToolbarItem';
const STATUS_ITEM = '.jp-taskscope-StatusItem';
/** The panel grid's "Worker / host" column, `worker` (src/presentation.ts). */
const WHERE_COLUMN = 4;

test.use({ viewport: { width: 1280, height: 800 } });

/**
 * The value of a Python expression in the notebook's kernel, as JSON, evaluated as a
 * silent request's user expression: it prints nothing, so it adds no row to the session.
 */
async function kernelValue(page: IJupyterLabPageFixture, expression: string): Promise<any> {
  const encoded = await page.evaluate(async source => {
    const app = (window as any).jupyterapp;
    const notebook = Array.from(app.shell.widgets('main') as Iterable<any>).find((w: any) =>
      w.node.classList.contains('jp-NotebookPanel')
    ) as any;
    const future = notebook.sessionContext.session.kernel.requestExecute({
      code: '',
      silent: true,
      store_history: false,
      user_expressions: {
        value: `__import__('base64').b64encode(__import__('json').dumps(${source}).encode()).decode()`
      }
    });
    const reply = await future.done;
    const value = reply.content.user_expressions.value;
    if (value.status !== 'ok') {
      throw new Error(`${source}: ${value.ename}: ${value.evalue}`);
    }
    return value.data['text/plain'] as string;
  }, expression);
  // the repr of a base64 string: 'eyJ...'
  return JSON.parse(Buffer.from(encoded.slice(1, -1), 'base64').toString('utf8'));
}

/** Index of the first cell whose source contains `text`. */
async function cellIndex(page: IJupyterLabPageFixture, text: string): Promise<number> {
  const index = await page.evaluate(needle => {
    const notebook = (window as any).jupyterapp.shell.currentWidget.content;
    return notebook.widgets.findIndex((cell: any) =>
      cell.model.sharedModel.getSource().includes(needle)
    );
  }, text);
  expect(index).toBeGreaterThan(0);
  return index;
}

/** The execution count of a cell (null while queued or running). */
function executionCount(page: IJupyterLabPageFixture, index: number): Promise<number | null> {
  return page.evaluate(
    i => (window as any).jupyterapp.shell.currentWidget.content.widgets[i].model.executionCount,
    index
  );
}

/** The rows count of the toolbar item's label ("Recording · 123 · ⚠ 4 · ✖ 1"). */
async function labelRows(item: Locator): Promise<number> {
  const text = (await item.locator('.jp-taskscope-label').textContent()) ?? '';
  const match = /· ([\d,]+)( |$)/.exec(text);
  expect(match, text).not.toBeNull();
  return Number(match![1].replace(/,/g, ''));
}

/**
 * Drag the handle between the notebook and the panel up by `dy` pixels, and widen the
 * grid's columns that hold a worker's address and a task's key.
 */
async function growPanel(page: IJupyterLabPageFixture, dy: number): Promise<void> {
  const panelBox = (await page.locator(PANEL).boundingBox())!;
  const x = panelBox.x + panelBox.width / 2;
  const handles = page.locator('#jp-main-dock-panel > .lm-DockPanel-handle');
  const count = await handles.count();
  for (let i = 0; i < count; i++) {
    const box = await handles.nth(i).boundingBox();
    if (box && box.width > box.height && Math.abs(box.y + box.height - panelBox.y) < 40) {
      await page.mouse.move(x, box.y + box.height / 2);
      await page.mouse.down();
      await page.mouse.move(x, box.y + box.height / 2 - dy, { steps: 5 });
      await page.mouse.up();
      break;
    }
  }
  await widenColumns(page);
}

/** Widen the grid's "Worker / host" and "Task" columns (as dragging their edges does). */
async function widenColumns(page: IJupyterLabPageFixture): Promise<void> {
  await page.evaluate(column => {
    const app = (window as any).jupyterapp;
    const panel = Array.from(app.shell.widgets('main') as Iterable<any>).find((w: any) =>
      w.node.classList.contains('jp-taskscope-LogPanel')
    ) as any;
    panel.content.grid.resizeColumn('body', column, 185);
    panel.content.grid.resizeColumn('body', column + 1, 110);
  }, WHERE_COLUMN);
}

/** The panel grid's "Worker / host" column for the rows on screen. */
function visibleWorkers(page: IJupyterLabPageFixture): Promise<string[]> {
  return page.evaluate(column => {
    const app = (window as any).jupyterapp;
    const panel = Array.from(app.shell.widgets('main') as Iterable<any>).find((w: any) =>
      w.node.classList.contains('jp-taskscope-LogPanel')
    ) as any;
    const view = panel.content;
    const [first, last] = view.grid.visibleRows();
    const out: string[] = [];
    for (let row = first; row <= last; row++) {
      out.push(view.model.data('body', row, column));
    }
    return out;
  }, WHERE_COLUMN);
}

function image(name: string): string {
  fs.mkdirSync(IMAGES, { recursive: true });
  return path.join(IMAGES, name);
}

test.describe('the Binder demo', () => {
  test('runs in the browser; toolbar, status bar, inline table and panel show its rows', async ({
    page,
    tmpPath
  }, testInfo) => {
    test.setTimeout(360000);
    await page.contents.uploadFile(DEMO, `${tmpPath}/demo.ipynb`);
    expect(await page.notebook.openByPath(`${tmpPath}/demo.ipynb`)).toBe(true);
    const item = page.locator(ITEM);
    const status = page.locator(STATUS_ITEM);
    await expect(item).toHaveAttribute('data-state', 'stopped', { timeout: 90000 });

    // Run All, as a reader would; watch part 6's long run live
    const training = await cellIndex(page, 'demo.training');
    const poolQuery = await cellIndex(page, 'dataset.get(task="measure-*")');
    // not awaited in the page: the command's promise ends with the last cell
    await page.evaluate(() => {
      void (window as any).jupyterapp.commands.execute('notebook:run-all-cells');
    });
    await expect(item).toHaveAttribute('data-state', 'recording', { timeout: 60000 });
    await expect
      .poll(() => executionCount(page, poolQuery), { timeout: 180000, intervals: [200] })
      .not.toBeNull();
    // nothing but the training loop logs now: the counts rise while it runs
    const before = await labelRows(item);
    await expect.poll(() => labelRows(item), { timeout: 10000 }).toBeGreaterThan(before + 5);
    await expect(item.locator('.jp-taskscope-label')).toHaveText(
      /^Recording · [\d,]+ · ⚠ \d+ · ✖ \d+$/
    );
    await expect(status).toHaveAttribute('data-state', 'recording');
    await expect(status.locator('.jp-taskscope-label')).toHaveText(/⚠ \d+ · ✖ \d+$/);
    await page
      .locator('.jp-NotebookPanel-toolbar')
      .screenshot({ path: image('toolbar.png') });
    await page.locator('#jp-main-statusbar').screenshot({ path: image('statusbar.png') });

    await page.notebook.waitForRun();
    const errors = await page.evaluate(() =>
      (window as any).jupyterapp.shell.currentWidget.content.model
        .toJSON()
        .cells.flatMap((c: any) => c.outputs ?? [])
        .filter((o: any) => o.output_type === 'error')
    );
    expect(errors).toEqual([]);

    // room for the screenshots: no file browser, no launcher
    await page.sidebar.close('left');
    await page.locator('.lm-DockPanel-tabBar .lm-TabBar-tab', { hasText: 'Launcher' })
      .locator('.lm-TabBar-tabCloseIcon')
      .click();

    // the inline table of part 3: the Dask job's rows, from both kinds of process
    const jobFilter = 'task=["process-*", "fetch-*"]';
    const jobRows: number = await kernelValue(page, `ts.logger.dataset.count(${jobFilter})`);
    expect(jobRows).toBeGreaterThan(30);
    const inlineCell = await cellIndex(page, `ts.logger.dataset.filter(${jobFilter})`);
    const cell = (await page.notebook.getCellLocator(inlineCell))!;
    await cell.scrollIntoViewIfNeeded();
    const table = cell.locator('.jp-taskscope-Table');
    await expect(table.locator('tbody tr')).toHaveCount(jobRows);
    await expect(table.locator('.jp-taskscope-Table-summary')).toContainText(
      `${jobRows} rows matching task=`
    );
    await expect(table.locator('tbody')).toContainText('fetch-part-7');
    await expect(table.locator('tbody')).toContainText('tcp://127.0.0.1:');
    await expect(table.locator('tr[data-level="error"]').first()).toBeVisible();
    await cell.screenshot({ path: image('inline.png') });

    // the Task logs panel: every row, then one worker's, then the retried task's
    const total: number = await kernelValue(page, 'ts.logger.dataset.count()');
    await page.evaluate(async () => {
      await (window as any).jupyterapp.commands.execute('taskscope:open-panel');
    });
    const panel = page.locator(PANEL);
    await expect(panel).toBeVisible();
    await waitForPanel(page, s => s.count >= total && !s.loading);
    await growPanel(page, 120);
    const statusLine = panel.locator('.jp-taskscope-LogView-status');

    const workers: string[] = await kernelValue(
      page,
      'sorted(set(ts.logger.dataset.get(task="process-*").worker))'
    );
    expect(workers.length).toBeGreaterThanOrEqual(1);
    expect(workers.every(w => /^tcp:\/\/127\.0\.0\.1:\d+$/.test(w))).toBe(true);
    const worker = workers[0];
    const ofWorker: number = await kernelValue(
      page,
      `ts.logger.dataset.count(worker=${JSON.stringify(worker)})`
    );
    await setPanelFilter(page, 'worker', worker);
    await waitForPanel(page, s => s.count === ofWorker && !s.loading);
    const all: number = await kernelValue(page, 'ts.logger.dataset.count()');
    await expect(statusLine).toContainText(`${ofWorker} of ${all} rows`);
    await waitForPanel(page, s => s.messages.every(m => m !== ''));
    expect(new Set(await visibleWorkers(page))).toEqual(new Set([worker]));

    await panel.locator('.jp-taskscope-FilterBar-reset').click();
    await setPanelFilter(page, 'task', 'fetch-*');
    const ofFetch: number = await kernelValue(page, 'ts.logger.dataset.count(task="fetch-*")');
    let state = await waitForPanel(
      page,
      s => s.count === ofFetch && !s.loading && s.messages.every(m => m !== '')
    );
    expect(state.messages).toContain('download of part-7.csv timed out');
    expect(state.messages).toContain('downloaded part-7.csv');
    // the erred attempt, in full: its traceback and its attempt number
    const erred = state.messages.findIndex(m => m.startsWith('task fetch-part-7 erred'));
    expect(erred).toBeGreaterThanOrEqual(0);
    await clickRow(page, state.first + erred);
    const detail = panel.locator('.jp-taskscope-Detail');
    await expect(detail).toContainText("ConnectionError('timed out fetching part-7.csv')");
    await expect(detail).toContainText('"attempt": 1');
    state = await panelState(page);
    expect(state.error).toBeNull();
    await activateNotebook(page);
    const notebookCell = (await page.notebook.getCellLocator(
      await cellIndex(page, 'downloaded = client.submit')
    ))!;
    await notebookCell.scrollIntoViewIfNeeded();
    await page.waitForTimeout(300); // the grid repaints after the notebook's scroll
    await page.screenshot({ path: image('panel.png') });
    // The dark shot after a page reload in the dark theme: the notebook is saved with its
    // outputs, and the panel comes back by itself with its filter and rows.
    await page.evaluate(async () => {
      await (window as any).jupyterapp.commands.execute('docmanager:save');
    });
    await setTheme(page, 'JupyterLab Dark');
    await reloadPage(page);
    await expect(page.locator('body')).toHaveAttribute('data-jp-theme-name', 'JupyterLab Dark');
    await expect(panel).toBeVisible({ timeout: 60000 });
    await expect(panel.locator('[data-filter="task"]')).toHaveValue('fetch-*');
    await waitForPanel(
      page,
      s => s.count === ofFetch && !s.loading && s.messages.every(m => m !== '')
    );
    await widenColumns(page);
    await page.waitForTimeout(500); // the grid repaints
    await page.screenshot({ path: image('panel-dark.png') });
    await setTheme(page, 'JupyterLab Light');

    // part 6: stop and start from the toolbar; the rows stay
    await item.click();
    await expect(item).toHaveAttribute('data-state', 'stopped');
    await expect(item.locator('.jp-taskscope-label')).toHaveText(/^Logs off · [\d,]+/);
    await expect(status).toHaveAttribute('data-state', 'stopped');
    await item.click();
    await expect(item).toHaveAttribute('data-state', 'recording');
    expect(await kernelValue(page, 'ts.status()["recording"]')).toBe(true);
    expect(await kernelValue(page, 'ts.logger.dataset.count()')).toBeGreaterThanOrEqual(all);

    for (const name of ['toolbar.png', 'statusbar.png', 'inline.png', 'panel.png', 'panel-dark.png']) {
      await testInfo.attach(name, { path: image(name), contentType: 'image/png' });
    }
  });
});
