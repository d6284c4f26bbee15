/**
 * Live control in a real JupyterLab: the toolbar toggle, the status bar item, commands,
 * a kernel restart, a page reload, two pages on one kernel and a busy kernel.
 */
import * as fs from 'fs';
import * as path from 'path';

import { expect, galata, IJupyterLabPageFixture, test } from '@jupyterlab/galata';
import type { Locator, Page, TestInfo } from '@playwright/test';

import { createNotebook, kernelIdle } from './panel-helpers';

const ITEM = '.jp-NotebookPanel-toolbar .jp-taskscope-ToolbarItem';
const STATUS_ITEM = '.jp-taskscope-StatusItem';
const SHOTS = path.resolve(__dirname, '..', '..', 'test-results', 'screenshots');

// One statement a line and no indented blocks: the cell editor auto-indents typed text.
const LOG_CELL = [
  'import taskscope as ts',
  "log = ts.logger.getLogger('ui')",
  "_ = [log.warning('w %d', i) for i in range(25)]",
  "log.error('one error')",
  "print('printed line')"
].join('\n');

function currentKernelId(page: Page): Promise<string> {
  return page.evaluate(
    () => (window as any).jupyterapp.shell.currentWidget.sessionContext.session.kernel.id
  );
}

/** Run code in the current notebook's kernel, outside any cell; what it printed. */
function runInKernel(page: Page, code: string): Promise<string> {
  return page.evaluate(async source => {
    const widget = (window as any).jupyterapp.shell.currentWidget;
    const future = widget.sessionContext.session.kernel.requestExecute({
      code: source,
      silent: false,
      store_history: false
    });
    let text = '';
    future.onIOPub = (msg: any) => {
      if (msg.header.msg_type === 'stream') {
        text += msg.content.text;
      }
    };
    await future.done;
    return text;
  }, code);
}

function currentId(page: Page): Promise<string> {
  return page.evaluate(() => (window as any).jupyterapp.shell.currentWidget.id as string);
}

/** The toolbar item of the notebook panel with this id. */
function itemOf(page: Page, id: string): Locator {
  return page.locator(`[id="${id}"] .jp-taskscope-ToolbarItem`);
}

/** How many taskscope comms the current notebook's kernel has open. */
async function taskscopeComms(page: Page): Promise<number> {
  return Number(
    await runInKernel(
      page,
      "print(sum(1 for c in get_ipython().kernel.comm_manager.comms.values() if c.target_name == 'taskscope'))"
    )
  );
}

/**
 * Close a notebook panel. `contextFirst`: dispose its document context (session context,
 * kernel connection) before the panel, as JupyterLab's document manager does when its slot
 * on the panel's `disposed` runs before taskscope's.
 */
async function closePanel(page: Page, id: string, contextFirst = false): Promise<void> {
  await page.evaluate(
    ([panelId, first]) => {
      const app = (window as any).jupyterapp;
      const panel = Array.from(app.shell.widgets('main') as Iterable<any>).find(
        (w: any) => w.id === panelId
      ) as any;
      if (first) {
        panel.context.dispose();
      }
      panel.dispose();
    },
    [id, contextFirst] as const
  );
}

async function newNotebook(page: IJupyterLabPageFixture, name: string): Promise<Locator> {
  await createNotebook(page, name);
  const item = page.locator(ITEM);
  await expect(item).toHaveAttribute('data-state', 'stopped', { timeout: 60000 });
  return item;
}

async function shoot(testInfo: TestInfo, name: string, target: Locator): Promise<void> {
  fs.mkdirSync(SHOTS, { recursive: true });
  const file = path.join(SHOTS, name);
  await target.screenshot({ path: file });
  await testInfo.attach(name, { path: file, contentType: 'image/png' });
}

test.describe('live control', () => {
  test('toggle, counts rising, toggle off; status bar and commands agree', async ({
    page
  }, testInfo) => {
    const item = await newNotebook(page, 'live-toggle.ipynb');
    const status = page.locator(STATUS_ITEM);
    await expect(status).toHaveAttribute('data-state', 'stopped');

    await item.click();
    await expect(item).toHaveAttribute('data-state', 'recording');
    await expect(status).toHaveAttribute('data-state', 'recording');

    await page.notebook.setCell(0, 'code', LOG_CELL);
    await page.notebook.runCell(0);
    // the cell's output is what Python shows without capture: the warnings (through
    // logging's last resort) and the print
    const output = page.locator('.jp-OutputArea').first();
    await expect(output).toContainText('printed line');
    await expect(output).toContainText('w 24');
    // 25 warnings and 1 error, plus the print and the started row
    const label = item.locator('.jp-taskscope-label');
    await expect(label).toHaveText(/^Recording · \d+ · ⚠ 25 · ✖ 1$/);
    await expect(status.locator('.jp-taskscope-label')).toHaveText(/⚠ 25 · ✖ 1$/);
    expect(await item.getAttribute('title')).toMatch(/sources: .*user 26/);

    for (const theme of ['light', 'dark'] as const) {
      if (theme === 'dark') {
        await page.theme.setDarkTheme();
      }
      await shoot(testInfo, `live-toolbar-${theme}.png`, page.locator('.jp-NotebookPanel-toolbar'));
      await shoot(testInfo, `live-statusbar-${theme}.png`, page.locator('#jp-main-statusbar'));
    }
    await page.theme.setLightTheme();

    await item.click();
    await expect(item).toHaveAttribute('data-state', 'stopped');
    await expect(label).toHaveText(/^Logs off · \d+/);

    // the palette commands act on the same kernel
    await page.evaluate(() => (window as any).jupyterapp.commands.execute('taskscope:start'));
    await expect(item).toHaveAttribute('data-state', 'recording');
    // ...and the keyboard shortcut toggles (command mode in the notebook)
    await page.locator('.jp-Notebook').first().click();
    await page.keyboard.press('Escape');
    await page.keyboard.press('Control+Alt+L');
    await expect(item).toHaveAttribute('data-state', 'stopped');
    await page.evaluate(() => (window as any).jupyterapp.commands.execute('taskscope:clear'));
    await expect(label).toHaveText('Logs off');
  });

  test('a page reload while recording shows the kernel really recording', async ({ page }) => {
    const item = await newNotebook(page, 'live-reload.ipynb');
    await item.click();
    await expect(item).toHaveAttribute('data-state', 'recording');
    await page.evaluate(() => (window as any).jupyterapp.commands.execute('docmanager:save'));
    // a plain browser reload (galata's own reload waits for a fresh layout)
    await page.evaluate(() => window.location.reload());
    await page.waitForSelector(ITEM, { timeout: 60000 });
    await kernelIdle(page);
    await expect(page.locator(ITEM)).toHaveAttribute('data-state', 'recording', {
      timeout: 60000
    });
    // and in the kernel: stop from code, the item follows without a click (galata's cell
    // helpers lose track of the app after a plain reload, so run it through the kernel)
    await runInKernel(page, 'import taskscope as ts; ts.stop()');
    await expect(page.locator(ITEM)).toHaveAttribute('data-state', 'stopped');
  });

  test('two pages on one kernel show the same state; a toggle in one updates the other', async ({
    page,
    context,
    tmpPath
  }) => {
    const item = await newNotebook(page, 'live-two.ipynb');
    await page.evaluate(() => (window as any).jupyterapp.commands.execute('docmanager:save'));
    // the notebook was made as Untitled and renamed: until the server's session has the
    // new path, the second page would start a kernel of its own for the file
    await expect
      .poll(
        () =>
          page.evaluate(async () => {
            const sessions = await (await fetch('/api/sessions')).json();
            return sessions.some((s: any) => String(s.path).endsWith('live-two.ipynb'));
          }),
        { timeout: 30000 }
      )
      .toBe(true);
    const second = await context.newPage();
    // another workspace, so the two pages do not fight over one layout
    const origin = new URL(page.url()).origin;
    await second.goto(`${origin}/lab/workspaces/second/tree/${tmpPath}/live-two.ipynb`);
    const other = second.locator(ITEM);
    await expect(other).toHaveAttribute('data-state', 'stopped', { timeout: 90000 });
    const kernels = await Promise.all(
      [page, second].map(p =>
        p.evaluate(
          () => (window as any).jupyterapp.shell.currentWidget.sessionContext.session.kernel.id
        )
      )
    );
    expect(kernels[0]).toBe(kernels[1]);

    await item.click();
    await expect(item).toHaveAttribute('data-state', 'recording');
    await expect(other).toHaveAttribute('data-state', 'recording');
    await other.click();
    await expect(other).toHaveAttribute('data-state', 'stopped');
    await expect(item).toHaveAttribute('data-state', 'stopped');
    await second.close();
  });
});

test.describe('live control across kernels and panels', () => {
  test('a kernel change reconnects: Python without taskscope, not Python, Python again', async ({
    page
  }) => {
    const item = await newNotebook(page, 'live-change.ipynb');
    const change = async (kernel: string) => {
      await page.evaluate(
        name => (window as any).jupyterapp.shell.currentWidget.sessionContext.changeKernel({ name }),
        kernel
      );
      await kernelIdle(page);
    };
    await change('taskscope-absent');
    await expect(item).toHaveAttribute('data-state', 'missing', { timeout: 60000 });
    await expect(item).toHaveAttribute('aria-disabled', 'true');
    await change('not-python');
    await expect(item).toHaveAttribute('data-state', 'unsupported', { timeout: 60000 });
    await expect(item).toHaveAttribute('title', /Python kernels only/);
    await item.click({ force: true }); // aria-disabled: Playwright would wait; the item ignores it
    await expect(item).toHaveAttribute('data-state', 'unsupported');
    await change('python3');
    await expect(item).toHaveAttribute('data-state', 'stopped', { timeout: 60000 });
    await item.click();
    await expect(item).toHaveAttribute('data-state', 'recording');
  });

  test('two notebooks on one kernel share one kernel session and one comm', async ({
    page,
    tmpPath
  }) => {
    await newNotebook(page, 'live-share-a.ipynb');
    const kernelId = await currentKernelId(page);
    const first = await currentId(page);
    // (made under its own name: galata's createNew renames an Untitled notebook, whose
    // session may keep the old path and hand the next notebook a kernel it did not ask for)
    const second = await createNotebook(page, 'live-share-b.ipynb');
    expect(second).not.toBe(first);
    // on a kernel of its own first...
    expect(await currentKernelId(page)).not.toBe(kernelId);
    // ...then the second notebook joins the first one's kernel ("Use Kernel from Other Session")
    await page.evaluate(
      id => (window as any).jupyterapp.shell.currentWidget.sessionContext.changeKernel({ id }),
      kernelId
    );
    await kernelIdle(page);
    expect(await currentKernelId(page)).toBe(kernelId);
    await expect(itemOf(page, second)).toHaveAttribute('data-state', 'stopped', {
      timeout: 60000
    });

    // one KernelSession for both notebooks, and no other (the second's first kernel's went)
    const sessions = () =>
      page.evaluate(
        async ([a, b]) => {
          const tracker = await (window as any).galata.getPlugin('jupyterlab-taskscope:plugin');
          const app = (window as any).jupyterapp;
          const panel = (id: string) =>
            Array.from(app.shell.widgets('main') as Iterable<any>).find((w: any) => w.id === id);
          const of = (id: string) => (panel(id) ? tracker.sessionFor(panel(id)) : null);
          return {
            shared: of(a) === of(b),
            kernels: tracker.registry.sessions.map((s: any) => s.kernelId)
          };
        },
        [first, second]
      );
    expect(await sessions()).toEqual({ shared: true, kernels: [kernelId] });
    // ...and one taskscope comm in the kernel
    const comms = () => taskscopeComms(page);
    expect(await comms()).toBe(1);

    // a toggle in one notebook shows in the other's item
    await itemOf(page, second).click();
    await expect(itemOf(page, second)).toHaveAttribute('data-state', 'recording');
    await expect(itemOf(page, first)).toHaveAttribute('data-state', 'recording');

    // JupyterLab lets the first notebook's connection handle the kernel's comms: closed,
    // the second one cannot carry the comm and says why...
    await closePanel(page, first);
    await expect(itemOf(page, first)).toHaveCount(0);
    await expect(itemOf(page, second)).toHaveAttribute('data-state', 'no-comms');
    await expect(itemOf(page, second)).toHaveAttribute('title', /reopen this notebook/);
    await expect.poll(comms, { timeout: 30000 }).toBe(0);
    // ...until a notebook on the kernel can: the first one, opened again
    expect(await page.notebook.openByPath(`${tmpPath}/live-share-a.ipynb`)).toBe(true);
    await kernelIdle(page);
    expect(await currentKernelId(page)).toBe(kernelId);
    const reopened = await currentId(page);
    await expect(itemOf(page, reopened)).toHaveAttribute('data-state', 'recording', {
      timeout: 60000
    });
    await expect(itemOf(page, second)).toHaveAttribute('data-state', 'recording');
    await expect.poll(comms, { timeout: 30000 }).toBe(1);
    await itemOf(page, reopened).click();
    await expect(itemOf(page, second)).toHaveAttribute('data-state', 'stopped');
  });

  test('a closed notebook closes its comm even when its kernel connection goes first', async ({
    page
  }) => {
    // The document manager disposes a closed notebook's context (and kernel connection)
    // from its own slot on the panel's `disposed`; whether taskscope's slot runs before it
    // varies (a toolbar item made late, as on a slow first page, puts it after): here the
    // context goes first every time, as it did when this flaked in CI.
    await newNotebook(page, 'live-order-a.ipynb');
    const kernelId = await currentKernelId(page);
    const first = await currentId(page);
    const second = await createNotebook(page, 'live-order-b.ipynb', { id: kernelId });
    await expect(itemOf(page, second)).toHaveAttribute('data-state', 'stopped', {
      timeout: 60000
    });
    expect(await taskscopeComms(page)).toBe(1);
    await closePanel(page, first, true);
    await expect(itemOf(page, second)).toHaveAttribute('data-state', 'no-comms');
    await expect.poll(() => taskscopeComms(page), { timeout: 30000 }).toBe(0);
  });

  test('closing the notebook leaves the kernel recording and no comm behind', async ({
    page,
    tmpPath
  }) => {
    const item = await newNotebook(page, 'live-close.ipynb');
    await item.click();
    await expect(item).toHaveAttribute('data-state', 'recording');
    const kernelId = await currentKernelId(page);
    await page.evaluate(() => (window as any).jupyterapp.commands.execute('docmanager:save'));
    // close the panel; its kernel session stays (it is shut down only when asked)
    await page.evaluate(() => (window as any).jupyterapp.shell.currentWidget.dispose());
    await expect(page.locator(ITEM)).toHaveCount(0);

    expect(await page.notebook.openByPath(`${tmpPath}/live-close.ipynb`)).toBe(true);
    await kernelIdle(page);
    expect(await currentKernelId(page)).toBe(kernelId);
    await expect(page.locator(ITEM)).toHaveAttribute('data-state', 'recording', {
      timeout: 60000
    });
    // the closed panel's comm is gone from the kernel: only the reopened one is left
    expect(
      await runInKernel(page, 'import taskscope.frontend.bridge as b; print(len(b._pusher.comms))')
    ).toBe('1\n');
  });
});

test.describe('live control with kernel restarts and interrupts', () => {
  // galata's kernel tracking answers every POST under /api/kernels/ itself (201, or a
  // JSON parse of an empty 204), which breaks restart and interrupt: use the real API.
  test.use({ kernels: null });

  test('the toggle works while a long cell runs, and counts grow during it', async ({ page }) => {
    const item = await newNotebook(page, 'live-busy.ipynb');
    await page.notebook.setCell(
      0,
      'code',
      [
        'import time, taskscope as ts',
        "log = ts.logger.getLogger('busy')",
        "for i in range(600): log.warning('tick %d', i); time.sleep(0.1)"
      ].join('\n')
    );
    // start the cell without waiting for it
    await page.locator('.jp-Notebook .jp-Cell').first().click();
    await page.keyboard.press('Control+Enter');
    await page.waitForFunction(() => {
      const widget = (window as any).jupyterapp.shell.currentWidget;
      return widget.sessionContext.session.kernel.status === 'busy';
    });
    await item.click();
    // answered on a subshell while the main shell runs the cell
    await expect(item).toHaveAttribute('data-state', 'recording', { timeout: 5000 });
    const label = item.locator('.jp-taskscope-label');
    await expect(label).toHaveText(/⚠ [1-9]/);
    const first = Number((await label.textContent())!.match(/⚠ (\d+)/)![1]);
    await expect
      .poll(async () => Number((await label.textContent())!.match(/⚠ (\d+)/)?.[1] ?? 0), {
        timeout: 10000
      })
      .toBeGreaterThan(first);
    // ...all while the cell still runs (its prompt says [*]; the kernel's status is no
    // guide: the subshell that answered us reports idle too)
    const prompt = page.locator('.jp-Cell .jp-InputPrompt').first();
    await expect(prompt).toContainText('*');
    // the cell would run for a minute: interrupt it
    await page.evaluate(() =>
      (window as any).jupyterapp.shell.currentWidget.sessionContext.session.kernel.interrupt()
    );
    await expect(prompt).toContainText(/\[\d+\]/);
    await kernelIdle(page);
  });

  test('a kernel restart brings the comm back, stopped, with the old rows kept', async ({
    page
  }) => {
    const item = await newNotebook(page, 'live-restart.ipynb');
    await item.click();
    await expect(item).toHaveAttribute('data-state', 'recording');
    await page.notebook.setCell(0, 'code', LOG_CELL);
    await page.notebook.runCell(0);
    await expect(item.locator('.jp-taskscope-label')).toHaveText(/⚠ 25/);

    await page.menu.clickMenuItem('Kernel>Restart Kernel…');
    await page.locator('.jp-Dialog .jp-mod-accept').click();
    await kernelIdle(page);
    await expect(item).toHaveAttribute('data-state', 'stopped', { timeout: 60000 });
    await expect(item.locator('.jp-taskscope-label')).toHaveText('Logs off');

    // the previous kernel session's rows are still readable from the new kernel
    await page.notebook.setCell(
      0,
      'code',
      [
        'import taskscope as ts',
        's = ts.sessions()',
        'old = s[~s.current].iloc[0]',
        "print('previous:', ts.logger.dataset.open(old).count(logger='ui'))"
      ].join('\n')
    );
    await page.notebook.runCell(0);
    await expect(page.locator('.jp-OutputArea').first()).toContainText('previous: 26');
  });

  test('settings apply without a reload: autoStart after a restart, print capture off', async ({
    page
  }) => {
    const item = await newNotebook(page, 'live-settings.ipynb');
    const set = (key: string, value: unknown) =>
      page.evaluate(
        async ([k, v]) => {
          const registry = await (window as any).galata.getPlugin(
            '@jupyterlab/apputils-extension:settings'
          );
          await registry.set('jupyterlab-taskscope:plugin', k, v);
        },
        [key, value] as const
      );
    await set('autoStart', true);
    await set('capturePrint', false);
    await page.menu.clickMenuItem('Kernel>Restart Kernel…');
    await page.locator('.jp-Dialog .jp-mod-accept').click();
    await kernelIdle(page);
    // recording again by itself, with the options the settings give
    await expect(item).toHaveAttribute('data-state', 'recording', { timeout: 60000 });
    // (the warning also reaches stderr through logging's last resort, as without capture)
    const printed = await runInKernel(
        page,
        [
          'import logging, taskscope as ts',
          "print('not captured')",
          "logging.getLogger('settings').warning('captured')",
          'ts.runtime.flush()',
          "print('rows:', sorted(ts.logger.dataset.get(source=['print', 'library']).msg))"
        ].join('\n')
      );
    expect(printed).toContain("rows: ['captured']\n");
  });
});

// keep the galata import used (its fixtures come through `test`)
void galata;
