/**
 * A kernel as the front end meets it through JupyterLab, for the kernel session's unit
 * tests (jsdom runs no kernel; test/kernel/session.spec.ts runs the same session against
 * a real ipykernel).
 *
 * FakeKernel is one kernel process with taskscope's comm target: it answers REGISTER_CODE,
 * opens comms, answers protocol v1 (hello, status, start, stop, clear, query, index) over a
 * FakeStore, and pushes status to every open comm. Each notebook reaches it through a
 * FakeConnection of its own (JupyterLab gives every session its own kernel connection), with
 * the signals, comms and futures of a Kernel.IKernelConnection that the bridge uses.
 * Everything from the kernel arrives asynchronously, as over a websocket.
 */
import { Kernel, KernelMessage } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';

import { REGISTER_CODE } from '../../src/bridge';
import { COMM_TARGET, IIndexQuery, IQuery, IStatus } from '../../src/protocol';
import { IKernelHolder } from '../../src/registry';
import { FakeStore } from './fakestore';

/** Let every pending reply, push and promise run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) {
    await new Promise(resolve => setTimeout(resolve, 0));
  }
}

const later = (fn: () => void) => void Promise.resolve().then(fn);

type Data = { [key: string]: unknown };

export class FakeKernel {
  constructor(id: string, options: { language?: string; taskscope?: boolean } = {}) {
    this.id = id;
    this.language = options.language ?? 'python';
    this.taskscope = options.taskscope ?? true;
    this.process = `${id}-process-0`;
  }

  readonly id: string;
  readonly language: string;
  /** Whether taskscope is importable in this kernel. */
  readonly taskscope: boolean;
  /** This process's store; a restart starts an empty one (seq from 1 again). */
  store = new FakeStore(0);
  recording = false;
  sessionId: string | null = null;
  /** Comms open on the kernel's side, by comm id. */
  readonly comms = new Map<string, FakeComm>();
  /** Comms ever opened to the taskscope target. */
  opened = 0;
  /** The connections of notebooks to this kernel. */
  readonly connections: FakeConnection[] = [];

  /**
   * A notebook's own connection to this kernel. As JupyterLab's kernel manager decides,
   * it handles comms only when no other live connection of the same page does.
   */
  connect(page = 'page'): FakeConnection {
    const handled = this.connections.some(c => c.page === page && c.handleComms);
    const connection = new FakeConnection(this, page, !handled);
    this.connections.push(connection);
    return connection;
  }

  /** `n` rows are stored; the kernel pushes its status. */
  log(n: number): void {
    this.store.append(n);
    this.push();
  }

  /** The session's rows are deleted from the kernel's side (code, another tab). */
  clearFromKernel(): void {
    this.store.clear();
    this.push();
  }

  /** Push the status to every open comm, numbered. */
  push(): void {
    const message = { op: 'status', version: 1, seq: ++this._pushSeq, status: this.status() };
    for (const comm of this.comms.values()) {
      comm.deliver(message);
    }
  }

  status(): IStatus {
    return {
      recording: this.recording,
      rows: Math.max(0, this.store.last - this.store.first + 1),
      rate: 0,
      dropped: 0,
      levels: {},
      sources: {},
      store: this.sessionId ? `/tmp/${this.sessionId}.sqlite` : null,
      session_id: this.sessionId,
      last_seq: this.store.last
    };
  }

  /**
   * A restart as JupyterLab does it: the connection that asks reports 'restarting' and
   * drops its comms; the old process answers its shutdown request (every connection hears
   * its last 'idle') and goes with every comm, losing what is sent to it meanwhile; the new
   * process, with a session of its own, reports 'starting' then 'idle'.
   */
  async restart(by: FakeConnection): Promise<void> {
    by.setStatus('restarting', false);
    by.dropComms();
    this.comms.clear();
    this.down = true;
    this.broadcast('idle');
    await settle();
    this.down = false;
    this.process = `${this.id}-process-${++this._processes}`;
    this._registered = false;
    this.store = new FakeStore(0);
    this.recording = false;
    this.sessionId = null;
    this._pushSeq = 0;
    this.broadcast('starting');
    this.broadcast('idle');
  }

  /** The process's own session id, on every message it sends (a new one per restart). */
  process: string;

  /** A status message from the process, on IOPub: every connection hears it. */
  broadcast(status: Kernel.Status): void {
    for (const connection of [...this.connections]) {
      connection.setStatus(status);
    }
  }

  /** Between the old process and the new one: requests are lost, never answered. */
  down = false;

  /** Run code for a connection (null: lost); only REGISTER_CODE means anything here. */
  execute(code: string): string | null {
    if (this.down) {
      return null;
    }
    if (code !== REGISTER_CODE) {
      return '';
    }
    if (!this.taskscope) {
      return 'taskscope:missing';
    }
    this._registered = true;
    return 'taskscope:ok';
  }

  /** A comm_open from a connection: greeted when the target is registered, else closed. */
  open(comm: FakeComm, target: string, data: Data): void {
    if (this.down) {
      return;
    }
    if (!this._registered || target !== COMM_TARGET) {
      later(() => comm.closedByKernel());
      return;
    }
    this.comms.set(comm.commId, comm);
    this.opened++;
    this.receive(comm, data);
  }

  /** A comm_msg from a connection. */
  receive(comm: FakeComm, data: Data): void {
    if (!this.comms.has(comm.commId)) {
      return;
    }
    const id = data.id;
    const answer = (reply: object) => later(() => comm.deliver({ ...reply, version: 1, id }));
    const status = () => ({ op: 'status', seq: this._pushSeq, status: this.status() });
    switch (data.op) {
      case 'hello':
        answer({
          op: 'hello',
          taskscope_version: '0.0.0',
          recording: this.recording,
          seq: this._pushSeq,
          status: this.status()
        });
        break;
      case 'status':
        answer(status());
        break;
      case 'start':
        this.sessionId ??= `${this.id}-session-${++this._sessions}`;
        this.recording = true;
        answer(status());
        break;
      case 'stop':
        this.recording = false;
        answer(status());
        break;
      case 'clear':
        this.store.clear();
        answer(status());
        break;
      case 'query':
        void this.store.query(data as IQuery).then(answer);
        break;
      case 'index':
        void this.store.index(data as unknown as IIndexQuery).then(answer);
        break;
      default:
        answer({ op: 'error', message: `unknown op ${String(data.op)}` });
    }
  }

  /** A comm_close from a connection (any connection to the kernel may send it). */
  close(commId: string): void {
    this.comms.delete(commId);
  }

  private _registered = false;
  private _pushSeq = 0;
  private _sessions = 0;
  private _processes = 0;
}

let commIds = 0;

/** The front end's end of a comm (Kernel.IComm as the bridge uses it). */
export class FakeComm {
  constructor(kernel: FakeKernel, target: string, connection: FakeConnection) {
    this._kernel = kernel;
    this.targetName = target;
    this._connection = connection;
  }

  readonly commId = `comm-${++commIds}`;
  readonly targetName: string;
  onMsg: ((msg: KernelMessage.ICommMsgMsg) => void) | null = null;
  onClose: ((msg: KernelMessage.ICommCloseMsg) => void) | null = null;
  isDisposed = false;

  open(data: Data): void {
    this._kernel.open(this, this.targetName, data);
  }

  send(data: Data): void {
    if (this.isDisposed) {
      throw new Error('Comm is closed');
    }
    this._kernel.receive(this, data);
  }

  close(): void {
    if (this.isDisposed || this._connection.isDisposed) {
      throw new Error('Cannot close'); // as JupyterLab's CommHandler: nothing is sent
    }
    const commId = this.commId;
    this._connection.send(() => this._kernel.close(commId));
    this.isDisposed = true;
  }

  dispose(): void {
    this.isDisposed = true;
  }

  /** A comm_msg from the kernel. */
  deliver(data: Data): void {
    if (!this.isDisposed) {
      this.onMsg?.({ content: { comm_id: this.commId, data } } as unknown as KernelMessage.ICommMsgMsg);
    }
  }

  /** A comm_close from the kernel. */
  closedByKernel(): void {
    if (!this.isDisposed) {
      this.isDisposed = true;
      this.onClose?.({ content: { comm_id: this.commId, data: {} } } as unknown as KernelMessage.ICommCloseMsg);
    }
  }

  private _kernel: FakeKernel;
  private _connection: FakeConnection;
}

/** One notebook's connection to a FakeKernel (what Kernel.IKernelConnection offers the bridge). */
export class FakeConnection {
  constructor(kernel: FakeKernel, page: string, handleComms: boolean) {
    this.kernel = kernel;
    this.id = kernel.id;
    this.page = page;
    this.handleComms = handleComms;
  }

  readonly kernel: FakeKernel;
  readonly id: string;
  /** The browser page (JupyterLab app) the connection belongs to. */
  readonly page: string;
  readonly handleComms: boolean;
  status: Kernel.Status = 'idle';
  connectionStatus: Kernel.ConnectionStatus = 'connected';
  isDisposed = false;
  /** Comms this connection created. */
  readonly created: FakeComm[] = [];

  get spec(): Promise<{ language: string }> {
    return Promise.resolve({ language: this.kernel.language });
  }

  get statusChanged(): ISignal<this, Kernel.Status> {
    return this._statusChanged;
  }

  get connectionStatusChanged(): ISignal<this, Kernel.ConnectionStatus> {
    return this._connectionStatusChanged;
  }

  get disposed(): ISignal<this, void> {
    return this._disposed;
  }

  get iopubMessage(): ISignal<this, KernelMessage.IIOPubMessage> {
    return this._iopubMessage;
  }

  /** This connection as JupyterLab's type (the subset above is what the bridge uses). */
  get asKernel(): Kernel.IKernelConnection {
    return this as unknown as Kernel.IKernelConnection;
  }

  requestExecute(content: { code: string }): {
    onIOPub: ((msg: KernelMessage.IIOPubMessage) => void) | null;
    done: Promise<void>;
  } {
    const future = {
      onIOPub: null as ((msg: KernelMessage.IIOPubMessage) => void) | null,
      done: Promise.resolve()
    };
    future.done = new Promise(resolve =>
      later(() => {
        const text = this.kernel.execute(content.code);
        if (text === null) {
          return; // sent to a process on its way out: no reply ever
        }
        this.kernel.broadcast('busy');
        if (text) {
          future.onIOPub?.({
            header: { msg_type: 'stream', session: this.kernel.process },
            content: { name: 'stdout', text }
          } as unknown as KernelMessage.IIOPubMessage);
        }
        this.kernel.broadcast('idle');
        resolve();
      })
    );
    return future;
  }

  createComm(target: string): FakeComm {
    if (!this.handleComms) {
      throw new Error('Comms are disabled on this kernel connection'); // as JupyterLab
    }
    const comm = new FakeComm(this.kernel, target, this);
    this.created.push(comm);
    return comm;
  }

  /**
   * A status: from the kernel process (an IOPub message stamped with its session), or one
   * JupyterLab sets itself (`fromKernel` false: 'restarting').
   */
  setStatus(status: Kernel.Status, fromKernel = true): void {
    this.status = status;
    this._statusChanged.emit(status);
    if (fromKernel) {
      this._iopubMessage.emit({
        channel: 'iopub',
        header: { msg_type: 'status', session: this.kernel.process },
        parent_header: {},
        metadata: {},
        content: { execution_state: status }
      } as unknown as KernelMessage.IIOPubMessage);
    }
  }

  readonly clientId = `client-${++commIds}`;
  readonly username = 'user';

  /** A shell message; only a comm_close means anything here. */
  sendShellMessage(msg: KernelMessage.IShellMessage): void {
    if (this.isDisposed) {
      throw new Error('Kernel connection is disposed'); // as JupyterLab
    }
    if (msg.header.msg_type === 'comm_close') {
      const content = msg.content as KernelMessage.ICommCloseMsg['content'];
      this.send(() => later(() => this.kernel.close(content.comm_id)));
    }
  }

  /** What JupyterLab does to a connection's comms on a restart it asked for. */
  dropComms(): void {
    for (const comm of this.created) {
      comm.dispose();
    }
  }

  /**
   * A message to the kernel: as JupyterLab's connection, queued while the websocket is
   * down, sent once it is back, lost if the connection is disposed first.
   */
  send(deliver: () => void): void {
    if (this.connectionStatus === 'connected') {
      deliver();
    } else {
      this._queued.push(deliver);
    }
  }

  /** The websocket dropped; JupyterLab tries to connect again. */
  drop(): void {
    this.connectionStatus = 'connecting';
    this._connectionStatusChanged.emit('connecting');
  }

  /** The websocket dropped and came back. */
  reconnect(): void {
    this.drop();
    this.connectionStatus = 'connected';
    this._connectionStatusChanged.emit('connected');
    for (const deliver of this._queued.splice(0)) {
      deliver();
    }
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.isDisposed = true;
    this._queued.length = 0;
    this._disposed.emit();
    this.kernel.connections.splice(this.kernel.connections.indexOf(this), 1);
  }

  private _queued: (() => void)[] = [];
  private _statusChanged = new Signal<this, Kernel.Status>(this);
  private _iopubMessage = new Signal<this, KernelMessage.IIOPubMessage>(this);
  private _connectionStatusChanged = new Signal<this, Kernel.ConnectionStatus>(this);
  private _disposed = new Signal<this, void>(this);
}

/** A notebook's session context, as the registry follows it: a kernel that can change. */
export class FakeNotebook implements IKernelHolder {
  constructor(connection: FakeConnection | null) {
    this.connection = connection;
  }

  connection: FakeConnection | null;

  get session(): { kernel: Kernel.IKernelConnection | null } {
    return { kernel: this.connection?.asKernel ?? null };
  }

  get kernelChanged(): ISignal<this, void> {
    return this._kernelChanged;
  }

  get disposed(): ISignal<this, void> {
    return this._disposed;
  }

  /**
   * Change the kernel, as the kernel picker does: as JupyterLab's session connection, the
   * old connection is disposed before kernelChanged is emitted.
   */
  changeKernel(connection: FakeConnection | null): void {
    const old = this.connection;
    old?.dispose();
    this.connection = connection;
    this._kernelChanged.emit();
  }

  /**
   * The notebook closed, as JupyterLab's document manager does it: the session context
   * says it is disposed, then disposes its kernel connection (the panel's own disposal may
   * reach the registry only after that).
   */
  close(): void {
    this._disposed.emit();
    this.connection?.dispose();
  }

  private _kernelChanged = new Signal<this, void>(this);
  private _disposed = new Signal<this, void>(this);
}
