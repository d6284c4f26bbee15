/**
 * The log panel's data model over a fake store (test/unit/fakestore.ts: an object with
 * the two kernel ops, as jsdom has no kernel): block paging by seq, jumps, the bounded
 * cache, the tail and filter changes.
 */
import './canvas-stub';

import { DataModel } from '@lumino/datagrid';

import { BlockIndex } from '../../src/panel/blockindex';
import { kernelFilter } from '../../src/panel/filter';
import { GRID_COLUMNS as COLUMNS, LogDataModel } from '../../src/panel/model';
import { FakeStore, fakeRow } from './fakestore';

const MESSAGE = COLUMNS.findIndex(c => c.name === 'msg');

/** Let every pending promise (fake replies, pumps) run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) {
    await new Promise(resolve => setTimeout(resolve, 0));
  }
}

function record(model: LogDataModel): DataModel.ChangedArgs[] {
  const changes: DataModel.ChangedArgs[] = [];
  model.changed.connect((_, args) => changes.push(args));
  return changes;
}

/** What the message cell of a position shows once its block is in. */
async function messageAt(model: LogDataModel, row: number): Promise<string> {
  model.data('body', row, MESSAGE);
  await settle();
  return model.data('body', row, MESSAGE);
}

describe('LogDataModel', () => {
  it('counts the rows, names the columns and pages a block on a miss', async () => {
    const store = new FakeStore(1234);
    const model = new LogDataModel({ source: store, blockSize: 100 });
    const changes = record(model);
    await model.refresh();
    expect(model.rowCount('body')).toBe(1234);
    expect(model.rowCount('column-header')).toBe(1);
    expect(model.columnCount('body')).toBe(COLUMNS.length);
    expect(model.data('column-header', 0, MESSAGE)).toBe('Message');
    expect(changes.map(c => c.type)).toEqual(['model-reset']);

    expect(model.data('body', 250, MESSAGE)).toBe(''); // not held yet
    await settle();
    expect(model.data('body', 250, MESSAGE)).toBe('message 251');
    expect(store.queries()).toEqual([
      { filter: {}, after_seq: 200, limit: 100, with_total: false }
    ]);
    expect(changes[1]).toEqual({
      type: 'cells-changed',
      region: 'body',
      row: 200,
      rowSpan: 100,
      column: 0,
      columnSpan: COLUMNS.length
    });
  });

  it('jumps to any position of 10 million rows with one keyset page', async () => {
    const store = new FakeStore(10_000_000);
    store.first = 41; // the first 40 were cleared: seq is dense from 41
    store.last = 10_000_040;
    const model = new LogDataModel({ source: store, blockSize: 500 });
    await model.refresh();
    expect(model.rowCount('body')).toBe(10_000_000);
    expect(await messageAt(model, 9_999_999)).toBe('message 10000040');
    expect(await messageAt(model, 5_123_456)).toBe('message 5123497');
    expect(store.queries().map(q => [q.after_seq, q.limit])).toEqual([
      [9_999_540, 500],
      [5_123_040, 500]
    ]);
    // the index op was asked once, with no scan needed (dense)
    expect(store.indexes()).toEqual([{ filter: {}, every: 500 }]);
  });

  it('maps positions of a filtered view to the right rows', async () => {
    const store = new FakeStore(5000);
    const model = new LogDataModel({ source: store, blockSize: 64 });
    await model.setFilter({ level: 'WARNING' });
    const expected: number[] = [];
    for (let seq = 1; seq <= 5000; seq++) {
      if (fakeRow(seq).levelno >= 30) {
        expected.push(seq);
      }
    }
    expect(model.count).toBe(expected.length);
    for (const position of [0, 63, 64, 700, expected.length - 1]) {
      expect(await messageAt(model, position)).toBe(`message ${expected[position]}`);
    }
    expect(store.indexes()).toEqual([{ filter: { level: 'WARNING' }, every: 64 }]);
    for (const q of store.queries()) {
      expect(q.filter).toEqual({ level: 'WARNING' });
      expect(q.with_total).toBe(false);
    }
  });

  it('holds at most maxRows however far the user scrolls, never dropping what shows', async () => {
    const store = new FakeStore(100_000);
    const model = new LogDataModel({ source: store, blockSize: 100, maxRows: 500 });
    await model.refresh();
    model.setViewport(50_000, 50_030);
    await settle();
    for (let row = 0; row < 20_000; row += 400) {
      model.data('body', row, 0);
      await settle();
      expect(model.heldRows).toBeLessThanOrEqual(500);
    }
    // the viewport's block was kept through all that
    const before = store.queries().length;
    expect(model.data('body', 50_010, MESSAGE)).toBe('message 50011');
    await settle();
    expect(store.queries().length).toBe(before);
    // an evicted block is paged again when it shows
    expect(model.data('body', 0, MESSAGE)).toBe('');
    expect(await messageAt(model, 0)).toBe('message 1');
  });

  it('fetches the shown blocks, then their neighbours', async () => {
    const store = new FakeStore(10_000);
    const model = new LogDataModel({ source: store, blockSize: 100 });
    await model.refresh();
    model.setViewport(4_050, 4_120);
    await settle();
    const asked = store.queries().map(q => q.after_seq);
    expect(asked.slice(0, 2)).toEqual([4_000, 4_100]);
    expect(asked).toContain(4_200);
    expect(asked).toContain(3_900);
  });

  it('fetches nothing more once disposed, even with a fetch in flight', async () => {
    // a closed panel with a page on its way: its answer came back to an empty cache,
    // every shown block looked missing, and the model fetched them again for ever
    const store = new FakeStore(1000);
    const model = new LogDataModel({ source: store, blockSize: 100 });
    await model.refresh();
    let open: () => void = () => undefined;
    store.gate = new Promise<void>(resolve => (open = resolve));
    model.setViewport(900, 999);
    expect(store.queries().length).toBeGreaterThan(0);
    model.dispose();
    // count the fetches after dispose; past a few, never answer (a loop would starve the
    // timers this test waits on)
    let after = 0;
    const query = store.query.bind(store);
    store.query = q => (++after > 5 ? new Promise(() => undefined) : query(q));
    store.gate = null;
    open();
    await settle();
    expect(after).toBe(0);
  });

  it('takes new rows while following as one rows-inserted change, without re-paging', async () => {
    const store = new FakeStore(950);
    const model = new LogDataModel({ source: store, blockSize: 100 });
    await model.refresh();
    expect(await messageAt(model, 949)).toBe('message 950');
    const changes = record(model);
    const pagesBefore = store.queries().length;
    await model.tail(store.append(120));
    expect(changes).toEqual([
      { type: 'rows-inserted', region: 'body', index: 950, span: 120 }
    ]);
    expect(model.count).toBe(1070);
    expect(store.queries().length).toBe(pagesBefore + 1); // the tail page itself
    expect(store.queries().pop()).toMatchObject({ after_seq: 950, with_total: false });
    // the new rows are held: the last block was continued, the next one started
    expect(model.data('body', 1069, MESSAGE)).toBe('message 1070');
    expect(model.data('body', 999, MESSAGE)).toBe('message 1000');
  });

  it('only counts new rows while not following, and pages them when they show', async () => {
    const store = new FakeStore(1000);
    const model = new LogDataModel({ source: store, blockSize: 100 });
    await model.refresh();
    model.following = false;
    const changes = record(model);
    await model.tail(store.append(250));
    expect(changes).toEqual([
      { type: 'rows-inserted', region: 'body', index: 1000, span: 250 }
    ]);
    expect(store.queries()).toEqual([]);
    expect(store.indexes().pop()).toEqual({
      filter: {},
      every: 100,
      after_seq: 1000,
      skip: 0
    });
    expect(await messageAt(model, 1249)).toBe('message 1250');
  });

  it('extends a filtered index from the tail, rows or positions alike', async () => {
    const store = new FakeStore(1003);
    const filter = { level: 'WARNING' };
    const following = new LogDataModel({ source: store, blockSize: 16 });
    const counting = new LogDataModel({ source: store, blockSize: 16 });
    counting.following = false;
    await following.setFilter(filter);
    await counting.setFilter(filter);
    store.append(997);
    await following.tail(store.last);
    await counting.tail(store.last);
    const fresh = new LogDataModel({ source: store, blockSize: 16 });
    await fresh.setFilter(filter);
    expect(following.count).toBe(fresh.count);
    expect(counting.count).toBe(fresh.count);
    // 250 warnings before the tail: its positions continue the last block, 6 rows short
    expect(store.indexes().find(q => q.after_seq === 1000)).toMatchObject({ skip: 6 });
    for (const position of [250, 251, 300, fresh.count - 1]) {
      const want = await messageAt(fresh, position);
      expect(await messageAt(following, position)).toBe(want);
      expect(await messageAt(counting, position)).toBe(want);
    }
  });

  it('asks for positions only after a burst, even while following', async () => {
    const store = new FakeStore(10);
    const model = new LogDataModel({ source: store, blockSize: 100 });
    await model.refresh();
    await model.tail(store.append(50_000));
    expect(model.count).toBe(50_010);
    expect(store.queries()).toEqual([]);
  });

  it('folds tail calls made while one runs into one more run', async () => {
    const store = new FakeStore(10);
    const model = new LogDataModel({ source: store, blockSize: 100 });
    await model.refresh();
    const changes = record(model);
    let open: () => void = () => undefined;
    store.gate = new Promise<void>(resolve => (open = resolve));
    const first = model.tail(store.append(5));
    for (let i = 0; i < 5; i++) {
      void model.tail(store.append(5));
    }
    store.gate = null;
    open();
    await first;
    await settle();
    expect(model.count).toBe(40);
    expect(changes.length).toBeLessThanOrEqual(2);
    expect(changes.reduce((n, c) => n + (c.type === 'rows-inserted' ? c.span : 0), 0)).toBe(30);
  });

  it('shows another filter after indexing it, ignoring replies for the old one', async () => {
    const store = new FakeStore(3000);
    const model = new LogDataModel({ source: store, blockSize: 100 });
    await model.refresh();
    let release: () => void = () => undefined;
    const held = new Promise<void>(resolve => (release = resolve));
    const query = store.query.bind(store);
    store.query = async q => {
      await held;
      return query(q);
    };
    model.data('body', 1500, MESSAGE); // a page for the unfiltered view, held up
    await settle();
    store.query = query;
    const changes = record(model);
    const switching = model.setFilter({ logger: 'app.1' });
    expect(model.loading).toBe(true);
    await switching;
    release(); // the old view's page arrives after the switch: dropped
    await settle();
    expect(model.loading).toBe(false);
    expect(model.filter).toEqual({ logger: 'app.1' });
    expect(model.count).toBe(1000);
    expect(changes.filter(c => c.type === 'cells-changed')).toEqual([]);
    expect(changes.map(c => c.type)).toContain('model-reset');
    expect(await messageAt(model, 0)).toBe('message 1');
    expect(await messageAt(model, 1)).toBe('message 4');
  });

  it('re-indexes the filter on its way, not the one still shown', async () => {
    const store = new FakeStore(100);
    const model = new LogDataModel({ source: store, blockSize: 50 });
    await model.refresh();
    let open: () => void = () => undefined;
    store.gate = new Promise<void>(resolve => (open = resolve));
    const applying = model.setFilter({ level: 'WARNING' });
    const refreshing = model.refresh(); // a new session arrived meanwhile
    store.gate = null;
    open();
    await Promise.all([applying, refreshing]);
    expect(model.filter).toEqual({ level: 'WARNING' });
    expect(model.count).toBe(25);
  });

  it('keeps the rows shown when the kernel refuses a filter, and says why', async () => {
    const store = new FakeStore(100);
    const model = new LogDataModel({ source: store, blockSize: 50 });
    await model.refresh();
    store.rejectFilter = f => (f.level === 'LOUD' ? "level: unknown level 'LOUD'" : null);
    await expect(model.setFilter({ level: 'LOUD' })).rejects.toThrow('LOUD');
    expect(model.error).toBe("level: unknown level 'LOUD'");
    expect(model.count).toBe(100);
    expect(model.filter).toEqual({});
    await model.setFilter({ level: 'ERROR' });
    expect(model.error).toBeNull();
  });

  it('indexes again when rows went away under it (a clear)', async () => {
    const store = new FakeStore(700);
    const model = new LogDataModel({ source: store, blockSize: 100 });
    await model.refresh();
    store.clear();
    store.append(30);
    const changes = record(model);
    model.data('body', 300, MESSAGE);
    await settle();
    expect(changes.map(c => c.type)).toContain('model-reset');
    expect(model.count).toBe(30);
    expect(await messageAt(model, 0)).toBe('message 701');
  });

  it('cuts long messages and spells out controls in cells', async () => {
    const store = new FakeStore(1);
    const long = 'x'.repeat(100_000);
    store.query = async () => ({
      op: 'rows',
      version: 1,
      rows: [{ ...fakeRow(1), msg: `${long}\n<b>\u202e` }],
      total: null,
      first_seq: 1,
      last_seq: 1
    });
    const model = new LogDataModel({ source: store, blockSize: 10 });
    await model.refresh();
    const cell = await messageAt(model, 0);
    expect(cell.length).toBe(300);
    expect(cell.endsWith('…')).toBe(true);
    expect(model.rowAt(0)!.msg.length).toBe(100_000 + 5); // the full text stays for the detail view
  });

  it('pages every matching row up to the newest it knew, for export', async () => {
    const store = new FakeStore(25_000);
    const model = new LogDataModel({ source: store, blockSize: 100 });
    await model.setFilter({ logger: 'app.2' });
    store.append(100); // arrives during the export: not part of it
    const seqs: number[] = [];
    for await (const page of model.allRows(3000)) {
      seqs.push(...page.map(r => r.seq));
    }
    expect(seqs.length).toBe(model.count);
    expect(seqs.every((s, i) => s % 3 === 2 && (i === 0 || s > seqs[i - 1]))).toBe(true);
    expect(seqs[seqs.length - 1]).toBeLessThanOrEqual(25_000);
  });
});

describe('BlockIndex', () => {
  it('is dense without a filter and refuses a tail with a gap', () => {
    const index = BlockIndex.fromReply(
      { op: 'index', version: 1, count: 10, first_seq: 5, last_seq: 14, dense: true, seqs: [] },
      4
    );
    expect([0, 1, 2, 3].map(b => index.startSeq(b))).toEqual([5, 9, 13, null]);
    expect(index.blockLength(2)).toBe(2);
    expect(index.tailSkip).toBe(2);
    expect(index.append([15, 16])).toBe(true);
    expect(index.append([20])).toBe(false);
  });

  it('keeps block starts of a filtered view as rows come', () => {
    const index = BlockIndex.fromReply(
      { op: 'index', version: 1, count: 3, first_seq: 2, last_seq: 9, dense: false, seqs: [2, 9] },
      2
    );
    index.append([11, 12, 20]);
    expect([0, 1, 2, 3].map(b => index.startSeq(b))).toEqual([2, 9, 12, null]);
    expect(index.count).toBe(6);
    expect(index.lastSeq).toBe(20);
  });
});

describe('kernelFilter', () => {
  it('leaves blanks out, trims, keeps the text filter as typed', () => {
    expect(
      kernelFilter({ level: 'WARNING', logger: ' app.* ', text: ' a b ', task: '', worker: '(kernel)' })
    ).toEqual({ level: 'WARNING', logger: 'app.*', text: ' a b ', worker: '' });
  });

  it('fixes relative times at the moment given, keeps dates for the kernel', () => {
    const now = 1_700_000_000;
    expect(kernelFilter({ since: '10min', until: 'now' }, now)).toEqual({
      since: now - 600,
      until: now
    });
    expect(kernelFilter({ since: '1.5 hours' }, now).since).toBe(now - 5400);
    expect(kernelFilter({ since: '2024-05-01 12:30' }, now).since).toBe('2024-05-01 12:30');
    expect(kernelFilter({ since: '1700000000.5' }).since).toBe(1700000000.5);
    expect(kernelFilter({ since: '10min' }).since).toBe('10min');
  });
});
