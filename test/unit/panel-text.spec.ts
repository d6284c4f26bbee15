/**
 * What log text becomes on its way out: cell text, CSV and Python literals. The CSV and
 * the Python code are read back by the project's real Python (csv module, ast), so the
 * checks are what a spreadsheet importer and the interpreter actually see.
 */
import { spawnSync } from 'child_process';

import { csvField, csvHeader, csvRows, CSV_COLUMNS } from '../../src/csv';
import { datasetCall, pyString, pyValue } from '../../src/pycode';
import { EMPTY_ROW } from '../../src/generated/record';
import { IRow } from '../../src/protocol';
import { cellText, CELL_CHARS, levelClass, visible, whereText } from '../../src/text';
import { VENV_PYTHON } from '../paths';
import { PAYLOADS } from './payloads';

/** Run Python with stdin; its stdout (throws with stderr on failure). */
function python(code: string, input: string): string {
  const done = spawnSync(VENV_PYTHON, ['-c', code], { input, encoding: 'utf8' });
  if (done.status !== 0) {
    throw new Error(done.stderr);
  }
  return done.stdout;
}

function row(seq: number, fields: Partial<IRow> = {}): IRow {
  return {
    ...EMPTY_ROW,
    seq,
    created: 1714559401.123,
    level: 'INFO',
    levelno: 20,
    source: 'user',
    logger: 'app',
    msg: `message ${seq}`,
    text: `INFO:app:message ${seq}`,
    hostname: 'host-a',
    pid: 4242,
    thread: 'MainThread',
    worker: '',
    task: '',
    extra: null,
    ...fields
  };
}

describe('cell text', () => {
  it('is one line, cut to CELL_CHARS, with controls spelled out', () => {
    expect(cellText('a\nb\r\nc')).toBe('a ⏎ b ⏎ c');
    expect(cellText('x'.repeat(100000)).length).toBe(CELL_CHARS);
    expect(cellText('x'.repeat(CELL_CHARS))).toBe('x'.repeat(CELL_CHARS));
    expect(cellText('x'.repeat(CELL_CHARS + 1)).endsWith('…')).toBe(true);
    expect(cellText('a\u202eb\u0000')).toBe('a<U+202E>b<U+0000>');
    expect(cellText(null)).toBe('');
    expect(visible('tab\tand\nline')).toBe('tab\tand\nline');
  });

  it('names levels and where a row ran', () => {
    expect([5, 10, 20, 30, 40, 50, 999].map(levelClass)).toEqual([
      'debug',
      'debug',
      'info',
      'warning',
      'error',
      'critical',
      'system'
    ]);
    expect(whereText({ worker: 'tcp://10.0.0.2:3456', hostname: 'h', pid: 1 })).toBe(
      'tcp://10.0.0.2:3456'
    );
    expect(whereText({ worker: '', hostname: 'h', pid: 1 })).toBe('h:1');
  });
});

describe('CSV export', () => {
  it('quotes what must be quoted and defuses formulas', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField('=1+1')).toBe("'=1+1");
    expect(csvField('-1')).toBe("'-1");
    expect(csvField(-1)).toBe('-1');
    expect(csvField(null)).toBe('');
    expect(csvField({ a: [1, 'x,y'] })).toBe('"{""a"":[1,""x,y""]}"');
  });

  it('reads back in Python row for row, every payload as text', () => {
    const rows = PAYLOADS.map((text, i) =>
      row(i + 1, { msg: text, text, logger: text.slice(0, 50), extra: { payload: text } })
    );
    const csv = csvHeader() + csvRows(rows);
    const parsed: string[][] = JSON.parse(
      python(
        'import csv, io, json, sys\n' +
          'data = sys.stdin.buffer.read().decode("utf-8")\n' +
          'print(json.dumps(list(csv.reader(io.StringIO(data, newline="")))))',
        csv
      )
    );
    expect(parsed[0]).toEqual([...CSV_COLUMNS]);
    expect(parsed.length).toBe(rows.length + 1);
    const msg = CSV_COLUMNS.indexOf('msg');
    const extra = CSV_COLUMNS.indexOf('extra');
    parsed.slice(1).forEach((fields, i) => {
      expect(fields.length).toBe(CSV_COLUMNS.length);
      const text = PAYLOADS[i];
      // a cell a spreadsheet would run as a formula starts with an apostrophe
      expect(fields[msg]).toBe(/^[=+\-@\t\r]/.test(text) ? `'${text}` : text);
      expect(JSON.parse(fields[extra])).toEqual({ payload: text });
      expect(fields[CSV_COLUMNS.indexOf('created')]).toBe('2024-05-01T10:30:01.123Z');
    });
  });
});

describe('Python code for a filter', () => {
  it('writes every payload as a literal Python reads back exactly', () => {
    const literals = PAYLOADS.map(pyString);
    const back: string[] = JSON.parse(
      python(
        'import ast, json, sys\n' +
          'lines = sys.stdin.read().split("\\n")\n' +
          'print(json.dumps([ast.literal_eval(line) for line in lines]))',
        literals.join('\n')
      )
    );
    expect(back).toEqual([...PAYLOADS]);
    for (const literal of literals) {
      // one line, nothing invisible or direction-changing left in it
      expect(literal).not.toMatch(/[\n\r\u2028\u2029\u202e\u200f\u0000\ufeff]/);
    }
  });

  it('keeps a lone surrogate as an escape', () => {
    expect(pyString('a\ud800b')).toBe("'a\\ud800b'");
    expect(pyValue([1, 'x', null, true])).toBe("[1, 'x', None, True]");
  });

  it('makes a dataset.get call that runs', () => {
    const code = datasetCall({ level: 'WARNING', logger: "app.'*", worker: '', since: 1714559401.5 });
    expect(code).toBe(
      "import taskscope\n\ntaskscope.logger.dataset.get(level='WARNING', logger='app.\\'*', worker='', since=1714559401.5)"
    );
    const out = python(
      'import ast, sys\n' +
        'tree = ast.parse(sys.stdin.read())\n' +
        'call = tree.body[-1].value\n' +
        'print(sorted((k.arg, ast.literal_eval(k.value)) for k in call.keywords))',
      code
    );
    expect(out.trim()).toBe(
      "[('level', 'WARNING'), ('logger', \"app.'*\"), ('since', 1714559401.5), ('worker', '')]"
    );
  });
});
