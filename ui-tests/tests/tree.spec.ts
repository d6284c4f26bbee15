/**
 * Actions as a tree in a real JupyterLab on a real kernel: nested @ts.log_call functions
 * where one fails, then (a) `ts.logger.dataset.tree()` renders inline with the failed
 * chain marked and folds, (b) the panel's Tree mode shows the actions, opens them with a
 * click on ▸, and sorts siblings by duration with a click on the Duration header.
 */
import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';

import { openNotebook, openPanel, PANEL, run, setTheme, shoot } from './panel-helpers';

test.use({ viewport: { width: 1400, height: 900 } });

/** Recording from the cell after this one on: that cell is an action (a root). */
const START = 'import taskscope as ts\nts.start()';

/** pipeline loads four paths, each slept for its delay; the last one fails in parse. */
const NESTED = [
  'import time',
  'log = ts.logger.getLogger("demo")',
  '',
  '@ts.log_call',
  'def parse(text):',
  '    log.info("parsing %s", text)',
  '    if text == "bad":',
  '        raise ValueError("bad input")',
  '    return len(text)',
  '',
  '@ts.log_call',
  'def load(path, delay):',
  '    time.sleep(delay)',
  '    log.info("loaded %s", path)',
  '    return parse(path)',
  '',
  '@ts.log_call',
  'def pipeline():',
  '    out = []',
  '    for path, delay in [("a.csv", 0.05), ("slow.csv", 0.4), ("b.csv", 0.15), ("bad", 0.01)]:',
  '        try:',
  '            out.append(load(path, delay))',
  '        except ValueError:',
  '            log.warning("skipped %s", path)',
  '    return out',
  '',
  'print(pipeline())'
].join('\n');

/** What the panel's tree holds: each line's tree, status, duration and inputs columns. */
interface ITreeState {
  roots: number;
  lines: {
    tree: string;
    status: string;
    duration: string;
    inputs: string;
    failed: boolean;
    chain: boolean;
    /** Not fetched yet. */
    pending: boolean;
  }[];
  scrollY: number;
  headerHeight: number;
  rowHeight: number;
  /** Each column's left edge, in the grid's pixels. */
  columnX: number[];
  /** The width of a character of the grid's font. */
  charWidth: number;
  status: string;
}

async function treeState(page: IJupyterLabPageFixture): Promise<ITreeState> {
  return page.evaluate(() => {
    const app = (window as any).jupyterapp;
    const panel = Array.from(app.shell.widgets('main') as Iterable<any>).find((w: any) =>
      w.node.classList.contains('jp-taskscope-LogPanel')
    ) as any;
    const tree = panel.content.tree;
    if (!tree) {
      return { roots: -1, lines: [], scrollY: 0, headerHeight: 0, rowHeight: 20, columnX: [], charWidth: 0, status: '' };
    }
    const model = tree.model;
    const lines = [];
    for (let row = 0; row < model.rowCount('body'); row++) {
      const line = model.lineAt(row);
      lines.push({
        tree: model.data('body', row, 0),
        status: model.data('body', row, 1),
        duration: model.data('body', row, 2),
        inputs: model.data('body', row, 3),
        failed: line?.kind === 'action' && line.node.status === 'failed',
        chain: line?.kind === 'action' && line.node.failed_chain,
        pending: line?.kind === 'pending' || (line?.kind === 'row' && line.row === null)
      });
    }
    return {
      roots: model.roots,
      lines,
      scrollY: tree.grid.scrollY,
      headerHeight: tree.grid.headerHeight,
      rowHeight: tree.grid.defaultSizes.rowHeight,
      columnX: Array.from({ length: model.columnCount('body') }, (_, i) => {
        let x = 0;
        for (let c = 0; c < i; c++) {
          x += tree.grid.columnSize('body', c);
        }
        return x;
      }),
      charWidth: tree.grid._charWidth,
      status: panel.content.node.querySelector('.jp-taskscope-LogView-status').textContent
    };
  });
}

async function waitForTree(
  page: IJupyterLabPageFixture,
  check: (state: ITreeState) => boolean
): Promise<ITreeState> {
  const deadline = Date.now() + 30000;
  let state = await treeState(page);
  while (!check(state)) {
    if (Date.now() > deadline) {
      throw new Error(`the tree never got there: ${JSON.stringify(state).slice(0, 3000)}`);
    }
    await page.waitForTimeout(100);
    state = await treeState(page);
  }
  return state;
}

/** Click the ▸/▾ of a body row of the tree grid at a depth. */
async function clickToggle(page: IJupyterLabPageFixture, row: number, depth: number): Promise<void> {
  const grid = page.locator(`${PANEL} .jp-taskscope-TreeGrid`);
  const box = (await grid.boundingBox())!;
  const state = await treeState(page);
  const y = state.headerHeight + row * state.rowHeight - state.scrollY + state.rowHeight / 2;
  // the renderer's padding, three characters a level, then the toggle
  const x = 8 + (depth * 3 + 0.5) * state.charWidth;
  await page.mouse.click(box.x + x, box.y + y);
}

/** Click a column's header. */
async function clickHeader(page: IJupyterLabPageFixture, column: number): Promise<void> {
  const grid = page.locator(`${PANEL} .jp-taskscope-TreeGrid`);
  const box = (await grid.boundingBox())!;
  const state = await treeState(page);
  await page.mouse.click(box.x + state.columnX[column] + 30, box.y + state.headerHeight / 2);
}

const paths = (state: ITreeState) =>
  state.lines.filter(l => l.tree.trim().startsWith('▸ load') || l.tree.trim().startsWith('▾ load')).map(l => l.inputs);

test.describe('action tree', () => {
  test('renders dataset.tree() inline with the failed chain marked, and folds', async ({
    page
  }, testInfo) => {
    await openNotebook(page, 'tree-inline.ipynb');
    await run(page, START);
    expect(await run(page, NESTED)).toContain("[5, 8, 5]");
    await run(page, 'ts.logger.dataset.tree(type=["pipeline", "load", "parse"])');
    const tree = page.locator('.jp-taskscope-Tree').last();
    await expect(tree).toBeVisible();
    const lines = tree.locator('.jp-taskscope-Tree-line');
    const texts = await lines.allTextContents();
    expect(texts.some(t => t.includes('pipeline/SUCCEEDED') && t.includes('✗ failed inside'))).toBe(true);
    expect(texts.filter(t => t.includes('load/'))).toHaveLength(4);
    expect(texts.some(t => t.includes('load/FAILED') && t.includes('✗ ValueError: bad input'))).toBe(true);
    expect(texts.some(t => t.includes('parse/FAILED') && t.includes('text="bad"'))).toBe(true);
    expect(texts.some(t => t.includes('load/SUCCEEDED') && t.includes('path="slow.csv", delay=0.4') && t.includes('→ 8'))).toBe(true);
    // the failed actions, and the ones above them to the root, are marked
    const failed = tree.locator('li[data-status="failed"]');
    await expect(failed).toHaveCount(2);
    const chain = tree.locator('li[data-failed-chain="true"]');
    expect(await chain.count()).toBeGreaterThanOrEqual(4); // cell, pipeline, load, parse
    await expect(tree.locator('.jp-taskscope-Tree-note')).toContainText('actions');
    await shoot(testInfo, 'tree-inline.png', file => tree.screenshot({ path: file }));

    // fold pipeline: its loads are hidden; unfold: they show again
    const pipeline = tree.locator('li', { has: page.locator(':scope > .jp-taskscope-Tree-line', { hasText: 'pipeline/' }) });
    const firstLoad = pipeline.locator('li').first();
    await expect(firstLoad).toBeVisible();
    await pipeline.locator(':scope > .jp-taskscope-Tree-line > .jp-taskscope-Tree-toggle').click();
    await expect(pipeline).toHaveAttribute('data-collapsed', 'true');
    await expect(firstLoad).toBeHidden();
    await shoot(testInfo, 'tree-inline-folded.png', file => tree.screenshot({ path: file }));
    await pipeline.locator(':scope > .jp-taskscope-Tree-line > .jp-taskscope-Tree-toggle').click();
    await expect(firstLoad).toBeVisible();
    // text/plain is the eliot-tree-like drawing
    const plain = await run(page, 'print(ts.logger.dataset.tree(type="load"))');
    expect(plain).toContain('── load/FAILED');
  });

  test('the panel shows the actions as a tree, opens them and sorts siblings by duration', async ({
    page
  }, testInfo) => {
    await openNotebook(page, 'tree-panel.ipynb');
    await run(page, START);
    await run(page, NESTED);
    const panel = await openPanel(page);
    await panel.locator('.jp-taskscope-mode[data-mode="tree"]').click();
    await expect(panel.locator('.jp-taskscope-mode[data-mode="tree"]')).toHaveAttribute('aria-pressed', 'true');
    await expect(panel.locator('.jp-taskscope-LogGrid')).toBeHidden();
    let state = await waitForTree(page, s => s.roots > 0 && s.lines.every(l => !l.pending));
    expect(state.status).toContain('root action');
    // the cell that ran the pipeline: closed, on a failed chain
    const cellRow = state.lines.findIndex(l => l.tree.startsWith('▸ cell') && l.chain);
    expect(cellRow).toBeGreaterThanOrEqual(0);
    expect(state.lines[cellRow].tree).toContain('✗');

    await clickToggle(page, cellRow, 0);
    state = await waitForTree(page, s => s.lines.some(l => l.tree.includes('pipeline')) && s.lines.every(l => !l.pending));
    const pipelineRow = state.lines.findIndex(l => l.tree.includes('pipeline'));
    expect(state.lines[pipelineRow].tree).toMatch(/^ {3}▸ pipeline ✗ inside/);
    await clickToggle(page, pipelineRow, 1);
    state = await waitForTree(page, s => paths(s).length === 4 && s.lines.every(l => !l.pending));
    // by start, with their inputs, durations and statuses on their lines
    expect(paths(state)).toEqual([
      'path="a.csv", delay=0.05',
      'path="slow.csv", delay=0.4',
      'path="b.csv", delay=0.15',
      'path="bad", delay=0.01'
    ]);
    const bad = state.lines.find(l => l.inputs.includes('"bad"'))!;
    expect(bad.failed && bad.status === 'failed' && bad.tree.endsWith('✗')).toBe(true);
    expect(state.lines.find(l => l.inputs.includes('slow.csv'))!.duration).toMatch(/^4\d\d ms$/);
    // the rows logged directly in pipeline come after its actions
    expect(state.lines.some(l => l.tree.includes('· WARNING  skipped bad'))).toBe(true);
    await shoot(testInfo, 'tree-panel.png', file => panel.screenshot({ path: file }));

    // a click on the Duration header: longest first
    await clickHeader(page, 2);
    state = await waitForTree(page, s => paths(s).length === 4 && paths(s)[0].includes('slow.csv'));
    expect(paths(state)).toEqual([
      'path="slow.csv", delay=0.4',
      'path="b.csv", delay=0.15',
      'path="a.csv", delay=0.05',
      'path="bad", delay=0.01'
    ]);
    await expect(panel.locator('.jp-taskscope-TreeView-order')).toHaveValue('duration:desc');
    await shoot(testInfo, 'tree-panel-by-duration.png', file => panel.screenshot({ path: file }));
    await setTheme(page, 'JupyterLab Dark');
    await page.waitForTimeout(500); // the grid repaints in the new colours
    await shoot(testInfo, 'tree-panel-dark.png', file => panel.screenshot({ path: file }));
    await setTheme(page, 'JupyterLab Light');

    // the bar's select: back to the order they started in
    await panel.locator('.jp-taskscope-TreeView-order').selectOption('started:asc');
    state = await waitForTree(page, s => paths(s).length === 4 && paths(s)[0].includes('a.csv'));

    // collapse the cell: its lines go
    const again = state.lines.findIndex(l => l.tree.startsWith('▾ cell') && l.chain);
    await clickToggle(page, again, 0);
    state = await waitForTree(page, s => paths(s).length === 0);
    expect(state.lines.some(l => l.tree.includes('pipeline'))).toBe(false);

    // back to the table
    await panel.locator('.jp-taskscope-mode[data-mode="table"]').click();
    await expect(panel.locator('.jp-taskscope-LogGrid')).toBeVisible();
  });
});
