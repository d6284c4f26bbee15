/**
 * The log panel's DOM parts (the grid draws on a canvas jsdom lacks; Galata covers it):
 * the detail view shows a row in full as text, the filter bar collects a filter and shows
 * the kernel's complaint on the field it names.
 */
import { Widget } from '@lumino/widgets';

import { RowDetail } from '../../src/panel/detail';
import { FilterBar } from '../../src/panel/filterbar';
import { FILTER_KEYS, IFilter } from '../../src/panel/filter';
import { EMPTY_ROW } from '../../src/generated/record';
import { IRow } from '../../src/protocol';
import { PAYLOADS } from './payloads';

const HOSTILE = 'script, img, svg, iframe, a, b, object, embed';

function row(fields: Partial<IRow> = {}): IRow {
  return {
    ...EMPTY_ROW,
    seq: 7,
    created: 1714559401.123,
    level: 'ERROR',
    levelno: 40,
    source: 'user',
    logger: 'app.db',
    msg: 'query failed',
    text: 'ERROR:app.db:query failed\nTraceback (most recent call last):\n  File "x.py", line 1\nZeroDivisionError: division by zero',
    hostname: 'host-a',
    pid: 4242,
    thread: 'MainThread',
    worker: 'tcp://10.0.0.5:40001',
    task: 'work-3',
    extra: { table: 'sales', rows: [1, 2] },
    ...fields
  };
}

describe('RowDetail', () => {
  it('shows the message, the traceback, extra and where it ran', () => {
    const detail = new RowDetail();
    expect(detail.node.textContent).toContain('Select a row');
    detail.setRow(row());
    const text = detail.node.textContent!;
    for (const part of [
      'ERROR',
      'query failed',
      'ZeroDivisionError: division by zero',
      '"table": "sales"',
      'tcp://10.0.0.5:40001',
      'work-3',
      'host-a',
      '4242',
      'MainThread'
    ]) {
      expect(text).toContain(part);
    }
    expect(detail.node.querySelector('[data-level="error"]')).not.toBeNull();
    // the traceback keeps its lines
    expect(detail.node.querySelector('pre')!.textContent).toContain('\n  File "x.py"');
    detail.setRow(null);
    expect(detail.node.textContent).toContain('Select a row');
  });

  it('sets every payload as text, whole', () => {
    const detail = new RowDetail();
    for (const payload of PAYLOADS) {
      detail.setRow(row({ msg: payload, text: `${payload}\ntail`, logger: payload, extra: { p: payload } }));
      expect(detail.node.querySelectorAll(HOSTILE)).toHaveLength(0);
      expect(detail.node.innerHTML).not.toContain('<script');
      const shown = detail.node.textContent!;
      // the full text, with invisible and direction controls spelled out
      const spelled = payload
        .replace(/\r\n/g, '\n')
        .replace(/[\u0000\u0007\u007f\u0085\u2028\u2029\u202e\u202c\u200f\u200e\r]/g, ch =>
          `<U+${ch.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}>`
        );
      expect(shown).toContain(spelled);
    }
  });

  it('says when it is closed', () => {
    const detail = new RowDetail();
    detail.setRow(row());
    let closed = 0;
    detail.closed.connect(() => closed++);
    detail.node.querySelector<HTMLButtonElement>('.jp-taskscope-Detail-close')!.click();
    expect(closed).toBe(1);
  });
});

describe('FilterBar', () => {
  let bar: FilterBar;
  let seen: IFilter[];

  beforeEach(() => {
    jest.useFakeTimers();
    bar = new FilterBar();
    Widget.attach(bar, document.body);
    seen = [];
    bar.filterChanged.connect((_, filter) => seen.push(filter));
  });

  afterEach(() => {
    bar.dispose();
    jest.useRealTimers();
  });

  const field = (key: string) =>
    bar.node.querySelector<HTMLInputElement | HTMLSelectElement>(`[data-filter="${key}"]`)!;

  it('has a field for every kernel filter, the text search first', () => {
    expect(FILTER_KEYS).toContain('hostname');
    for (const key of FILTER_KEYS) {
      expect(field(key)).not.toBeNull();
    }
    const fields = Array.from(bar.node.querySelectorAll<HTMLElement>('[data-filter]'));
    expect(fields.map(f => f.dataset.filter)).toEqual([
      'text',
      ...FILTER_KEYS.filter(key => key !== 'text')
    ]);
  });

  it('applies typing once it settles, Enter and choices at once', () => {
    const text = field('text') as HTMLInputElement;
    text.value = 'tim';
    text.dispatchEvent(new Event('input'));
    text.value = 'timeout';
    text.dispatchEvent(new Event('input'));
    expect(seen).toEqual([]);
    jest.advanceTimersByTime(400);
    expect(seen).toEqual([{ text: 'timeout' }]);

    const level = field('level') as HTMLSelectElement;
    level.value = 'WARNING';
    level.dispatchEvent(new Event('change'));
    expect(seen[1]).toEqual({ text: 'timeout', level: 'WARNING' });

    const logger = field('logger') as HTMLInputElement;
    logger.value = 'app.*';
    logger.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter' }));
    expect(seen[2]).toEqual({ text: 'timeout', level: 'WARNING', logger: 'app.*' });

    bar.node.querySelector<HTMLButtonElement>('.jp-taskscope-FilterBar-reset')!.click();
    expect(seen[3]).toEqual({});
  });

  it('shows the kernel complaint on the field it names, until the next filter', () => {
    bar.setFilter({ since: 'yesterday' });
    bar.setError("ValueError: since: cannot read 'yesterday' as a time");
    expect(field('since').classList).toContain('jp-mod-invalid');
    expect(field('since').getAttribute('aria-invalid')).toBe('true');
    expect(field('since').title).toContain('cannot read');
    expect(bar.node.querySelectorAll('.jp-mod-invalid')).toHaveLength(1);
    bar.setFilter({});
    expect(bar.node.querySelectorAll('.jp-mod-invalid')).toHaveLength(0);
  });

  it('offers the kernel and the attached workers, as values only', () => {
    bar.setWorkers(['tcp://10.0.0.5:1', '"><img src=x onerror=alert(1)>']);
    const options = Array.from(bar.node.querySelectorAll('datalist option')).map(
      o => (o as HTMLOptionElement).value
    );
    expect(options).toEqual(['(kernel)', 'tcp://10.0.0.5:1', '"><img src=x onerror=alert(1)>']);
    expect(bar.node.querySelectorAll('img')).toHaveLength(0);
  });
});
