/**
 * One kernel session per kernel (src/session.ts, src/registry.ts), over fake kernels that
 * behave as JupyterLab presents a kernel (test/unit/fakekernel.ts): notebooks on one kernel
 * share one session and one comm; what the kernel says becomes rowsAppended and reset;
 * a restart, a clear, a kernel change, a notebook leaving. test/kernel/session.spec.ts runs
 * the same session against a real ipykernel.
 */
import { KernelSessionRegistry } from '../../src/registry';
import { IReset, IRowsAppended } from '../../src/rowsource';
import { KernelSession, NO_COMMS } from '../../src/session';
import { FakeKernel, FakeNotebook, settle } from './fakekernel';

type Event = ['reset', IReset['reason']] | ['rows', number];

/** Every rowsAppended and reset of a session, in order. */
function record(session: KernelSession): Event[] {
  const events: Event[] = [];
  session.reset.connect((_, reset: IReset) => events.push(['reset', reset.reason]));
  session.rowsAppended.connect((_, rows: IRowsAppended) => events.push(['rows', rows.lastSeq]));
  return events;
}

/**
 * Notebooks a and b on one kernel, followed by the registry; their session and its events
 * from now on. a's connection carries the comm; b's is in page `bPage`: in another page it
 * can handle comms too, in a's page it cannot (JupyterLab lets the first one handle them).
 */
async function twoNotebooks(registry: KernelSessionRegistry, bPage: string) {
  const kernel = new FakeKernel('k1');
  const a = new FakeNotebook(kernel.connect('page'));
  const b = new FakeNotebook(kernel.connect(bPage));
  registry.add(a, a);
  registry.add(b, b);
  await settle();
  const session = registry.sessionOf(a)!;
  return { kernel, a, b, session, events: record(session) };
}

const inTwoPages = (registry: KernelSessionRegistry) => twoNotebooks(registry, 'other');
const inOnePage = (registry: KernelSessionRegistry) => twoNotebooks(registry, 'page');

describe('KernelSessionRegistry', () => {
  let registry: KernelSessionRegistry;

  beforeEach(() => {
    registry = new KernelSessionRegistry();
  });

  afterEach(() => {
    registry.dispose();
  });

  it('gives two notebooks on one kernel one session and one comm', async () => {
    const kernel = new FakeKernel('k1');
    const a = new FakeNotebook(kernel.connect());
    const b = new FakeNotebook(kernel.connect());
    registry.add(a, a);
    registry.add(b, b);
    const session = registry.sessionOf(a)!;
    expect(session).toBeInstanceOf(KernelSession);
    expect(registry.sessionOf(b)).toBe(session);
    expect(registry.sessions).toEqual([session]);
    expect(registry.get('k1')).toBe(session);
    await settle();
    expect(session.model.state).toBe('stopped');
    expect(session.isConnected).toBe(true);
    // one comm, opened over the first notebook's connection only
    expect(kernel.opened).toBe(1);
    expect(kernel.comms.size).toBe(1);
    expect(a.connection!.created).toHaveLength(1);
    expect(b.connection!.created).toHaveLength(0);
    // an action from either notebook acts on the one session
    await registry.sessionOf(b)!.start();
    expect(kernel.recording).toBe(true);
    expect(session.model.state).toBe('recording');
  });

  it('gives notebooks on different kernels different sessions', async () => {
    const one = new FakeNotebook(new FakeKernel('k1').connect());
    const two = new FakeNotebook(new FakeKernel('k2').connect());
    registry.add(one, one);
    registry.add(two, two);
    expect(registry.sessionOf(one)).not.toBe(registry.sessionOf(two));
    expect(registry.sessions.map(s => s.kernelId).sort()).toEqual(['k1', 'k2']);
  });

  it('moves a notebook to the new kernel’s session when its kernel changes', async () => {
    const k1 = new FakeKernel('k1');
    const k2 = new FakeKernel('k2');
    const a = new FakeNotebook(k1.connect());
    const b = new FakeNotebook(k1.connect());
    registry.add(a, a);
    registry.add(b, b);
    await settle();
    const first = registry.sessionOf(a)!;
    const changes: KernelSessionRegistry.IChange[] = [];
    registry.sessionChanged.connect((_, change) => changes.push(change));

    b.changeKernel(k2.connect());
    const second = registry.sessionOf(b)!;
    expect(second.kernelId).toBe('k2');
    expect(changes).toEqual([{ user: b, session: second, previous: first }]);
    // the other notebook keeps the first kernel's session, and its comm
    expect(registry.sessionOf(a)).toBe(first);
    expect(first.isDisposed).toBe(false);
    await settle();
    expect(k1.comms.size).toBe(1);
    expect(k2.comms.size).toBe(1);
    expect(second.model.state).toBe('stopped');

    // a notebook on no kernel is on no session
    b.changeKernel(null);
    expect(registry.sessionOf(b)).toBeNull();
    expect(changes[1]).toEqual({ user: b, session: null, previous: second });
  });

  it('disposes a session no notebook uses any more, closing its comm', async () => {
    const kernel = new FakeKernel('k1');
    const other = new FakeKernel('k2');
    const a = new FakeNotebook(kernel.connect());
    const b = new FakeNotebook(kernel.connect());
    registry.add(a, a);
    registry.add(b, b);
    await settle();
    const session = registry.sessionOf(a)!;
    let disposed = 0;
    session.disposed.connect(() => disposed++);

    registry.remove(a); // closed: its connection goes with it
    a.connection!.dispose();
    expect(session.isDisposed).toBe(false);
    b.changeKernel(other.connect()); // moved away
    expect(session.isDisposed).toBe(true);
    expect(disposed).toBe(1);
    expect(registry.get('k1')).toBeUndefined();
    expect(kernel.comms.size).toBe(0);
    expect(registry.sessions.map(s => s.kernelId)).toEqual(['k2']);

    // a notebook opened on the kernel again gets a new session and comm
    const c = new FakeNotebook(kernel.connect());
    registry.add(c, c);
    await settle();
    expect(registry.sessionOf(c)).not.toBe(session);
    expect(kernel.comms.size).toBe(1);
  });

  it('says why it has no comm once the notebook handling comms leaves, until one comes', async () => {
    // JupyterLab lets the first connection to a kernel handle comms, not the second
    const kernel = new FakeKernel('k1');
    const a = new FakeNotebook(kernel.connect());
    const b = new FakeNotebook(kernel.connect());
    expect([a.connection!.handleComms, b.connection!.handleComms]).toEqual([true, false]);
    registry.add(a, a);
    registry.add(b, b);
    await settle();
    const session = registry.sessionOf(b)!;
    await session.start();
    kernel.log(3);
    await settle();
    const events = record(session);

    registry.remove(a);
    a.connection!.dispose();
    await settle();
    expect(registry.sessionOf(b)).toBe(session);
    expect(session.model.state).toBe('no-comms');
    expect(session.model.error).toBe(NO_COMMS);
    expect(kernel.comms.size).toBe(0);
    expect(b.connection!.created).toHaveLength(0);

    // a notebook opened on the kernel now handles comms: the session carries on over it
    const c = new FakeNotebook(kernel.connect());
    expect(c.connection!.handleComms).toBe(true);
    registry.add(c, c);
    await settle();
    expect(registry.sessionOf(c)).toBe(session);
    expect(session.carrier).toBe(c.connection!.asKernel);
    expect(session.model.state).toBe('recording');
    expect(kernel.comms.size).toBe(1);
    expect(events).toEqual([['reset', 'reconnected']]);
    kernel.log(2);
    await settle();
    expect(events).toEqual([
      ['reset', 'reconnected'],
      ['rows', 5]
    ]);
  });

  it('closes the comm of a notebook that closes, though its connection goes first', async () => {
    // JupyterLab's document manager disposes the panel's session context (and with it the
    // kernel connection, which then refuses to send a comm_close) before the panel's own
    // disposal may reach the registry: the session context's disposal must close the comm
    const { kernel, a, b, session } = await inOnePage(registry);
    a.close();
    registry.remove(a);
    await settle();
    expect(kernel.comms.size).toBe(0);
    expect(registry.sessionOf(b)).toBe(session);
    expect(session.model.state).toBe('no-comms');

    // the last notebook on a kernel: its session goes, and the comm with it
    const lone = new FakeKernel('k2');
    const c = new FakeNotebook(lone.connect());
    registry.add(c, c);
    await settle();
    const last = registry.sessionOf(c)!;
    expect(lone.comms.size).toBe(1);
    c.close();
    await settle();
    expect(last.isDisposed).toBe(true);
    expect(lone.comms.size).toBe(0);
  });

  it('closes the comm over another connection when the carrier’s websocket is down', async () => {
    // a comm_close queued on a connection that is reconnecting is dropped when it is
    // disposed, as a closing notebook's connection is right after
    const { kernel, a, b, session } = await inOnePage(registry);
    a.connection!.drop();
    registry.remove(a);
    a.close();
    await settle();
    expect(kernel.comms.size).toBe(0);
    expect(registry.sessionOf(b)).toBe(session);
    expect(session.model.state).toBe('no-comms');
  });

  it('closes the comm over another connection when the carrier changes kernel', async () => {
    // the old connection is disposed before kernelChanged: it cannot send the comm_close
    const { kernel, a, b, session } = await inOnePage(registry);
    a.changeKernel(new FakeKernel('k2').connect());
    await settle();
    expect(kernel.comms.size).toBe(0);
    expect(registry.sessionOf(b)).toBe(session);
    expect(session.model.state).toBe('no-comms');
  });

  it('moves the comm to another connection that handles comms when the carrier leaves', async () => {
    // (two such connections of one kernel are in different pages in JupyterLab; the rule
    // is the session's all the same)
    const { kernel, a, b, session, events } = await inTwoPages(registry);
    registry.remove(a);
    await settle();
    expect(session.carrier).toBe(b.connection!.asKernel);
    expect(kernel.comms.size).toBe(1);
    expect(kernel.opened).toBe(2);
    expect(events).toEqual([['reset', 'reconnected']]);
  });

  it('keeps waiting for the new process when the carrier leaves during a restart', async () => {
    const { kernel, a, b, session, events } = await inTwoPages(registry);
    const restarting = kernel.restart(a.connection!); // the old process is on its way out
    registry.remove(a);
    a.connection!.dispose();
    await restarting;
    await settle();
    expect(session.carrier).toBe(b.connection!.asKernel);
    expect(session.model.state).toBe('stopped');
    expect(kernel.comms.size).toBe(1);
    expect(events).toEqual([['reset', 'restart']]);
  });

  it('says why a kernel cannot be used, per kernel', async () => {
    const missing = new FakeNotebook(new FakeKernel('k1', { taskscope: false }).connect());
    const other = new FakeNotebook(new FakeKernel('k2', { language: 'r' }).connect());
    registry.add(missing, missing);
    registry.add(other, other);
    await settle();
    expect(registry.sessionOf(missing)!.model.state).toBe('missing');
    expect(registry.sessionOf(other)!.model.state).toBe('unsupported');
  });
});

describe('KernelSession', () => {
  let registry: KernelSessionRegistry;
  let kernel: FakeKernel;
  let a: FakeNotebook;
  let b: FakeNotebook;
  let session: KernelSession;
  let events: Event[];

  beforeEach(async () => {
    registry = new KernelSessionRegistry();
    kernel = new FakeKernel('k1');
    a = new FakeNotebook(kernel.connect());
    b = new FakeNotebook(kernel.connect());
    registry.add(a, a);
    registry.add(b, b);
    session = registry.sessionOf(a)!;
    events = record(session);
    await settle();
  });

  afterEach(() => {
    registry.dispose();
  });

  it('resets once connected, then on a new store session; new rows as rowsAppended', async () => {
    expect(events).toEqual([['reset', 'connected']]);
    await session.start(); // the kernel opens a store session
    kernel.log(5);
    await settle();
    kernel.push(); // nothing new: no event
    kernel.log(3);
    await settle();
    expect(events).toEqual([
      ['reset', 'connected'],
      ['reset', 'new-session'],
      ['rows', 5],
      ['rows', 8]
    ]);
    expect(session.lastSeq).toBe(8);
  });

  it('resets once on a clear from the panel, and on one from elsewhere', async () => {
    await session.start();
    kernel.log(10);
    await settle();
    events.length = 0;
    await session.clear();
    expect(events).toEqual([['reset', 'cleared']]);
    // nothing left to delete: still one reset, the rows shown may be stale
    await session.clear();
    expect(events).toEqual([
      ['reset', 'cleared'],
      ['reset', 'cleared']
    ]);
    kernel.log(4);
    await settle();
    kernel.clearFromKernel(); // ts.logger.dataset.clear() in a cell, another tab
    await settle();
    expect(events.slice(2)).toEqual([
      ['rows', 14],
      ['reset', 'cleared']
    ]);
  });

  it('resets with restart after a kernel restart, on the same comm count', async () => {
    await session.start();
    kernel.log(50);
    await settle();
    events.length = 0;
    await kernel.restart(a.connection!);
    await settle();
    expect(events).toEqual([['reset', 'restart']]);
    expect(session.model.state).toBe('stopped');
    expect(session.lastSeq).toBe(0);
    expect(kernel.comms.size).toBe(1);
    expect(kernel.opened).toBe(2);
    // rows of the new process, seq from 1 again, are new rows
    await session.start();
    kernel.log(3);
    await settle();
    expect(events).toEqual([
      ['reset', 'restart'],
      ['reset', 'new-session'],
      ['rows', 3]
    ]);
  });

  it('sees a restart asked from the other notebook', async () => {
    await kernel.restart(b.connection!);
    await settle();
    expect(events).toEqual([
      ['reset', 'connected'],
      ['reset', 'restart']
    ]);
    expect(kernel.comms.size).toBe(1);
    expect(session.isConnected).toBe(true);
  });

  it('sees a restart asked from another tab, told only by the new process starting', async () => {
    const tab = kernel.connect('other'); // another browser tab
    await kernel.restart(tab);
    await settle();
    expect(events).toEqual([
      ['reset', 'connected'],
      ['reset', 'restart']
    ]);
    expect(kernel.comms.size).toBe(1);
    expect(session.model.state).toBe('stopped');
  });

  it('reconnects when the carrier’s websocket came back without its comm', async () => {
    // (JupyterLab keeps comms across a websocket reconnect; only a lost comm is reopened)
    a.connection!.reconnect();
    await settle();
    expect(kernel.opened).toBe(1);
    const comm = a.connection!.created[0];
    comm.closedByKernel();
    kernel.comms.delete(comm.commId);
    a.connection!.reconnect();
    await settle();
    expect(kernel.opened).toBe(2);
    expect(events).toEqual([
      ['reset', 'connected'],
      ['reset', 'reconnected']
    ]);
  });

  it('answers the row ops the panel pages with', async () => {
    await session.start();
    kernel.log(30);
    await settle();
    const page = await session.query({ after_seq: 10, limit: 5 });
    expect(page.rows.map(r => r.seq)).toEqual([11, 12, 13, 14, 15]);
    const index = await session.index({ every: 10 });
    expect(index).toMatchObject({ count: 30, first_seq: 1, last_seq: 30, dense: true });
  });
});
