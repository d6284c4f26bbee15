/**
 * The inline table (`ts.logger.dataset` as a cell's value) in a real notebook: levels,
 * sorting, the quick filter, "showing N of M", after a reload from the saved file, and
 * through the notebook's virtual scrolling ('full' windowing detaches cells out of view).
 */
import { expect, galata, test } from '@jupyterlab/galata';

import {
  lastLine,
  MIXED,
  reloadPage,
  openNotebook,
  run,
  setTheme,
  shoot,
  START_AND_LOG
} from './panel-helpers';

const TABLE = '.jp-taskscope-Table';

test.use({
  viewport: { width: 1400, height: 900 },
  mockSettings: {
    ...galata.DEFAULT_SETTINGS,
    '@jupyterlab/notebook-extension:tracker': { windowingMode: 'full' }
  }
});

/** Show the newest 50 rows inline, in the last cell. */
const SHOW = 'ts.logger.dataset.filter(limit=50)';

const cellTexts = (page: any, column: number) =>
  page
    .locator(`${TABLE} tbody tr`)
    .evaluateAll(
      (rows: HTMLTableRowElement[], c: number) => rows.map(r => r.cells[c]?.textContent ?? ''),
      column
    );

test.describe('inline table', () => {
  test('shows levels, sorts, filters and says how many of how many', async ({
    page
  }, testInfo) => {
    await openNotebook(page, 'inline.ipynb');
    await run(page, START_AND_LOG(300));
    await run(page, MIXED);
    const total = Number(
      lastLine(
        await run(
          page,
          'log.debug("a debug line"); log.info("an info line"); print("a print line")\n' +
            'ts.logger.getLogger("other").critical("a critical line")\n' +
            'ts.logger.dataset.count()'
        )
      )
    );
    await run(page, SHOW);
    const table = page.locator(TABLE);
    await expect(table).toHaveCount(1);
    await expect(table.locator('tbody tr')).toHaveCount(50);
    await expect(table.locator('.jp-taskscope-Table-summary')).toContainText(
      `showing 50 of ${total} rows (the newest)`
    );
    // levels in their theme colours, rows at WARNING and above tinted
    const warning = table.locator('td[data-level="warning"]').first();
    const info = table.locator('td[data-level="info"]').first();
    const colors = await Promise.all(
      [warning, info].map(cell => cell.evaluate(node => getComputedStyle(node).color))
    );
    expect(colors[0]).not.toBe(colors[1]);
    await expect(table.locator('tr[data-level="error"]')).toHaveCount(5);
    await expect(table.locator('tr[data-level="critical"]')).toHaveCount(1);
    // it is our renderer, not the HTML fallback
    await expect(page.locator('.taskscope-table')).toHaveCount(0);

    // click-to-sort: message ascending, then descending
    const message = table.locator('th[data-column="msg"]');
    await message.click();
    await expect(message).toHaveAttribute('aria-sort', 'ascending');
    let messages = await cellTexts(page, 6);
    expect(messages).toEqual([...messages].sort());
    await message.click();
    messages = await cellTexts(page, 6);
    expect(messages[0]).toBe('slow query 9');

    // the quick filter
    await table.locator('input').fill('slow query 1');
    await expect(table.locator('tbody tr')).toHaveCount(11);
    await expect(table.locator('.jp-taskscope-Table-summary')).toContainText(
      'showing 11 of 50 rows here'
    );
    await table.locator('input').fill('');
    await expect(table.locator('tbody tr')).toHaveCount(50);
    // a third click goes back to arrival order
    await message.click();
    await expect(message).not.toHaveAttribute('aria-sort', /.*/);
    messages = await cellTexts(page, 6);
    expect(messages.slice(-4)).toEqual([
      'a debug line',
      'an info line',
      'a print line',
      'a critical line'
    ]);
    await table
      .locator('.jp-taskscope-Table-scroll')
      .evaluate(node => (node.scrollTop = node.scrollHeight));

    await shoot(testInfo, 'inline-light.png', file => table.screenshot({ path: file }));
    await setTheme(page, 'JupyterLab Dark');
    await shoot(testInfo, 'inline-dark.png', file => table.screenshot({ path: file }));
    await setTheme(page, 'JupyterLab Light');
  });

  test('renders from the saved notebook after a reload, without the kernel', async ({
    page
  }) => {
    await openNotebook(page, 'inline-saved.ipynb');
    await run(page, START_AND_LOG(30));
    await run(page, MIXED);
    await run(page, SHOW);
    const table = page.locator(TABLE);
    await expect(table.locator('tbody tr')).toHaveCount(50);
    const before = await cellTexts(page, 6);
    await page.notebook.save();
    await page.kernel.shutdownAll();

    await reloadPage(page);
    await expect(table.locator('tbody tr')).toHaveCount(50, { timeout: 60000 });
    expect(await cellTexts(page, 6)).toEqual(before);
    await table.locator('th[data-column="level"]').click();
    await expect(table.locator('th[data-column="level"]')).toHaveAttribute(
      'aria-sort',
      'ascending'
    );
  });

  test('keeps its sort and filter when virtual scrolling detaches and reattaches it', async ({
    page,
    tmpPath
  }) => {
    // A notebook written by Python (so not trusted): the table's output first, then forty
    // cells of output below it, enough for 'full' windowing to take it out of the page.
    await openNotebook(page, 'inline-writer.ipynb');
    await run(page, START_AND_LOG(30));
    await run(page, MIXED);
    await run(
      page,
      [
        'import nbformat',
        'v4 = nbformat.v4',
        'table = v4.new_output("execute_result", data=ts.logger.dataset.filter(limit=50)._repr_mimebundle_(), execution_count=1)',
        'cells = [v4.new_code_cell("ts.logger.dataset.filter(limit=50)", outputs=[table])]',
        'cells += [v4.new_code_cell(f"print({i})", outputs=[v4.new_output("stream", name="stdout", text="filler line\\n" * 40)]) for i in range(40)]',
        'spec = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}',
        'nbformat.write(v4.new_notebook(cells=cells, metadata=spec), "inline-scroll.ipynb")'
      ].join('\n')
    );
    await page.evaluate(
      path => (window as any).jupyterapp.commands.execute('docmanager:open', { path }),
      `${tmpPath}/inline-scroll.ipynb`
    );
    const table = page.locator(TABLE);
    await expect(table.locator('tbody tr')).toHaveCount(50, { timeout: 60000 });
    await table.locator('th[data-column="msg"]').click();
    await table.locator('input').fill('job');
    await expect(table.locator('tbody tr')).toHaveCount(5);

    // 'full' windowing keeps the active cell attached: make the last one active, then
    // scroll far down; the table's cell is detached (hidden, out of the layout)
    const firstCellAttached = () =>
      page.evaluate(() => (window as any).jupyterapp.shell.currentWidget.content.widgets[0].isAttached);
    await page.evaluate(() => {
      const notebook = (window as any).jupyterapp.shell.currentWidget.content;
      notebook.activeCellIndex = notebook.widgets.length - 1;
    });
    const outer = page.locator('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer');
    const box = (await outer.boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    for (let i = 0; i < 6; i++) {
      await page.mouse.wheel(0, 1500);
    }
    await expect.poll(firstCellAttached).toBe(false);
    await expect(table).toBeHidden();
    for (let i = 0; i < 8; i++) {
      await page.mouse.wheel(0, -1500);
    }
    await expect.poll(firstCellAttached).toBe(true);
    await expect(table).toBeVisible();
    await expect(table.locator('tbody tr')).toHaveCount(5);
    await expect(table.locator('input')).toHaveValue('job');
    await expect(table.locator('th[data-column="msg"]')).toHaveAttribute(
      'aria-sort',
      'ascending'
    );
    expect(await cellTexts(page, 6)).toEqual([
      'failed job 0',
      'failed job 1',
      'failed job 2',
      'failed job 3',
      'failed job 4'
    ]);
  });
});
