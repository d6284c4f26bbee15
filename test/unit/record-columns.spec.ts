/**
 * The front end takes its columns and vocabulary from src/generated/record.ts (written
 * from the kernel's declaration): every column is in the CSV export and the detail view,
 * the grid and the inline table show exactly the `grid` ones, and a column added to the
 * generated list alone (the test swaps in a longer list) reaches every one of them.
 */
import './canvas-stub';

import { IRenderMime } from '@jupyterlab/rendermime-interfaces';

import * as generated from '../../src/generated/record';
import { IColumn } from '../../src/generated/record';
import { IRow } from '../../src/protocol';
import { fakeRow } from './fakestore';

type Modules = {
  csv: typeof import('../../src/csv');
  detail: typeof import('../../src/panel/detail');
  model: typeof import('../../src/panel/model');
  columns: typeof import('../../src/panel/columns');
  mime: typeof import('../../src/mimerender');
  settings: typeof import('../../src/settings');
};

/** The views, loaded against a generated module whose lists are `patch`ed. */
function load(patch: Partial<typeof generated> = {}): Modules {
  let modules: Modules | undefined;
  jest.isolateModules(() => {
    jest.doMock('../../src/generated/record', () => ({
      ...jest.requireActual('../../src/generated/record'),
      ...patch
    }));
    modules = {
      csv: require('../../src/csv'),
      detail: require('../../src/panel/detail'),
      model: require('../../src/panel/model'),
      columns: require('../../src/panel/columns'),
      mime: require('../../src/mimerender'),
      settings: require('../../src/settings')
    };
  });
  jest.dontMock('../../src/generated/record');
  return modules!;
}

/** A row with a distinct, non-empty value in every column of `columns`. */
function fullRow(columns: ReadonlyArray<{ name: string }>): IRow {
  const row: { [name: string]: unknown } = { ...fakeRow(8) };
  row.worker = 'tcp://10.0.0.5:40001';
  row.task = 'work-8';
  row.extra = { table: 'sales' };
  for (const { name } of columns) {
    if (row[name] === undefined || row[name] === null || row[name] === '') {
      row[name] = `value of ${name}`;
    }
  }
  return row as unknown as IRow;
}

/** The detail view's shown text of a row, by title: facts (dt/dd) and sections (h3/pre). */
function detailOf(modules: Modules, row: IRow): Map<string, string> {
  const view = new modules.detail.RowDetail();
  view.setRow(row);
  const shown = new Map<string, string>();
  view.node.querySelectorAll('dt').forEach(dt => {
    shown.set(dt.textContent!, dt.nextElementSibling!.textContent!);
  });
  view.node.querySelectorAll('section').forEach(block => {
    shown.set(block.querySelector('h3')!.textContent!, block.querySelector('pre')!.textContent!);
  });
  shown.set('(head)', view.node.querySelector('.jp-taskscope-Detail-head')!.textContent!);
  return shown;
}

async function inlineHeaders(modules: Modules, columns: ReadonlyArray<IColumn>, row: IRow) {
  const names = columns.map(c => c.name);
  const values = names.map(name => (row as unknown as { [name: string]: unknown })[name]);
  const table = modules.mime.rendererFactory.createRenderer({
    mimeType: modules.mime.MIME_TYPE
  } as unknown as IRenderMime.IRendererOptions);
  await table.renderModel({
    trusted: false,
    data: {
      [modules.mime.MIME_TYPE]: {
        version: 1,
        columns: names,
        rows: [values],
        total: 1,
        filter: {},
        session_id: null
      }
    },
    metadata: {},
    setData: () => undefined
  } as unknown as IRenderMime.IMimeModel);
  const headers = Array.from(table.node.querySelectorAll('th')).map(th => th.dataset.column!);
  const cells = Array.from(table.node.querySelectorAll('tbody tr')[0].children).map(
    td => td.textContent!
  );
  return { headers, cells };
}

describe('the generated record in the views', () => {
  const modules = load();
  const all = generated.COLUMNS.map(c => c.name);
  const grid = generated.COLUMNS.filter(c => c.shown === 'grid').map(c => c.name);

  it('writes every column to the CSV, in the store order', () => {
    expect(modules.csv.CSV_COLUMNS).toEqual(all);
    expect(modules.csv.csvHeader()).toBe(all.join(',') + '\r\n');
    const line = modules.csv.csvRows([fullRow(generated.COLUMNS)]).trimEnd().split(',');
    expect(line[all.indexOf('created')]).toBe('2023-11-14T22:13:20.008Z');
    expect(line[all.indexOf('hostname')]).toBe('host-a');
  });

  it('shows every column in the detail view, each under its declared title', () => {
    const row = fullRow(generated.COLUMNS);
    const shown = detailOf(modules, row);
    for (const column of generated.COLUMNS) {
      if (column.name === 'level' || column.name === 'msg') {
        expect(shown.get('(head)')).toContain(String(row[column.name]));
      } else {
        expect(shown.has(column.title)).toBe(true);
      }
    }
    expect(shown.get('Host')).toBe('host-a');
    expect(shown.get('Level number')).toBe('30');
    expect(shown.get('Worker')).toBe('tcp://10.0.0.5:40001');
    expect(shown.get('Extra')).toContain('"table": "sales"');
  });

  it('shows exactly the grid columns in the panel grid and the inline table, message last', async () => {
    const gridNames = modules.model.GRID_COLUMNS.map(c => c.name);
    expect([...gridNames].sort()).toEqual([...grid].sort());
    expect(gridNames[gridNames.length - 1]).toBe('msg');
    // the titles people read (and screenshots show), worker drawn as "where"
    expect(modules.model.GRID_COLUMNS.map(c => c.title)).toEqual([
      'Time',
      'Level',
      'Source',
      'Logger',
      'Worker / host',
      'Task',
      'Message'
    ]);
    const { headers } = await inlineHeaders(modules, generated.COLUMNS, fullRow(generated.COLUMNS));
    expect(headers).toEqual(gridNames);
    const fit = modules.columns.fitColumns(5000, 7.8);
    expect(fit.shown).toEqual(gridNames);
  });

  it('builds start() options through the declared setting names', () => {
    const { bridgeSettings, DEFAULT_SETTINGS } = modules.settings;
    const options = bridgeSettings({ ...DEFAULT_SETTINGS, captureLevel: 'WARNING' }).startOptions;
    expect(Object.keys(options).sort()).toEqual(Object.values(generated.SETTING_OPTIONS).sort());
    expect(options).toEqual({
      library_level: 'WARNING',
      user_level: 'DEBUG',
      streams: true,
      warnings: true,
      pools: true
    });
  });
});

describe('a column declared in the generated list alone', () => {
  const COLUMNS: IColumn[] = [
    ...generated.COLUMNS,
    // a grid column and a detail-only one that no view has heard of
    { name: 'attempt', shown: 'grid', title: 'Attempt', doc: 'retry number' } as unknown as IColumn,
    { name: 'node', shown: 'detail', title: 'Node', doc: 'cluster node' } as unknown as IColumn
  ];
  const modules = load({
    COLUMNS,
    SETTING_OPTIONS: { ...generated.SETTING_OPTIONS, autoStart: 'auto_start' }
  });
  const row = fullRow(COLUMNS);

  it('is written to the CSV', () => {
    expect(modules.csv.CSV_COLUMNS).toEqual(COLUMNS.map(c => c.name));
    const fields = modules.csv.csvRows([row]).trimEnd().split(',');
    expect(fields.slice(-2)).toEqual(['value of attempt', 'value of node']);
  });

  it('shows in the detail view, grid or not', () => {
    const shown = detailOf(modules, row);
    expect(shown.get('Attempt')).toBe('value of attempt');
    expect(shown.get('Node')).toBe('value of node');
  });

  it('shows in the panel grid and the inline table when it is a grid column', async () => {
    const model = modules.model;
    const names = model.GRID_COLUMNS.map(c => c.name);
    expect(names).toContain('attempt');
    expect(names).not.toContain('node');
    expect(names[names.length - 1]).toBe('msg');
    const source = {
      query: async () => ({
        op: 'rows' as const,
        version: 1,
        rows: [row],
        total: null,
        first_seq: row.seq,
        last_seq: row.seq
      }),
      index: async () => ({
        op: 'index' as const,
        version: 1,
        count: 1,
        first_seq: row.seq,
        last_seq: row.seq,
        dense: true,
        seqs: []
      })
    };
    const grid = new model.LogDataModel({ source, blockSize: 10 });
    await grid.refresh();
    const column = names.indexOf('attempt');
    expect(grid.columnCount('body')).toBe(names.length);
    expect(grid.data('column-header', 0, column)).toBe('Attempt');
    grid.data('body', 0, column);
    await new Promise(resolve => setTimeout(resolve, 0));
    expect(grid.data('body', 0, column)).toBe('value of attempt');

    const { headers, cells } = await inlineHeaders(modules, COLUMNS, row);
    expect(headers).toEqual(names);
    expect(cells[headers.indexOf('attempt')]).toBe('value of attempt');
  });

  it('gets a width in the grid and gives way first when the grid narrows', () => {
    const { fitColumns, readableWidth } = modules.columns;
    const wide = fitColumns(5000, 7.8);
    expect(wide.shown).toContain('attempt');
    const narrower = fitColumns(readableWidth(7.8) - 1, 7.8);
    expect(narrower.shown).not.toContain('attempt');
    expect(narrower.shown).toContain('source');
  });

  it('is passed to start() when a setting is declared for it', () => {
    const { bridgeSettings, DEFAULT_SETTINGS } = modules.settings;
    expect(bridgeSettings(DEFAULT_SETTINGS).startOptions.auto_start).toBe(false);
  });
});
