/**
 * Log text is untrusted: a payload corpus logged by a real kernel goes through every path
 * (the panel's grid and detail view, the inline table, the HTML fallback, the CSV export,
 * the "to notebook" code) and must show as text and run nothing. Every payload that could
 * run sets window.__taskscope_pwned; the flag must stay unset and no dialog may open.
 */
import * as fs from 'fs';

import { expect, test } from '@jupyterlab/galata';

import { PAYLOADS } from '../../test/unit/payloads';
import {
  activateNotebook,
  clickRow,
  openNotebook,
  openPanel,
  PANEL,
  parseCsv,
  run,
  setPanelFilter,
  shoot,
  waitForPanel
} from './panel-helpers';

test.use({ viewport: { width: 1400, height: 900 } });

/** Elements log text must never become. */
const HOSTILE = 'script, img, iframe, object, embed, a[href^="javascript"], svg[onload], svg circle';

/** The corpus without the 20,000-character line, which Python builds itself. */
const SHORT = PAYLOADS.filter(p => p.length < 1000);

/** What the page shows for a text: controls and direction marks spelled out (src/text.ts). */
function spelled(text: string): string {
  return text.replace(
    /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g,
    ch => `<U+${ch.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}>`
  );
}

test('hostile log text shows as text on every path and runs nothing', async ({
  page
}, testInfo) => {
  const dialogs: string[] = [];
  page.on('dialog', dialog => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  const pwned = () => page.evaluate(() => (window as any).__taskscope_pwned);

  await openNotebook(page, 'security.ipynb');
  const encoded = Buffer.from(JSON.stringify(SHORT), 'utf8').toString('base64');
  await run(
    page,
    [
      'import base64, json, taskscope as ts',
      `payloads = json.loads(base64.b64decode("${encoded}").decode("utf-8")) + ["x" * 20000]`,
      'ts.start()',
      'log = ts.logger.getLogger("hostile")',
      'for p in payloads: log.warning(p, extra={"payload": p})',
      'try: raise ValueError(payloads[1])\nexcept ValueError: log.exception(payloads[0])',
      'ts.logger.getLogger(payloads[0]).error("a logger named like a script tag")',
      'ts.logger.dataset.count(logger="hostile")'
    ].join('\n')
  );

  // the panel's grid: the model hands the canvas each payload as (cut) text
  const panel = await openPanel(page);
  await setPanelFilter(page, 'logger', 'hostile');
  const count = PAYLOADS.length + 1;
  await waitForPanel(page, s => s.count === count);
  const messages = await page.evaluate(() => {
    const app = (window as any).jupyterapp;
    const view = Array.from(app.shell.widgets('main') as Iterable<any>).find((w: any) =>
      w.node.classList.contains('jp-taskscope-LogPanel')
    )!.content;
    const rows: string[] = [];
    for (let r = 0; r < view.model.count; r++) {
      rows.push(view.model.data('body', r, view.model.columnCount('body') - 1));
    }
    return rows;
  });
  for (const [i, payload] of PAYLOADS.entries()) {
    const line = spelled(payload.slice(0, 301).replace(/\r\n|\n|\r/g, ' ⏎ '));
    expect(messages[i]).toBe(line.length > 300 ? line.slice(0, 299) + '…' : line);
  }

  // the detail view, for every row (paused: the view stays where it is put)
  await panel.locator('.jp-taskscope-action-follow').click();
  await waitForPanel(page, s => !s.following);
  const detail = panel.locator('.jp-taskscope-Detail');
  for (let row = 0; row < count; row++) {
    await clickRow(page, row);
    if (row < PAYLOADS.length) {
      // the whole message, controls spelled out
      await expect(detail.locator('.jp-taskscope-Detail-message')).toHaveText(spelled(PAYLOADS[row]), {
        useInnerText: false
      });
    }
    await expect(detail.locator(HOSTILE)).toHaveCount(0);
  }
  await clickRow(page, count - 1); // log.exception(payloads[0]) of ValueError(payloads[1])
  await expect(detail).toContainText('<script>window.__taskscope_pwned = "script"</script>');
  await expect(detail).toContainText('ValueError: <img src=x onerror=');
  await shoot(testInfo, 'security-panel.png', file => panel.screenshot({ path: file }));

  // the CSV export: every payload back, formulas defused
  const downloading = page.waitForEvent('download');
  await panel.locator('.jp-taskscope-action-export').click();
  const csv = parseCsv(fs.readFileSync((await (await downloading).path())!, 'utf8'));
  expect(csv.length - 1).toBe(count);
  csv.slice(1, PAYLOADS.length + 1).forEach((fields, i) => {
    const payload = PAYLOADS[i];
    expect(fields[6]).toBe(/^[=+\-@\t\r]/.test(payload) ? `'${payload}` : payload);
  });

  // "to notebook" with a hostile text filter: valid Python that finds the same row
  await setPanelFilter(page, 'text', 'right-to-left \u202eevil.exe');
  await waitForPanel(page, s => s.count === 1);
  await page.evaluate(() => {
    const notebook = Array.from((window as any).jupyterapp.shell.widgets('main') as Iterable<any>).find((w: any) =>
      w.node.classList.contains('jp-NotebookPanel')
    ) as any;
    notebook.content.activeCellIndex = notebook.content.widgets.length - 1;
  });
  await panel.locator('.jp-taskscope-action-to-notebook').click();
  await activateNotebook(page);
  const last = (await page.notebook.getCellCount()) - 1;
  const code = (await page.notebook.getCellTextInput(last))!;
  expect(code).toContain("text='right-to-left \\u202eevil.exe'");
  expect(code).not.toContain('\u202e');
  expect(await page.notebook.runCell(last, true)).toBe(true);
  const found = await run(page, 'print(len(_), _.msg.iloc[0] == payloads[12])');
  expect(found.trim()).toBe('1 True');

  // the inline table
  await run(page, 'ts.logger.dataset.filter(logger="hostile")');
  const table = page.locator('.jp-taskscope-Table');
  await expect(table.locator('tbody tr')).toHaveCount(count);
  await expect(table.locator(HOSTILE)).toHaveCount(0);
  await expect(table).toContainText('<svg onload="window.__taskscope_pwned = \'svg\'">');
  await expect(table).toContainText('right-to-left <U+202E>evil.exe<U+202C>');
  await table.locator('tbody tr').last().click(); // the exception's row
  await expect(table.locator('.jp-taskscope-Table-detail')).toContainText(
    'ValueError: <img src=x onerror='
  );
  await expect(table.locator(HOSTILE)).toHaveCount(0);

  // the HTML fallback, as nbviewer or a notebook without the extension shows it
  await run(page, 'display(ts.logger.dataset.filter(logger="hostile"), include=["text/html"])');
  const html = page.locator('.jp-RenderedHTMLCommon .taskscope-table');
  await expect(html).toHaveCount(1);
  await expect(html.locator(HOSTILE)).toHaveCount(0);
  await expect(html).toContainText('<script>window.__taskscope_pwned = "script"</script>');
  await expect(html).toContainText('<img src=x onerror=');
  await expect(html).toContainText('<U+202E>evil.exe');
  await shoot(testInfo, 'security-inline.png', file =>
    page.locator('.jp-NotebookPanel').screenshot({ path: file })
  );

  // nothing ran, anywhere
  await page.waitForTimeout(500);
  expect(await pwned()).toBeUndefined();
  expect(dialogs).toEqual([]);
  await expect(page.locator(`${PANEL} .jp-taskscope-LogView`).locator(HOSTILE)).toHaveCount(0);
});
