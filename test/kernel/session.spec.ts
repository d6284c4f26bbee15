/**
 * The front end's kernel session (src/session.ts, src/registry.ts) against a real ipykernel
 * with taskscope: two notebooks' connections (test/kernel/connection.ts, each its own wire
 * client) share one session and one comm in the kernel; rows logged in the kernel arrive as
 * rowsAppended and page back; a clear, a restart and the carrying notebook leaving reset;
 * a session no notebook uses closes its comm. What the kernel holds is read from ipykernel's
 * comm manager, not from taskscope.
 */
import { Signal } from '@lumino/signaling';
import { Kernel } from '@jupyterlab/services';

import { IKernelHolder, KernelSessionRegistry } from '../../src/registry';
import { IReset, IRowsAppended, KernelSession, ResetReason } from '../../src/session';
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

async function notebook(): Promise<Notebook> {
  const client = kernel.connect();
  await client.waitReady();
  return new Notebook(new WireConnection(client, KERNEL_ID));
}

describe('kernel sessions over a real kernel', () => {
  let registry: KernelSessionRegistry;
  let a: Notebook;
  let b: Notebook;
  let session: KernelSession;
  const resets: ResetReason[] = [];
  let lastSeq = 0;

  beforeAll(async () => {
    registry = new KernelSessionRegistry();
    a = await notebook();
    b = await notebook();
  });

  afterAll(() => {
    registry.dispose();
    a.connection.dispose();
    b.connection.dispose();
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
    expect(a.connection.comms).toHaveLength(1);
    expect(b.connection.comms).toHaveLength(0);
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
    // notebook b restarts the kernel while a's connection carries the comm: a still
    // hears the old process's last words, b holds its messages until the new one is up
    b.connection.restarting();
    await kernel.restart();
    await Promise.all([a.connection.client.waitReady(), b.connection.client.waitReady()]);
    b.connection.restarted();
    await until(() => resets.length === 4, 'the reset after the restart');
    expect(resets[3]).toBe('restart');
    await until(() => session.model.state === 'stopped', 'the session to say hello again');
    expect(session.lastSeq).toBe(0);
    expect(await kernelComms()).toBe(1);
    // over the connection that restarted it
    expect(session.carrier).toBe(b.connection.asKernel);
  });

  it('moves the comm to the other notebook when the carrying one leaves', async () => {
    registry.remove(b);
    b.connection.dispose();
    await until(() => resets.length === 5, 'the reset after the move');
    expect(resets[4]).toBe('reconnected');
    expect(registry.sessionOf(a)).toBe(session);
    expect(session.carrier).toBe(a.connection.asKernel);
    await until(async () => (await kernelComms()) === 1, 'the old comm to close');
    expect(session.model.state).toBe('stopped');
  });

  it('closes its comm once no notebook uses it', async () => {
    registry.remove(a);
    expect(session.isDisposed).toBe(true);
    expect(registry.sessions).toEqual([]);
    await until(async () => (await kernelComms()) === 0, 'the comm to close');
  });
});
