/**
 * The Task logs panel in a real JupyterLab on a real kernel: open, follow, filter (the
 * kernel's counts are the reference), detail, export, to notebook, clear, restore, and a
 * kernel restart followed by a new start.
 */
import * as fs from 'fs';

import { expect, test } from '@jupyterlab/galata';

import {
  activateNotebook,
  kernelIdle,
  clickRow,
  dockPanel,
  gridLayout,
  lastLine,
  MIXED,
  reloadPage,
  openNotebook,
  openPanel,
  PANEL,
  panelState,
  parseCsv,
  run,
  setPanelFilter,
  setTheme,
  shoot,
  START_AND_LOG,
  waitForPanel
} from './panel-helpers';

test.use({ viewport: { width: 1400, height: 900 } });

/**
 * The kernel's own count for a filter (Python keyword arguments), as the cell's value:
 * a print() would add a row of its own.
 */
async function kernelCount(page: any, args: string): Promise<number> {
  const out = await run(page, `ts.logger.dataset.count(${args})`);
  return Number(out.trim());
}

/** The sources of the notebook's cells (whichever widget is current). */
async function cellSources(page: any): Promise<string[]> {
  return page.evaluate(() => {
    const app = (window as any).jupyterapp;
    const notebook = Array.from(app.shell.widgets('main') as Iterable<any>).find((w: any) =>
      w.node.classList.contains('jp-NotebookPanel')
    ) as any;
    return notebook.content.widgets.map((cell: any) => cell.model.sharedModel.getSource());
  });
}

test.describe('Task logs panel', () => {
  test('opens below its notebook, shows its rows and follows new ones', async ({
    page
  }) => {
    await openNotebook(page, 'panel-follow.ipynb');
    const stored = Number(await run(page, START_AND_LOG(300)));
    const panel = await openPanel(page);

    // split below the notebook
    const notebookBox = await page.locator('.jp-NotebookPanel').boundingBox();
    const panelBox = await panel.boundingBox();
    expect(panelBox!.y).toBeGreaterThanOrEqual(notebookBox!.y + notebookBox!.height - 2);

    let state = await waitForPanel(
      page,
      s => s.count === stored && s.messages[s.messages.length - 1] === 'row 299'
    );
    expect(state.following).toBe(true);
    expect(state.scrollY).toBe(state.maxScrollY);
    await expect(panel.locator('.jp-taskscope-LogView-status')).toContainText(
      `${stored} of ${stored} rows`
    );

    // new rows show up and the grid stays at the bottom
    await run(page, 'for i in range(300, 800): log.info("row %d", i)');
    state = await waitForPanel(
      page,
      s => s.count === stored + 500 && s.messages[s.messages.length - 1] === 'row 799'
    );
    expect(state.scrollY).toBe(state.maxScrollY);

    // scrolling up stops following; new rows then leave the view where it is
    const grid = panel.locator('.jp-taskscope-LogGrid');
    const box = (await grid.boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.wheel(0, -2000);
    state = await waitForPanel(page, s => !s.following);
    await expect(panel.locator('.jp-taskscope-action-follow')).toHaveText('Paused');
    const paused = state;
    await run(page, 'for i in range(800, 1000): log.info("row %d", i)');
    state = await waitForPanel(page, s => s.count === stored + 700);
    expect(state.following).toBe(false);
    expect(state.scrollY).toBe(paused.scrollY);
    expect(state.messages[0]).toBe(paused.messages[0]);

    // the toggle follows again, at the newest row
    await panel.locator('.jp-taskscope-action-follow').click();
    state = await waitForPanel(
      page,
      s => s.following && s.messages[s.messages.length - 1] === 'row 999'
    );
    await expect(panel.locator('.jp-taskscope-action-follow')).toHaveText('Following');

    // pausing by the toggle, then scrolling down to the end, follows again
    await panel.locator('.jp-taskscope-action-follow').click();
    await waitForPanel(page, s => !s.following);
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.wheel(0, -500);
    await page.mouse.wheel(0, 100000);
    await waitForPanel(page, s => s.following);
  });

  test('filters in the kernel, with the kernel’s counts', async ({ page }) => {
    await openNotebook(page, 'panel-filter.ipynb');
    await run(page, START_AND_LOG(200));
    const all = Number(lastLine(await run(page, MIXED)));
    const panel = await openPanel(page);
    await waitForPanel(page, s => s.count === all);

    const cases: [string, string, string][] = [
      ['level', 'WARNING', 'level="WARNING"'],
      ['logger', 'demo*', 'level="WARNING", logger="demo*"'],
      ['text', 'query 1', 'level="WARNING", logger="demo*", text="query 1"']
    ];
    for (const [key, value, args] of cases) {
      const expected = await kernelCount(page, args);
      await setPanelFilter(page, key, value);
      const state = await waitForPanel(page, s => s.count === expected && !s.loading);
      // of all rows in the session: ours, and the prints of the count cells since
      const status = await panel.locator('.jp-taskscope-LogView-status').textContent();
      const [, shown, total] = /^([\d,]+) of ([\d,]+) rows/.exec(status!)!;
      expect(Number(shown.replace(/,/g, ''))).toBe(expected);
      expect(Number(total.replace(/,/g, ''))).toBeGreaterThanOrEqual(all);
      expect(state.error).toBeNull();
      expect(state.following).toBe(true);
    }
    // slow query 1 and 10..19: every row shown matches
    const state = await waitForPanel(page, s => s.messages.every(m => m !== ''));
    expect(state.messages.every(m => m.startsWith('slow query 1'))).toBe(true);

    // a value the kernel cannot read marks its field and keeps the rows
    await setPanelFilter(page, 'since', 'yesterday');
    const since = panel.locator('[data-filter="since"]');
    await expect(since).toHaveClass(/jp-mod-invalid/);
    await expect(since).toHaveAttribute('title', /cannot read 'yesterday'/);
    expect((await panelState(page)).count).toBe(state.count);

    await panel.locator('.jp-taskscope-FilterBar-reset').click();
    await waitForPanel(page, s => s.count >= all);
    await expect(since).not.toHaveClass(/jp-mod-invalid/);

    const expected = await kernelCount(page, 'source="print"');
    await setPanelFilter(page, 'source', 'print');
    await waitForPanel(page, s => s.count === expected && s.messages.includes('a print line'));
  });

  test('shows a row in full, in light and dark themes', async ({ page }, testInfo) => {
    await openNotebook(page, 'panel-detail.ipynb');
    await run(page, START_AND_LOG(40));
    await run(page, MIXED);
    await run(
      page,
      'try: 1/0\nexcept ZeroDivisionError: ts.logger.getLogger("calc").exception("division failed", extra={"step": "divide", "values": [1, 0]})'
    );
    const panel = await openPanel(page);
    await setPanelFilter(page, 'level', 'ERROR');
    let state = await waitForPanel(
      page,
      s => s.messages[s.messages.length - 1] === 'division failed'
    );
    await clickRow(page, state.last);
    const detail = panel.locator('.jp-taskscope-Detail');
    await expect(detail).toBeVisible();
    await expect(detail).toContainText('division failed');
    await expect(detail.locator('pre').first()).toContainText(
      'ZeroDivisionError: division by zero'
    );
    await expect(detail).toContainText('"step": "divide"');
    await expect(detail).toContainText('MainThread');
    await expect(detail).toContainText('calc');
    await expect(detail.locator('[data-level="error"]')).toHaveText('ERROR');

    // arrow keys move the selection, and the detail with it
    await page.keyboard.press('ArrowUp');
    await expect(detail).toContainText('failed job 4');

    await setPanelFilter(page, 'level', '');
    state = await waitForPanel(page, s => s.count > 60 && s.messages.every(m => m !== ''));
    await clickRow(page, state.last - 3);
    await shoot(testInfo, 'panel-light.png', file => page.screenshot({ path: file }));
    await shoot(testInfo, 'panel-light-closeup.png', file => panel.screenshot({ path: file }));
    await setTheme(page, 'JupyterLab Dark');
    await page.waitForTimeout(500); // the grid repaints in the new colours
    await shoot(testInfo, 'panel-dark.png', file => page.screenshot({ path: file }));
    await shoot(testInfo, 'panel-dark-closeup.png', file => panel.screenshot({ path: file }));
    await setTheme(page, 'JupyterLab Light');
  });

  test('exports the filtered rows as CSV and writes the same filter to the notebook', async ({
    page
  }) => {
    await openNotebook(page, 'panel-export.ipynb');
    await run(page, START_AND_LOG(100));
    await run(page, MIXED);
    await run(page, 'ts.logger.getLogger("demo.db").warning(\'=cmd|"/c calc"!A1, "query"\\nline\')');
    const panel = await openPanel(page);
    await setPanelFilter(page, 'logger', 'demo.db');
    await setPanelFilter(page, 'text', 'query');
    const expected = await kernelCount(page, 'logger="demo.db", text="query"');
    await waitForPanel(page, s => s.count === expected);

    const downloading = page.waitForEvent('download');
    await panel.locator('.jp-taskscope-action-export').click();
    const download = await downloading;
    expect(download.suggestedFilename()).toBe('panel-export-taskscope.csv');
    const rows = parseCsv(fs.readFileSync((await download.path())!, 'utf8'));
    expect(rows[0]).toEqual([
      'seq', 'created', 'level', 'levelno', 'source', 'logger', 'msg', 'text',
      'hostname', 'pid', 'thread', 'worker', 'task', 'extra', 'action', 'cell'
    ]);
    expect(rows.length - 1).toBe(expected);
    const msgs = rows.slice(1).map(r => r[6]);
    expect(msgs.slice(0, 20)).toEqual(Array.from({ length: 20 }, (_, i) => `slow query ${i}`));
    // a formula is defused with an apostrophe; quotes, commas and the line break survive
    expect(msgs[20]).toBe('\'=cmd|"/c calc"!A1, "query"\nline');
    expect(rows.slice(1).every(r => r.length === 16 && r[5] === 'demo.db')).toBe(true);

    // "To notebook": a cell below the active one with the same filter, which gives the
    // same rows
    const before = (await cellSources(page)).length;
    await panel.locator('.jp-taskscope-action-to-notebook').click();
    await expect.poll(async () => (await cellSources(page)).length).toBe(before + 1);
    const inputs = await cellSources(page);
    const inserted = inputs.findIndex(text => text.includes('dataset.get('));
    expect(inputs[inserted]).toBe(
      "import taskscope\n\ntaskscope.logger.dataset.get(logger='demo.db', text='query')"
    );
    await activateNotebook(page);
    expect(await page.notebook.runCell(inserted, true)).toBe(true);
    const shape = await run(page, 'print(len(_), list(_.msg)[-1] == \'=cmd|"/c calc"!A1, "query"\\nline\')');
    expect(shape.trim()).toBe(`${expected} True`);
  });

  test('opens from the palette, and clears the session after asking', async ({ page }) => {
    await openNotebook(page, 'panel-clear.ipynb');
    const stored = Number(await run(page, START_AND_LOG(50)));
    await page.keyboard.press('Control+Shift+C');
    await page.locator('#modal-command-palette input').fill('Open Task Logs');
    await page.keyboard.press('Enter');
    const panel = page.locator(PANEL);
    await expect(panel).toBeVisible();
    await waitForPanel(page, s => s.count === stored);

    await panel.locator('.jp-taskscope-action-clear').click();
    const dialog = page.locator('.jp-Dialog');
    await expect(dialog).toContainText('Clear task logs?');
    await dialog.locator('.jp-mod-warn').click();
    await waitForPanel(page, s => s.count === 0);

    await run(page, 'for i in range(3): log.info("after clear %d", i)');
    const state = await waitForPanel(page, s => s.count === 3 && s.messages[2] === 'after clear 2');
    expect(state.messages).toEqual(['after clear 0', 'after clear 1', 'after clear 2']);
    await expect(panel.locator('.jp-taskscope-LogView-status')).toContainText('3 of 3 rows');
  });

  test('opens from the toolbar item’s menu, and comes back after a reload with its filter', async ({
    page
  }) => {
    await openNotebook(page, 'panel-restore.ipynb');
    await run(page, START_AND_LOG(30));
    await run(page, MIXED);
    await page.locator('.jp-NotebookPanel-toolbar .jp-taskscope-ToolbarItem').click({ button: 'right' });
    await page.locator('.lm-Menu-item', { hasText: 'Open Task Logs' }).click();
    await expect(page.locator(PANEL)).toBeVisible();
    await setPanelFilter(page, 'level', 'ERROR');
    const expected = await kernelCount(page, 'level="ERROR"');
    await waitForPanel(page, s => s.count === expected);
    await page.notebook.save();

    await reloadPage(page);
    const panel = page.locator(PANEL);
    await expect(panel).toBeVisible({ timeout: 60000 });
    await expect(panel.locator('[data-filter="level"]')).toHaveValue('ERROR');
    const state = await waitForPanel(page, s => s.count === expected && s.messages.every(m => m !== ''), 60000);
    expect(state.messages[state.messages.length - 1]).toBe('failed job 4');
    // still below its notebook
    const notebookBox = await page.locator('.jp-NotebookPanel').boundingBox();
    expect((await panel.boundingBox())!.y).toBeGreaterThanOrEqual(
      notebookBox!.y + notebookBox!.height - 2
    );
  });
});

test.describe('Task logs panel across a kernel restart', () => {
  // galata's kernel tracking answers every POST under /api/kernels/ itself, which breaks
  // a restart: use the real API (as live.spec.ts does).
  test.use({ kernels: null });

  test('shows the new session’s rows after a restart and a new start, without a reload', async ({
    page
  }) => {
    // the old session: its started row and 8 rows, seqs 1..9
    await openNotebook(page, 'panel-restart.ipynb');
    expect(Number(await run(page, START_AND_LOG(8)))).toBe(9);
    const panel = await openPanel(page);
    await waitForPanel(page, s => s.count === 9 && s.messages.includes('row 7'));

    await activateNotebook(page);
    await page.menu.clickMenuItem('Kernel>Restart Kernel…');
    await page.locator('.jp-Dialog .jp-mod-accept').click();
    await kernelIdle(page);
    const item = page.locator('.jp-NotebookPanel-toolbar .jp-taskscope-ToolbarItem');
    await expect(item).toHaveAttribute('data-state', 'stopped', { timeout: 60000 });
    // the panel shows the new kernel's (not yet recording) session
    await waitForPanel(page, s => s.count === 0 && !s.loading);

    // recording again from the toolbar, as a user would: a new store session whose seqs
    // start at 1, below the old session's 9; the panel takes its started row...
    await item.click();
    await expect(item).toHaveAttribute('data-state', 'recording');
    await waitForPanel(
      page,
      s => s.count === 1 && s.messages[0] === 'taskscope started' && !s.loading
    );
    // ...and then the rows logged after it (seq 2 on: not above the old 9)
    const logged = await run(
      page,
      [
        'import taskscope as ts',
        'log = ts.logger.getLogger("demo")',
        'log.info("row 0")',
        'ts.logger.dataset.count()'
      ].join('\n')
    );
    expect(Number(logged)).toBe(2);
    await expect(item.locator('.jp-taskscope-label')).toHaveText('Recording · 2');
    await expect(page.locator('.jp-taskscope-StatusItem')).toContainText('Recording · 2');
    let state = await waitForPanel(page, s => s.count === 2 && !s.messages.includes(''));
    expect(state.messages).toEqual(['taskscope started', 'row 0']);
    await expect(panel.locator('.jp-taskscope-LogView-status')).toContainText('2 of 2 rows');

    await run(page, 'for i in range(1, 13): log.info("row %d", i)');
    const all = ['taskscope started', ...Array.from({ length: 13 }, (_, i) => `row ${i}`)];
    state = await waitForPanel(
      page,
      s =>
        s.count === 14 &&
        s.messages[s.messages.length - 1] === 'row 12' &&
        !s.messages.includes('')
    );
    expect(state.messages).toEqual(all.slice(state.first, state.last + 1));
    expect(state.error).toBeNull();
    await expect(panel.locator('.jp-taskscope-LogView-status')).toContainText('14 of 14 rows');
  });
});

/** Long lines from a long logger name: what a narrow grid must still show readably. */
const LONG_LINES = [
  'pool = ts.logger.getLogger("demo.pool.scheduler")',
  'for i in range(30): pool.warning("task %d waited %.1f s for a worker slot; all 4 workers of the pool were busy", i, i / 10)',
  'ts.logger.dataset.count()'
].join('\n');

/**
 * The least of the message column a reader should see without scrolling sideways, in
 * characters: its usual width beside the detail in a panel docked below the notebook,
 * and in a panel docked right of it (~470 px with the file browser open, where only the
 * time and level columns stay beside the message) a little less.
 */
const READABLE_CHARS = { below: 40, right: 32 };

test.describe('Task logs panel in a 1280x800 window', () => {
  test.use({ viewport: { width: 1280, height: 800 } });

  test('keeps the message column readable with the detail open, below and right of its notebook', async ({
    page
  }, testInfo) => {
    await openNotebook(page, 'panel-narrow.ipynb');
    await run(page, START_AND_LOG(60));
    const all = Number(lastLine(await run(page, LONG_LINES)));
    const panel = await openPanel(page);
    const state = await waitForPanel(
      page,
      s => s.count === all && s.messages.length > 3 && s.messages.every(m => m !== '')
    );
    const detail = panel.locator('.jp-taskscope-Detail');
    const message = detail.locator('.jp-taskscope-Detail-message');
    const pick = state.last - state.first - 1;

    for (const [dock, name] of [
      ['split-bottom', 'below'],
      ['split-right', 'right']
    ] as const) {
      await dockPanel(page, dock);
      const { first, last, messages } = await waitForPanel(
        page,
        s => s.last > s.first + 2 && s.messages.every(m => m !== '')
      );
      // moved right after a key press, the grid grew taller: still following
      expect((await panelState(page)).following).toBe(true);
      const row = Math.min(first + pick, last - 1);
      await clickRow(page, row);
      await expect(detail).toBeVisible();
      await expect(message).toHaveText(messages[row - first]);
      // the layout settles on the next frames
      await expect.poll(async () => (await gridLayout(page)).maxScrollX).toBe(0);
      const layout = await gridLayout(page);
      await shoot(testInfo, `panel-narrow-${name}-light.png`, file =>
        page.screenshot({ path: file })
      );
      await setTheme(page, 'JupyterLab Dark');
      await page.waitForTimeout(500); // the grid repaints in the new colours
      await shoot(testInfo, `panel-narrow-${name}-dark.png`, file =>
        page.screenshot({ path: file })
      );
      await setTheme(page, 'JupyterLab Light');

      // every column shown fits, and the message column keeps a readable width
      expect(layout.maxScrollX).toBe(0);
      expect(layout.messageChars).toBeGreaterThanOrEqual(READABLE_CHARS[name]);
      expect(layout.shown.slice(0, 2)).toEqual(['created', 'level']);
      expect(layout.shown[layout.shown.length - 1]).toBe('msg');
      const { grid, detail: pane } = layout;
      expect(pane).not.toBeNull();
      if (name === 'below') {
        // a wide, short panel: the detail beside the grid
        expect(layout.orientation).toBe('horizontal');
        expect(pane!.x).toBeGreaterThanOrEqual(grid.x + grid.width - 1);
        expect(pane!.width).toBeGreaterThanOrEqual(200);
        expect(grid.height).toBeGreaterThanOrEqual(120);
      } else {
        // a narrow, tall panel: the detail below the grid, as wide as it
        expect(layout.orientation).toBe('vertical');
        expect(pane!.y).toBeGreaterThanOrEqual(grid.y + grid.height - 1);
        expect(Math.abs(pane!.width - grid.width)).toBeLessThanOrEqual(2);
        expect(pane!.height).toBeGreaterThanOrEqual(100);
        expect(grid.height).toBeGreaterThanOrEqual(150);
      }
      // the selected row is still on screen
      const after = await panelState(page);
      expect(row).toBeGreaterThanOrEqual(after.first);
      expect(row).toBeLessThanOrEqual(after.last);

      // the arrow keys still move the selection, and the detail with it
      await page.keyboard.press('ArrowUp');
      await expect(message).toHaveText(messages[row - 1 - first]);
      await page.keyboard.press('ArrowDown');
      await expect(message).toHaveText(messages[row - first]);
    }

    // Escape closes the detail and leaves the keys with the grid
    await page.keyboard.press('Escape');
    await expect(detail).toBeHidden();
    let layout = await gridLayout(page);
    expect(layout.detail).toBeNull();
    expect(layout.maxScrollX).toBe(0);
    const split = (await panel.locator('.jp-taskscope-LogView-split').boundingBox())!;
    expect(layout.grid.width).toBeGreaterThanOrEqual(split.width - 2);

    // docked below again, detail closed: the grid is wide enough for every column
    await dockPanel(page, 'split-bottom');
    await expect.poll(async () => (await gridLayout(page)).shown.length).toBe(7);
    layout = await gridLayout(page);
    expect(layout.maxScrollX).toBe(0);
    expect(layout.messageChars).toBeGreaterThanOrEqual(READABLE_CHARS.below);

    // a column the user widened (dragging its header's edge) keeps its width, and stays
    // when the detail opens beside the grid
    const task = layout.shown.indexOf('task');
    const edge =
      layout.grid.x + 1 + layout.columns.slice(0, task + 1).reduce((a, b) => a + b, 0);
    await page.mouse.move(edge, layout.grid.y + 10);
    await page.mouse.down();
    await page.mouse.move(edge + 60, layout.grid.y + 10, { steps: 4 });
    await page.mouse.up();
    const widened = layout.columns[task] + 60;
    await expect
      .poll(async () => (await gridLayout(page)).columns[task])
      .toBeGreaterThanOrEqual(widened - 2);
    await clickRow(page, state.last - 1);
    await expect(detail).toBeVisible();
    await expect.poll(async () => (await gridLayout(page)).orientation).toBe('horizontal');
    layout = await gridLayout(page);
    expect(layout.shown).toContain('task');
    expect(layout.columns[layout.shown.indexOf('task')]).toBeGreaterThanOrEqual(widened - 2);
    expect(layout.maxScrollX).toBe(0);
    await detail.locator('.jp-taskscope-Detail-close').click();
    await expect(detail).toBeHidden();
    // new rows, and the columns stepping back in, leave a closed detail closed
    const closed = (await panelState(page)).count;
    await run(page, 'for i in range(3): log.info("after close %d", i)');
    await waitForPanel(page, s => s.count >= closed + 3);
    await page.waitForTimeout(500);
    await expect(detail).toBeHidden();
    // a click on a row opens it again
    await clickRow(page, state.last - 1);
    await expect(detail).toBeVisible();
  });
});
