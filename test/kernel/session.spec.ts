/**
 * The front end's kernel session (src/session.ts, src/registry.ts) against a real ipykernel
 * with taskscope: two notebooks' connections (test/kernel/connection.ts, each its own wire
 * client; the first handles comms, as JupyterLab decides) share one session and one comm in
 * the kernel; rows logged in the kernel arrive as rowsAppended and page back; a clear and a
 * restart asked by the other notebook reset; when the notebook handling comms leaves the
 * session says why, and carries on over the next notebook that can; a session no notebook
 * uses closes its comm. What the kernel holds is read from ipykernel's comm manager.
 */
import { Signal } from '@lumino/signaling';
import { Kernel } from '@jupyterlab/services';

import { IKernelHolder, KernelSessionRegistry } from '../../src/registry';
import { IReset, IRowsAppended, ResetReason } from '../../src/rowsource';
import { KernelSession, NO_COMMS } from '../../src/session';
import { WireConnection } from './connection';
import { useKernel } from './lifecycle';
import { LocalKernel } from './wire';

let kernel: LocalKernel;
useKernel(started => (kernel = started));

/** The id JupyterLab would give the kernel (there is no server here to give one). */
const KERNEL_ID = 'wire-kernel';

/** A notebook's session context, as the registry follows it. */
class Notebook implements IKernelHolder {
  constructor(readonly connection: WireConnection) {}

  get session(): { kernel: Kernel.IKernelConnection | null } {
    return { kernel: this.connection.asKernel };
  }

  readonly kernelChanged = new Signal<this, void>(this);
}

/** Poll until `condition` holds (a failure limit, not a timing). */
async function until(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await condition())) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise(resolve => setTimeout(resolve, 50));
  }
}

/** The taskscope comms open in the kernel, from ipykernel's comm manager. */
async function kernelComms(): Promise<number> {
  const { stdout } = await kernel.executeOk(
    "print(sum(1 for c in get_ipython().kernel.comm_manager.comms.values() if c.target_name == 'taskscope'))",
    { silent: true }
  );
  return Number(stdout.trim());
}

/** A notebook's connection; it handles comms when no open one of the page does. */
async function notebook(open: Notebook[]): Promise<Notebook> {
  const client = kernel.connect();
  await client.waitReady();
  const handled = open.some(n => !n.connection.isDisposed && n.connection.handleComms);
  return new Notebook(new WireConnection(client, KERNEL_ID, !handled));
}

describe('kernel sessions over a real kernel', () => {
  let registry: KernelSessionRegistry;
  let a: Notebook;
  let b: Notebook;
  let session: KernelSession;
  const notebooks: Notebook[] = [];
  const resets: ResetReason[] = [];
  let lastSeq = 0;

  beforeAll(async () => {
    registry = new KernelSessionRegistry();
    notebooks.push((a = await notebook(notebooks)));
    notebooks.push((b = await notebook(notebooks)));
  });

  afterAll(() => {
    registry.dispose();
    notebooks.forEach(n => n.connection.dispose());
  });

  it('gives two notebooks on one kernel one session and one comm', async () => {
    registry.add(a, a);
    registry.add(b, b);
    session = registry.sessionOf(a)!;
    expect(registry.sessionOf(b)).toBe(session);
    expect(registry.sessions).toHaveLength(1);
    session.reset.connect((_, reset: IReset) => resets.push(reset.reason));
    session.rowsAppended.connect((_, rows: IRowsAppended) => (lastSeq = rows.lastSeq));
    await until(() => session.model.state === 'stopped', 'the session to say hello');
    expect(resets).toEqual(['connected']);
    expect(await kernelComms()).toBe(1);
    // over the connection that handles comms
    expect(a.connection.handleComms).toBe(true);
    expect(b.connection.handleComms).toBe(false);
    expect(a.connection.comms).toHaveLength(1);
  });

  it('turns rows logged in the kernel into rowsAppended, and pages them back', async () => {
    await registry.sessionOf(b)!.start();
    expect(session.model.state).toBe('recording');
    expect(resets).toEqual(['connected', 'new-session']);
    await kernel.executeOk(
      [
        'import taskscope as ts',
        "log = ts.logger.getLogger('wire')",
        "for i in range(20): log.info('row %d', i)",
        'ts.runtime.flush()'
      ].join('\n')
    );
    const query = () => session.query({ filter: { logger: 'wire' }, limit: 100 });
    await until(async () => (await query()).rows.length === 20, 'the rows to be stored');
    const rows = (await query()).rows;
    await until(() => lastSeq >= rows[19].seq, 'rowsAppended to reach the last row');
    expect(rows.map(r => r.msg)).toEqual(Array.from({ length: 20 }, (_, i) => `row ${i}`));
    expect(session.lastSeq).toBe(lastSeq);
  });

  it('resets once on a clear', async () => {
    await session.clear();
    expect(resets.slice(2)).toEqual(['cleared']);
    expect((await session.query({ filter: { logger: 'wire' } })).rows).toEqual([]);
  });

  it('resets with restart after a restart, and opens one comm again', async () => {
    // notebook b restarts the kernel while a's connection carries the comm: a still hears
    // the old process's last words, b holds its messages until the new one is up
    b.connection.restarting();
    await kernel.restart();
    await Promise.all([a.connection.client.waitReady(), b.connection.client.waitReady()]);
    b.connection.restarted();
    await until(() => resets.length === 4, 'the reset after the restart');
    expect(resets[3]).toBe('restart');
    await until(() => session.model.state === 'stopped', 'the session to say hello again');
    expect(session.lastSeq).toBe(0);
    expect(await kernelComms()).toBe(1);
    expect(session.carrier).toBe(a.connection.asKernel);
  });

  it('says why it has no comm once the notebook handling comms leaves', async () => {
    registry.remove(a);
    a.connection.dispose();
    expect(registry.sessionOf(b)).toBe(session);
    expect(session.model.state).toBe('no-comms');
    expect(session.model.error).toBe(NO_COMMS);
    await until(async () => (await kernelComms()) === 0, 'the comm to close');
  });

  it('carries on over a notebook opened on the kernel, which handles comms', async () => {
    const c = await notebook(notebooks);
    notebooks.push(c);
    expect(c.connection.handleComms).toBe(true);
    registry.add(c, c);
    expect(registry.sessionOf(c)).toBe(session);
    await until(() => resets.length === 5, 'the reset after the move');
    expect(resets[4]).toBe('reconnected');
    expect(session.carrier).toBe(c.connection.asKernel);
    expect(session.model.state).toBe('stopped');
    expect(await kernelComms()).toBe(1);
  });

  it('closes its comm once no notebook uses it', async () => {
    registry.remove(b);
    expect(session.isDisposed).toBe(false);
    registry.remove(notebooks[2]);
    expect(session.isDisposed).toBe(true);
    expect(registry.sessions).toEqual([]);
    await until(async () => (await kernelComms()) === 0, 'the comm to close');
  });
});
