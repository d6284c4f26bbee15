/**
 * taskscope in a real JupyterLab, a real browser and real kernels.
 */

import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';
import type { Locator } from '@playwright/test';

import { shoot } from './panel-helpers';

const PLUGIN_ID = 'jupyterlab-taskscope:plugin';
const ITEM = '.jp-NotebookPanel-toolbar .jp-taskscope-ToolbarItem';

/**
 * Create a notebook on the named kernelspec, wait until its kernel is connected and idle,
 * and return the notebook's taskscope toolbar item once it is on screen.
 */
async function openNotebookOn(
  page: IJupyterLabPageFixture,
  name: string,
  kernel: string
): Promise<Locator> {
  expect(await page.notebook.createNew(name, { kernel })).toBe(name);
  await page.waitForFunction(
    () => {
      const app = (window as any).jupyterapp;
      const widget = app?.shell?.currentWidget;
      const k = widget?.sessionContext?.session?.kernel;
      return !!k && k.connectionStatus === 'connected' && k.status === 'idle';
    },
    undefined,
    { timeout: 90000 }
  );
  const item = page.locator(ITEM);
  await expect(item).toHaveCount(1);
  await expect(item).toBeVisible();
  return item;
}

test.describe('taskscope front end', () => {
  test('the extension is loaded and its plugin activated', async ({ page }) => {
    const info = await page.evaluate(async id => {
      const app = (window as any).jupyterapp;
      const config = JSON.parse(
        document.getElementById('jupyter-config-data')!.textContent!
      );
      // Plugins start asynchronously after the shell is shown; wait for ours.
      await app.started;
      await app.restored;
      return {
        federated: (config.federated_extensions as { name: string }[]).map(
          e => e.name
        ),
        registered: app.hasPlugin(id) as boolean,
        activated: app.isPluginActivated(id) as boolean,
        plugins: (app.listPlugins() as string[]).filter(p =>
          p.startsWith('jupyterlab-taskscope:')
        )
      };
    }, PLUGIN_ID);

    expect(info.federated).toContain('jupyterlab-taskscope');
    expect(info.registered).toBe(true);
    expect(info.plugins).toContain(PLUGIN_ID);
    expect(info.activated).toBe(true);
  });

  test('the toolbar item shows "stopped" once the kernel has answered', async ({
    page
  }, testInfo) => {
    const item = await openNotebookOn(page, 'with-taskscope.ipynb', 'python3');
    // connecting -> silent execute imports taskscope.bridge -> comm opens -> hello
    await expect(item).toHaveAttribute('data-state', 'stopped', {
      timeout: 60000
    });
    await expect(item).toHaveAttribute('title', 'taskscope: not recording');
    await expect(item.locator('.jp-taskscope-label')).toHaveText('Logs off');

    // It sits on the toolbar's line, like the other items.
    const toolbar = page.locator('.jp-NotebookPanel-toolbar');
    const [bar, box] = [await toolbar.boundingBox(), await item.boundingBox()];
    expect(bar && box).toBeTruthy();
    expect(box!.y).toBeGreaterThanOrEqual(bar!.y - 1);
    expect(box!.y + box!.height).toBeLessThanOrEqual(bar!.y + bar!.height + 1);
    expect(box!.width).toBeGreaterThan(0);
    // ...vertically centred with its neighbour, the kernel name.
    const kernelName = page.locator(
      '.jp-NotebookPanel-toolbar [data-jp-item-name="kernelName"]'
    );
    const kbox = await kernelName.boundingBox();
    expect(kbox).toBeTruthy();
    expect(
      Math.abs(box!.y + box!.height / 2 - (kbox!.y + kbox!.height / 2))
    ).toBeLessThanOrEqual(2);

    await shoot(testInfo, 'notebook-toolbar.png', file =>
      toolbar.screenshot({ path: file })
    );
    // A close-up: kernel name, the item and the kernel status, for checking alignment.
    await shoot(testInfo, 'notebook-toolbar-item.png', file =>
      page.screenshot({
        path: file,
        clip: {
          x: kbox!.x - 8,
          y: bar!.y,
          width: bar!.x + bar!.width - (kbox!.x - 8),
          height: bar!.height
        }
      })
    );
    await shoot(testInfo, 'notebook-full-page.png', file =>
      page.screenshot({ path: file })
    );
  });

  test('a kernel without taskscope shows "missing" and how to install it', async ({
    page
  }, testInfo) => {
    const item = await openNotebookOn(
      page,
      'without-taskscope.ipynb',
      'taskscope-absent'
    );
    await expect(item).toHaveAttribute('data-state', 'missing', {
      timeout: 60000
    });
    await expect(item).toHaveAttribute('title', /pip install taskscope/);

    // The kernel really is a working Python kernel, only without taskscope.
    await page.notebook.setCell(
      0,
      'code',
      'import importlib.util; print(importlib.util.find_spec("json") is not None)\n' +
        'try:\n    import taskscope\nexcept ImportError as e:\n    print("absent:", e.name)'
    );
    await page.notebook.runCell(0);
    const out = (await page.notebook.getCellTextOutput(0)) ?? [];
    expect(out.join('')).toContain('True');
    expect(out.join('')).toContain('absent: taskscope');

    await shoot(testInfo, 'notebook-toolbar-missing.png', file =>
      page.locator('.jp-NotebookPanel-toolbar').screenshot({ path: file })
    );
  });
});
