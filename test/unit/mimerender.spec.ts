/**
 * The inline table renderer on bundles shaped like taskscope/display.py's: text only,
 * sorting, the quick filter, "showing N of M", and state kept across re-renders and a
 * detach/reattach (what the notebook's virtual scrolling does to outputs).
 */
import { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';

import {
  MIME_TYPE,
  parseBundle,
  rendererFactory,
  summaryText,
  TaskscopeTable
} from '../../src/mimerender';
import extensions from '../../src/mimeplugin';
import { COLUMNS as RECORD, EMPTY_ROW, IRow } from '../../src/generated/record';
import { PAYLOADS } from './payloads';

/** The bundle's columns: the record's, as the kernel sends them. */
const COLUMNS = RECORD.map(column => column.name);

const LEVELS: [string, number][] = [['INFO', 20], ['WARNING', 30], ['ERROR', 40], ['DEBUG', 10]];

function bundleRow(seq: number, msg: string, level = LEVELS[seq % 4]): unknown[] {
  const row: IRow = {
    ...EMPTY_ROW, seq, created: 1714559400 + seq, level: level[0], levelno: level[1], source: 'user',
    logger: `app.${seq % 3}`, msg, text: `${level[0]}:app:${msg}`, hostname: 'host-a', pid: 4242,
    thread: 'MainThread', worker: '', task: `work-${seq}`, extra: seq % 2 ? { n: seq } : null
  };
  return COLUMNS.map(name => row[name]);
}

function bundle(rows: unknown[][], total = rows.length, filter = {}): unknown {
  return { version: 1, columns: COLUMNS, rows, total, filter, session_id: '20240501-123000-ab12cd34' };
}

function model(data: unknown): IRenderMime.IMimeModel {
  return {
    trusted: false,
    data: { [MIME_TYPE]: data as any },
    metadata: {},
    setData: () => undefined
  };
}

async function render(data: unknown): Promise<TaskscopeTable> {
  const table = rendererFactory.createRenderer({
    mimeType: MIME_TYPE,
    sanitizer: { sanitize: (s: string) => s },
    resolver: null,
    linkHandler: null,
    latexTypesetter: null
  } as unknown as IRenderMime.IRendererOptions) as TaskscopeTable;
  await table.renderModel(model(data));
  Widget.attach(table, document.body);
  return table;
}

const bodyRows = (table: Widget) =>
  Array.from(table.node.querySelectorAll('tbody tr')) as HTMLTableRowElement[];
/** Where the table shows a record column (its header's position). */
const at = (table: Widget, name: string) =>
  Array.from(table.node.querySelectorAll('thead th')).findIndex(
    th => (th as HTMLElement).dataset.column === name
  );
const messages = (table: Widget) => bodyRows(table).map(tr => tr.cells[at(table, 'msg')].textContent);
const header = (table: Widget, name: string) =>
  Array.from(table.node.querySelectorAll('th')).find(th => th.textContent === name)!;

const extension = extensions.find(e => e.id === 'jupyterlab-taskscope:table')!;

describe('the mime extension', () => {
  it('registers a safe renderer for the table type, ahead of text/html', () => {
    expect(extension.rendererFactory).toBe(rendererFactory);
    expect(extension.dataType).toBe('json');
    expect(rendererFactory.mimeTypes).toEqual([MIME_TYPE]);
    expect(rendererFactory.safe).toBe(true);
    expect(extension.rank!).toBeLessThan(50);
  });
});

describe('TaskscopeTable', () => {
  afterEach(() => (document.body.innerHTML = ''));

  it('shows the rows with levels marked and says how many of how many', async () => {
    const rows = [1, 2, 3, 4].map(seq => bundleRow(seq, `message ${seq}`));
    const table = await render(bundle(rows, 1520, { level: 'DEBUG' }));
    expect(messages(table)).toEqual(['message 1', 'message 2', 'message 3', 'message 4']);
    expect(bodyRows(table)[1].cells[at(table, 'level')].dataset.level).toBe('error');
    expect(bodyRows(table)[1].dataset.level).toBe('error');
    expect(bodyRows(table)[0].dataset.level).toBe('warning');
    expect(bodyRows(table)[2].dataset.level).toBeUndefined();
    expect(table.node.querySelector('.jp-taskscope-Table-summary')!.textContent).toBe(
      'taskscope session 20240501-123000-ab12cd34: showing 4 of 1,520 rows (the newest) matching level="DEBUG"'
    );
  });

  it('sorts by a column on click: ascending, descending, then arrival order', async () => {
    const rows = [bundleRow(1, 'b'), bundleRow(2, 'c'), bundleRow(3, 'a')];
    const table = await render(bundle(rows));
    header(table, 'message').click();
    expect(messages(table)).toEqual(['a', 'b', 'c']);
    expect(header(table, 'message').getAttribute('aria-sort')).toBe('ascending');
    header(table, 'message').click();
    expect(messages(table)).toEqual(['c', 'b', 'a']);
    header(table, 'message').click();
    expect(messages(table)).toEqual(['b', 'c', 'a']);
    expect(header(table, 'message').hasAttribute('aria-sort')).toBe(false);
    header(table, 'level').click(); // by level number: INFO 20 < WARNING 30... rows 1..3 are WARNING, ERROR, DEBUG
    expect(messages(table)).toEqual(['a', 'b', 'c']);
  });

  it('filters its rows by a quick text filter', async () => {
    const rows = [1, 2, 3, 4, 5].map(seq => bundleRow(seq, seq % 2 ? `odd ${seq}` : `even ${seq}`));
    const table = await render(bundle(rows, 90));
    const search = table.node.querySelector('input')!;
    search.value = 'ODD';
    search.dispatchEvent(new Event('input'));
    expect(messages(table)).toEqual(['odd 1', 'odd 3', 'odd 5']);
    expect(table.node.querySelector('.jp-taskscope-Table-summary')!.textContent).toContain(
      'showing 3 of 5 rows here (90 in all)'
    );
    search.value = 'work-4'; // the task column counts too
    search.dispatchEvent(new Event('input'));
    expect(messages(table)).toEqual(['even 4']);
    search.value = 'nothing like it';
    search.dispatchEvent(new Event('input'));
    expect(bodyRows(table)[0].textContent).toBe('no row matches the filter');
  });

  it('keeps its sort and filter across a re-render and a detach/reattach', async () => {
    const rows = [bundleRow(1, 'b x'), bundleRow(2, 'c x'), bundleRow(3, 'a')];
    const table = await render(bundle(rows));
    header(table, 'message').click();
    const search = table.node.querySelector('input')!;
    search.value = 'x';
    search.dispatchEvent(new Event('input'));
    Widget.detach(table);
    Widget.attach(table, document.body);
    expect(messages(table)).toEqual(['b x', 'c x']);
    await table.renderModel(model(bundle([...rows, bundleRow(4, 'a x')])));
    expect(messages(table)).toEqual(['a x', 'b x', 'c x']);
  });

  it('shows a row in full below it on click', async () => {
    const long = `${'y'.repeat(400)} end`;
    const table = await render(bundle([bundleRow(1, long)]));
    expect(bodyRows(table)[0].cells[at(table, 'msg')].textContent!.length).toBe(300);
    bodyRows(table)[0].cells[at(table, 'msg')].click();
    const detail = table.node.querySelector('.jp-taskscope-Table-detail pre')!;
    expect(detail.textContent).toContain(`WARNING:app:${long}`);
    // the facts the table's columns do not show, under their declared titles
    expect(detail.textContent).toContain('Host host-a  Pid 4242  Thread MainThread');
    expect(detail.textContent).toContain('"n": 1');
    bodyRows(table)[0].cells[0].click();
    expect(table.node.querySelector('.jp-taskscope-Table-detail')).toBeNull();
  });

  it('sets every payload as text: no element, no script, whole text on a click', async () => {
    const rows = PAYLOADS.map((payload, i) => {
      const r = bundleRow(i + 1, payload);
      r[COLUMNS.indexOf('logger')] = payload;
      r[COLUMNS.indexOf('task')] = payload;
      return r;
    });
    const table = await render({ ...(bundle(rows) as object), session_id: '<b>s</b>', filter: { text: '<img src=x>' } });
    expect(table.node.querySelectorAll('script, img, svg, iframe, a, b')).toHaveLength(0);
    expect((window as any).__taskscope_pwned).toBeUndefined();
    expect(table.node.textContent).toContain('<script>window.__taskscope_pwned = "script"</script>');
    expect(table.node.textContent).toContain('right-to-left <U+202E>evil.exe<U+202C>');
    bodyRows(table).forEach(tr => tr.cells[0].click());
    expect(table.node.querySelectorAll('script, img, svg, iframe, a, b')).toHaveLength(0);
    expect(table.node.textContent).toContain('x'.repeat(20000));
  });

  it('says what is wrong with a bundle it cannot read', async () => {
    expect(parseBundle(null)).toMatch(/not an object/);
    expect(parseBundle({ version: 2 })).toMatch(/version 2/);
    expect(parseBundle({ version: 1, columns: [], rows: 'x' })).toMatch(/no columns or rows/);
    const table = await render({ version: 9 });
    expect(table.node.textContent).toContain('unsupported taskscope table version 9');
    const empty = await render(bundle([], 0));
    expect(empty.node.textContent).toContain('no rows');
    expect(summaryText(parseBundle(bundle([], 0)) as any, 0)).toContain('0 rows');
  });
});
