/**
 * The log panel's layout rules (the grid draws on a canvas jsdom lacks; Galata checks the
 * drawn result in a real browser): which columns show and how wide for a grid's width,
 * the column view the grid draws, and where the detail goes for a split's size.
 */
import './canvas-stub';

import { DataModel } from '@lumino/datagrid';

import {
  charsWidth,
  ColumnView,
  COLUMN_FIT,
  fitColumns,
  readableWidth
} from '../../src/panel/columns';
import { GRID_COLUMNS as COLUMNS, LogDataModel } from '../../src/panel/model';
import { detailOrientation } from '../../src/panel/widget';
import { FakeStore } from './fakestore';

/** A 13px monospace font's character. */
const CHAR = 7.8;
const px = (chars: number) => charsWidth(chars, CHAR);
const ALL = COLUMNS.map(c => c.name);
const total = (widths: Map<string, number>) =>
  Array.from(widths.values()).reduce((a, b) => a + b, 0);

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) {
    await new Promise(resolve => setTimeout(resolve, 0));
  }
}

describe('fitColumns', () => {
  it('gives every column its usual width when there is room', () => {
    const { shown, widths } = fitColumns(2000, CHAR);
    expect(shown).toEqual(ALL);
    for (const id of ALL) {
      expect(widths.get(id)).toBe(px(COLUMN_FIT[id].ease));
    }
  });

  it('keeps the message readable as the grid narrows: the others give way, then step out', () => {
    const always = px(12) + px(8); // created (the time) and level
    let before = ALL;
    for (let width = 1200; width >= 200; width -= 5) {
      const { shown, widths } = fitColumns(width, CHAR);
      // the same columns in the same order, fewer as the grid narrows
      expect(shown).toEqual(ALL.filter(id => shown.includes(id)));
      expect(shown.every(id => before.includes(id))).toBe(true);
      expect(shown.slice(0, 2)).toEqual(['created', 'level']);
      expect(shown[shown.length - 1]).toBe('msg');
      // out in order: source, then task, worker / host, logger
      const out = ['source', 'task', 'worker', 'logger'].filter(id => !shown.includes(id));
      expect(out).toEqual(['source', 'task', 'worker', 'logger'].slice(0, out.length));
      const message = widths.get('msg')!;
      if (width >= always + px(40)) {
        // everything fits, and the message has its usual 40 characters
        expect(total(widths)).toBeLessThanOrEqual(width);
        expect(message).toBeGreaterThanOrEqual(px(40));
      } else {
        // only time and level beside it: the message takes the rest, down to 16 characters
        expect(shown).toEqual(['created', 'level', 'msg']);
        expect(message).toBe(Math.max(px(16), width - always));
      }
      for (const id of shown) {
        expect(widths.get(id)).toBeGreaterThanOrEqual(px(COLUMN_FIT[id].least));
      }
      before = shown;
    }
  });

  it('keeps the widths the user set, and their columns', () => {
    const user = new Map([
      ['task', 200],
      ['msg', 500]
    ]);
    const { shown, widths } = fitColumns(400, CHAR, user);
    expect(shown).toEqual(['created', 'level', 'task', 'msg']);
    expect(widths.get('task')).toBe(200);
    expect(widths.get('msg')).toBe(500);
  });

  it('says how wide a grid keeps every column and the usual message', () => {
    const width = readableWidth(CHAR);
    let fit = fitColumns(width, CHAR);
    expect(fit.shown).toEqual(ALL);
    expect(fit.widths.get('msg')).toBe(px(40));
    fit = fitColumns(width - 1, CHAR);
    expect(fit.shown).not.toContain('source');
    expect(readableWidth(CHAR, new Map([['logger', 300]]))).toBe(
      width - px(COLUMN_FIT.logger.least) + 300
    );
  });
});

describe('ColumnView', () => {
  it('shows some of the model’s columns, with their data and titles', async () => {
    const model = new LogDataModel({ source: new FakeStore(10), blockSize: 5 });
    await model.refresh();
    const view = new ColumnView(model);
    // a mirror of the grid's columns, kept by the changes the view emits
    const mirror = [...view.shown];
    const changes: DataModel.ChangedArgs[] = [];
    view.changed.connect((_, change) => {
      changes.push(change);
      if (change.type === 'columns-removed') {
        mirror.splice(change.index, change.span);
      } else if (change.type === 'columns-inserted') {
        mirror.splice(change.index, 0, view.idAt(change.index)!);
      }
    });

    view.show(['created', 'level', 'logger', 'msg']);
    expect(view.shown).toEqual(['created', 'level', 'logger', 'msg']);
    expect(mirror).toEqual(view.shown);
    expect(view.columnCount('body')).toBe(4);
    expect(view.rowCount('body')).toBe(10);
    expect(view.data('column-header', 0, 2)).toBe('Logger');
    view.data('body', 3, 3);
    await settle();
    expect(view.data('body', 3, 3)).toBe('message 4');
    expect(view.data('body', 3, 2)).toBe('app.1');
    expect(view.columnOf('logger')).toBe(2);
    expect(view.columnOf('task')).toBe(-1);
    expect(view.idAt(1)).toBe('level');

    view.show(ALL);
    expect(view.shown).toEqual(ALL);
    expect(mirror).toEqual(ALL);
    const inserted = changes.filter(c => c.type === 'columns-inserted');
    expect(inserted.map(c => (c as DataModel.ColumnsChangedArgs).index)).toEqual([2, 4, 5]);
    expect(view.data('body', 3, 6)).toBe('message 4');

    // the model's changes pass through, its cells over the columns shown
    view.show(['created', 'msg']);
    changes.length = 0;
    await model.refresh();
    view.data('body', 7, 1);
    await settle();
    expect(changes.map(c => c.type)).toEqual(['model-reset', 'cells-changed']);
    expect(changes[1]).toMatchObject({ column: 0, columnSpan: 2 });
  });
});

describe('detailOrientation', () => {
  const readable = readableWidth(CHAR) + 18;
  const at = (width: number, height: number) =>
    detailOrientation({ width, height, gridShare: 0.7, readableWidth: readable });

  it('puts the detail beside the grid when the grid keeps a readable message there', () => {
    expect(at(1400, 700)).toBe('horizontal');
    expect(at(1214, 230)).toBe('horizontal');
  });

  it('puts it below in a narrow panel tall enough for both', () => {
    expect(at(470, 560)).toBe('vertical');
    expect(at(950, 400)).toBe('vertical');
  });

  it('in a small panel, beside when it is wide and below when it is not', () => {
    expect(at(950, 205)).toBe('horizontal');
    expect(at(470, 300)).toBe('vertical');
  });
});
