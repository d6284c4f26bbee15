/**
 * The log panel on a kernel session (test/unit/fakekernel.ts for the kernel): the data
 * model tails on rowsAppended and indexes again on reset (a clear, a restart whose seqs
 * start at 1 again), waits for the comm before asking, and moves with its notebook to
 * another kernel's session; the view keeps following and the "N of M rows" line.
 */
import './canvas-stub';

import { Widget } from '@lumino/widgets';

import { GRID_COLUMNS, LogDataModel } from '../../src/panel/model';
import { LogView } from '../../src/panel/widget';
import { KernelSessionRegistry } from '../../src/registry';
import { KernelSession } from '../../src/session';
import { FakeKernel, FakeNotebook, settle } from './fakekernel';

const MESSAGE = GRID_COLUMNS.findIndex(c => c.name === 'msg');

async function messageAt(model: LogDataModel, row: number): Promise<string> {
  model.data('body', row, MESSAGE);
  await settle();
  return model.data('body', row, MESSAGE);
}

describe('the log panel on a kernel session', () => {
  let registry: KernelSessionRegistry;
  let kernel: FakeKernel;
  let notebook: FakeNotebook;
  let session: KernelSession;

  beforeEach(async () => {
    registry = new KernelSessionRegistry();
    kernel = new FakeKernel('k1');
    notebook = new FakeNotebook(kernel.connect());
    registry.add(notebook, notebook);
    session = registry.sessionOf(notebook)!;
    await settle();
    await session.start();
  });

  afterEach(() => {
    registry.dispose();
  });

  it('tails new rows, and indexes again after a clear and after a restart', async () => {
    kernel.log(120);
    await settle();
    const model = new LogDataModel({ source: session, blockSize: 50 });
    await model.setFilter({});
    expect(model.count).toBe(120);

    kernel.log(30);
    await settle();
    expect(model.count).toBe(150);
    expect(await messageAt(model, 149)).toBe('message 150');

    await session.clear();
    await settle();
    expect(model.count).toBe(0);
    kernel.log(5);
    await settle();
    expect(model.count).toBe(5);
    expect(await messageAt(model, 0)).toBe('message 151');

    // a new process: seqs from 1 again, below what the model saw before
    await kernel.restart(notebook.connection!);
    await settle();
    expect(model.count).toBe(0);
    await session.start();
    await settle(); // the new store session is indexed (empty) before rows arrive
    kernel.log(7);
    await settle();
    expect(model.count).toBe(7);
    expect(await messageAt(model, 6)).toBe('message 7');
    expect(model.error).toBeNull();
  });

  it('waits for the comm before indexing, without an error', async () => {
    kernel.log(40);
    await settle();
    const second = new FakeKernel('k2');
    second.store.append(12);
    const other = new FakeNotebook(second.connect());
    registry.add(other, other);
    const waiting = registry.sessionOf(other)!;
    expect(waiting.isConnected).toBe(false);
    const model = new LogDataModel({ source: waiting, blockSize: 50 });
    await model.setFilter({ level: 'WARNING' });
    expect(model.loading).toBe(false);
    expect(model.error).toBeNull();
    expect(model.count).toBe(0);
    expect(second.store.indexes()).toEqual([]);
    await settle(); // the comm opens: reset('connected')
    expect(model.count).toBe(3); // seqs 4, 8, 12
    expect(model.filter).toEqual({ level: 'WARNING' });
  });

  it('moves to another kernel’s session with the same filter', async () => {
    kernel.log(100);
    const k2 = new FakeKernel('k2');
    k2.store.append(10);
    await settle();
    const model = new LogDataModel({ source: session, blockSize: 50 });
    await model.setFilter({ logger: 'app.1' });
    expect(model.count).toBe(34);

    notebook.changeKernel(k2.connect());
    const moved = registry.sessionOf(notebook)!;
    expect(moved.kernelId).toBe('k2');
    await model.setSource(moved);
    await settle();
    expect(model.count).toBe(4); // 1, 4, 7, 10
    expect(model.filter).toEqual({ logger: 'app.1' });
    // the old kernel's news no longer reaches the model
    kernel.log(50);
    await settle();
    expect(model.count).toBe(4);
  });

  it('shows the view’s rows and summary, and follows the notebook to another session', async () => {
    kernel.log(60);
    await settle();
    const view = new LogView({ session, filter: {} });
    Widget.attach(view, document.body);
    await settle();
    expect(view.model.count).toBe(60);
    expect(view.summary).toBe('60 of 60 rows');
    expect(view.following).toBe(true);

    kernel.log(15);
    await settle();
    expect(view.summary).toBe('75 of 75 rows');
    const footer = view.node.querySelector('.jp-taskscope-LogView-status')!;
    expect(footer.textContent).toBe('75 of 75 rows');

    // paused: new rows are counted, not fetched; following again fetches up to the newest
    view.following = false;
    const pages = kernel.store.queries().length;
    kernel.log(10);
    await settle();
    expect(view.model.count).toBe(85);
    expect(kernel.store.queries().length).toBe(pages);
    expect(footer.textContent).toContain('paused');

    const k2 = new FakeKernel('k2');
    k2.store.append(3);
    notebook.changeKernel(k2.connect());
    view.setSession(registry.sessionOf(notebook));
    await settle();
    expect(view.session?.model).toBe(registry.sessionOf(notebook)!.model);
    expect(view.model.count).toBe(3);
    expect(view.summary).toBe('3 of 3 rows');

    notebook.changeKernel(null);
    view.setSession(null);
    await settle();
    expect(view.model.count).toBe(0);
    expect(footer.textContent).toContain('no kernel');
    view.dispose();
  });
});
