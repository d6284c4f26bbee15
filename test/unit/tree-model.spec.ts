/**
 * The panel's tree: the flattened lines (treelines.ts) and the model that fills them from
 * a fake `actions` source (fakeactions.ts): flattening, expand and collapse, pages of a
 * large node fetched only where they show, sort by duration, the failed chain, the rows
 * of an action, and following the session (new rows, resets).
 */
import './canvas-stub';

import { DataModel } from '@lumino/datagrid';

import { ActionTreeModel, lineText, TREE_COLUMNS, TREE_PAGE } from '../../src/panel/treemodel';
import { ROWS_SHOWN, TreeLines } from '../../src/panel/treelines';
import { FakeActions, fakeAction } from './fakeactions';

const TREE = TREE_COLUMNS.findIndex(c => c.id === 'tree');
const DURATION = TREE_COLUMNS.findIndex(c => c.id === 'duration');
const INPUTS = TREE_COLUMNS.findIndex(c => c.id === 'inputs');

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) {
    await new Promise(resolve => setTimeout(resolve, 0));
  }
}

/** The tree column of every line, as the grid draws it. */
function texts(model: ActionTreeModel): string[] {
  return Array.from({ length: model.rowCount('body') }, (_, i) => model.data('body', i, TREE));
}

/** cell-1 > load (> parse, failed), save; report: the shape of the kernel's test store. */
function smallTree(): FakeActions {
  const fake = new FakeActions();
  fake.add(fakeAction('cell-1', '', { type: 'cell', duration: 2 }));
  fake.add(fakeAction('a1', 'cell-1', { type: 'load', duration: 0.5, fields: { path: 'x.csv' } }));
  fake.add(fakeAction('a2', 'a1', { type: 'parse', duration: 0.1 }));
  fake.add(fakeAction('a3', 'cell-1', { type: 'save', status: 'started', duration: null }));
  fake.add(fakeAction('a4', '', { type: 'report', duration: 2.5 }));
  fake.fail('a2');
  return fake;
}

async function loaded(fake: FakeActions): Promise<ActionTreeModel> {
  const model = new ActionTreeModel({ source: fake });
  await model.reload();
  await settle();
  return model;
}

describe('ActionTreeModel', () => {
  it('shows the roots closed, with status, duration and inputs on their lines', async () => {
    const model = await loaded(smallTree());
    expect(model.roots).toBe(2);
    expect(texts(model)).toEqual(['▸ cell ✗ inside', '  report']);
    expect(model.data('body', 1, DURATION)).toBe('2.50 s');
    expect(model.data('body', 1, INPUTS)).toBe('id="a4"');
    expect(model.data('column-header', 0, TREE)).toBe('Action');
  });

  it('expands and collapses, children indented under their parent', async () => {
    const model = await loaded(smallTree());
    const changes: DataModel.ChangedArgs[] = [];
    model.changed.connect((_, change) => changes.push(change));
    expect(model.toggle(0)).toBe(true);
    expect(texts(model)).toEqual(['▾ cell ✗ inside', '     …', '     …', '  report']);
    expect(changes).toContainEqual({ type: 'rows-inserted', region: 'body', index: 1, span: 2 });
    await settle();
    expect(texts(model)).toEqual(['▾ cell ✗ inside', '   ▸ load ✗ inside', '     save', '  report']);
    expect(model.data('body', 1, INPUTS)).toBe('path="x.csv"');
    model.toggle(1);
    await settle();
    expect(texts(model)[2]).toBe('        parse ✗');
    expect(model.toggle(2)).toBe(false); // parse has nothing inside
    model.toggle(0);
    expect(texts(model)).toEqual(['▸ cell ✗ inside', '  report']);
    expect(changes).toContainEqual({ type: 'rows-removed', region: 'body', index: 1, span: 3 });
    // opened again, load opens again too (the open ids are kept)
    model.toggle(0);
    await settle();
    expect(texts(model)).toEqual(['▾ cell ✗ inside', '   ▾ load ✗ inside', '        parse ✗', '     save', '  report']);
  });

  it('marks a failed action and its chain to the root, and nothing else', async () => {
    const model = await loaded(smallTree());
    model.toggle(0);
    await settle();
    model.toggle(1);
    await settle();
    const chain = model.lines.lines.map(line =>
      line.kind === 'action' ? `${line.node.action}:${line.node.status === 'failed' ? 'failed' : line.node.failed_chain}` : ''
    );
    expect(chain).toEqual(['cell-1:true', 'a1:true', 'a2:failed', 'a3:false', 'a4:false']);
  });

  it('sorts siblings by duration, running ones last, and keeps what was open', async () => {
    const fake = new FakeActions();
    fake.add(fakeAction('root', '', { type: 'batch' }));
    [0.3, 0.1, 2.0, null, 0.7].forEach((duration, i) =>
      fake.add(fakeAction(`w${i}`, 'root', { type: `input${i}`, duration }))
    );
    const model = await loaded(fake);
    model.toggle(0);
    await settle();
    const order = () => texts(model).slice(1).map(t => t.trim().replace('▸ ', ''));
    expect(order()).toEqual(['input0', 'input1', 'input2', 'input3', 'input4']);
    await model.setSort({ sort: 'duration', descending: true });
    await settle();
    expect(order()).toEqual(['input2', 'input4', 'input0', 'input1', 'input3']);
    expect(model.data('column-header', 0, DURATION)).toBe('Duration ▼');
    expect(fake.calls[fake.calls.length - 1]).toMatchObject({ parent: 'root', sort: 'duration', descending: true });
    await model.setSort({ sort: 'duration', descending: false });
    await settle();
    expect(order()).toEqual(['input1', 'input0', 'input4', 'input2', 'input3']);
  });

  it('opens a node of 10,000 children and fetches only the pages that show', async () => {
    const fake = new FakeActions();
    fake.add(fakeAction('big', '', { type: 'map' }));
    for (let i = 0; i < 10_000; i++) {
      fake.add(fakeAction(`c${i}`, 'big', { type: `item${i}`, duration: (i % 97) / 100 }));
    }
    const model = await loaded(fake);
    model.setViewport(0, 40);
    model.toggle(0);
    await settle();
    expect(model.rowCount('body')).toBe(10_001);
    const pages = () => fake.calls.filter(c => c.parent === 'big').map(c => c.offset);
    expect(pages()).toEqual([0]);
    expect(model.data('body', 1, TREE)).toBe('     item0');
    expect(model.data('body', 7000, TREE)).toBe('     …'); // not fetched
    model.setViewport(6990, 7030); // scrolled there: children 6989..7029, two pages
    await settle();
    expect(pages()).toEqual([0, 13 * TREE_PAGE, 14 * TREE_PAGE]);
    expect(model.data('body', 7000, TREE)).toBe('     item6999');
    model.toggle(0);
    expect(model.rowCount('body')).toBe(1);
  });

  it('shows the rows logged directly in an action after its child actions', async () => {
    const fake = smallTree();
    fake.addRows('a1', 3);
    const model = await loaded(fake);
    model.toggle(0);
    await settle();
    model.toggle(1);
    await settle();
    expect(texts(model)).toEqual([
      '▾ cell ✗ inside',
      '   ▾ load ✗ inside',
      '        parse ✗',
      '        · INFO  row 0 of a1',
      '        · INFO  row 1 of a1',
      '        · INFO  row 2 of a1',
      '     save',
      '  report'
    ]);
    expect(fake.rowQueries).toEqual([{ filter: {}, in_action: 'a1', after_seq: null, limit: 500, with_total: false }]);
  });

  it('shows at most ROWS_SHOWN rows of one action, and says how many more', async () => {
    const fake = new FakeActions();
    fake.add(fakeAction('chatty', '', { type: 'loop' }));
    fake.addRows('chatty', ROWS_SHOWN + 5);
    const model = await loaded(fake);
    model.toggle(0);
    expect(model.rowCount('body')).toBe(1 + ROWS_SHOWN + 1);
    expect(model.data('body', ROWS_SHOWN + 1, TREE)).toContain('5 more rows');
  });

  it('follows the session: new rows refresh what shows, a restart reloads and forgets', async () => {
    jest.useFakeTimers();
    try {
      const fake = smallTree();
      const model = new ActionTreeModel({ source: fake });
      await model.reload();
      await jest.runOnlyPendingTimersAsync();
      model.toggle(0);
      await jest.runOnlyPendingTimersAsync();
      expect(texts(model)).toEqual(['▾ cell ✗ inside', '   ▸ load ✗ inside', '     save', '  report']);
      // save finishes, a new child of the cell and a new root start
      fake.nodes.get('a3')!.status = 'succeeded';
      fake.nodes.get('a3')!.duration = 3;
      fake.add(fakeAction('a5', 'cell-1', { type: 'late' }));
      fake.add(fakeAction('a6', '', { type: 'next' }));
      fake.rowsAppended.emit({ lastSeq: 10 });
      await jest.advanceTimersByTimeAsync(600);
      await jest.runOnlyPendingTimersAsync();
      expect(texts(model)).toEqual(['▾ cell ✗ inside', '   ▸ load ✗ inside', '     save', '     late', '  report', '  next']);
      expect(model.data('body', 2, DURATION)).toBe('3.00 s');
      // the same again adds nothing twice
      fake.rowsAppended.emit({ lastSeq: 11 });
      await jest.advanceTimersByTimeAsync(600);
      await jest.runOnlyPendingTimersAsync();
      expect(model.rowCount('body')).toBe(6);
      // a restart: other actions, nothing open
      fake.reset.emit({ reason: 'restart' });
      await jest.runOnlyPendingTimersAsync();
      expect(texts(model)).toEqual(['▸ cell ✗ inside', '  report', '  next']);
      expect(model.lines.expanded.size).toBe(0);
    } finally {
      jest.useRealTimers();
    }
  });

  it('waits for the comm before asking, without an error', async () => {
    const fake = smallTree();
    fake.isConnected = false;
    const model = await loaded(fake);
    expect(fake.calls).toEqual([]);
    expect(model.error).toBeNull();
    fake.isConnected = true;
    fake.reset.emit({ reason: 'connected' });
    await settle();
    expect(model.roots).toBe(2);
  });

  it('says what went wrong when the kernel cannot answer', async () => {
    const fake = smallTree();
    fake.actions = () => Promise.reject(new Error('ValueError: sort must be one of started, duration'));
    const model = await loaded(fake);
    expect(model.error).toContain('sort must be one of');
    expect(model.rowCount('body')).toBe(0);
  });
});

describe('TreeLines', () => {
  it('adds each new child once, whether its parent or its own page tells first', () => {
    const lines = new TreeLines();
    lines.reset(1);
    const root = fakeAction('r', '', { children: 1 });
    lines.applyPage('', 0, [root], 1);
    lines.expand(lines.lineOf('r')!);
    lines.applyPage('r', 0, [fakeAction('k0', 'r')], 1);
    // its own page says 3 children, then the parent's page says so too
    lines.applyPage('r', 0, [fakeAction('k0', 'r')], 3);
    lines.applyPage('', 0, [{ ...root, children: 3 }], 1);
    expect(lines.lines.map(l => `${l.kind}:${l.index}`)).toEqual(['action:0', 'action:0', 'pending:1', 'pending:2']);
    expect(lineText(lines.lines[2], 'tree')).toBe('     …');
  });

  it('an action at another place (the order changed) closes the one that was there', () => {
    const lines = new TreeLines();
    lines.reset(2);
    lines.applyPage('', 0, [fakeAction('a', '', { children: 1 }), fakeAction('b', '')], 2);
    lines.expand(lines.lineOf('a')!);
    expect(lines.lines.length).toBe(3);
    lines.applyPage('', 0, [fakeAction('b', ''), fakeAction('a', '', { children: 1 })], 2);
    // a opens again where it now is (it is still in `expanded`)
    expect(lines.lines.map(l => (l.kind === 'action' ? l.node.action : l.kind))).toEqual(['b', 'a', 'pending']);
  });
});

describe('the log view in Tree mode', () => {
  it('makes the tree when first shown, in place of the table, with its summary', async () => {
    const { LogView } = await import('../../src/panel/widget');
    const { TaskscopeModel } = await import('../../src/model');
    const { Widget } = await import('@lumino/widgets');
    const session = Object.assign(smallTree(), { model: new TaskscopeModel() });
    const view = new LogView({ session, filter: { level: 'WARNING' } });
    Widget.attach(view, document.body);
    await settle();
    expect(view.tree).toBeNull();
    const modes: string[] = [];
    view.modeChanged.connect((_, mode) => modes.push(mode));
    view.mode = 'tree';
    await settle();
    expect(view.tree!.isVisible).toBe(true);
    expect(view.grid.isVisible).toBe(false);
    expect(view.tree!.model.roots).toBe(2);
    // the panel's filter is the tree's (the kernel reads it as dataset.tree(**filter))
    expect(session.calls[session.calls.length - 1].filter).toEqual({ level: 'WARNING' });
    expect(view.node.querySelector('.jp-taskscope-LogView-status')!.textContent).toContain('2 root actions');
    view.mode = 'table';
    expect(view.tree!.isVisible).toBe(false);
    expect(view.grid.isVisible).toBe(true);
    expect(modes).toEqual(['tree', 'table']);
    view.dispose();
  });
});
