/**
 * One kernel's end of the comm bridge: the comm its KernelSession talks over.
 *
 * It makes sure the kernel can answer (a silent execute registers the comm target),
 * opens the comm over the kernel connection the session gives it, sends requests matched
 * to their replies by `id`, and keeps the session's status model in step. A kernel
 * restart throws comms away: the session tells the bridge, which opens a new comm once the
 * kernel is back (as ipywidgets' manager does).
 */
import { Kernel, KernelMessage } from '@jupyterlab/services';
import { PromiseDelegate } from '@lumino/coreutils';
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { TaskscopeModel } from './model';
import {
  COMM_TARGET,
  IActionsQuery,
  IActionsReply,
  IHelloReply,
  IIndexQuery,
  IIndexReply,
  IQuery,
  IRowsReply,
  IStatus,
  IStatusReply,
  parseReply,
  PROTOCOL_VERSION,
  Reply
} from './protocol';

/**
 * The code that registers the comm target. It prints `taskscope:ok`, `taskscope:missing`
 * (the package is not installed in this kernel) or `taskscope:failed:<reason>` (installed
 * but broken: telling the user to pip install it would mislead).
 */
export const REGISTER_CODE = [
  'try:',
  '    import taskscope.bridge as _taskscope_bridge',
  '    if _taskscope_bridge.register():',
  "        print('taskscope:ok', end='')",
  '    else:',
  "        print('taskscope:failed:this kernel has no comm manager', end='')",
  'except ModuleNotFoundError as _taskscope_error:',
  "    if _taskscope_error.name in ('taskscope', 'taskscope.bridge'):",
  "        print('taskscope:missing', end='')",
  '    else:',
  "        print('taskscope:failed:' + repr(_taskscope_error), end='')",
  'except Exception as _taskscope_error:',
  "    print('taskscope:failed:' + repr(_taskscope_error), end='')",
  'finally:',
  "    globals().pop('_taskscope_bridge', None)",
  "    globals().pop('_taskscope_error', None)"
].join('\n');

/** An error the kernel reported, or a request that could not be answered. */
export class TaskscopeError extends Error {}

/** What the bridge reads from the user's settings at the moment it needs them. */
export interface IBridgeSettings {
  /** Start recording whenever the comm opens on a kernel that is not recording. */
  autoStart: boolean;
  /** `taskscope.start()`'s keyword arguments. */
  startOptions: { [key: string]: unknown };
}

export const DEFAULT_BRIDGE_SETTINGS: IBridgeSettings = {
  autoStart: false,
  startOptions: {}
};

export class KernelBridge implements IDisposable {
  constructor(
    model: TaskscopeModel,
    settings: () => IBridgeSettings = () => DEFAULT_BRIDGE_SETTINGS
  ) {
    this.model = model;
    this._settings = settings;
  }

  /** The kernel's status as this bridge last heard it. */
  readonly model: TaskscopeModel;

  /** The kernel connection the comm goes over; null: none (no notebook has the kernel). */
  get kernel(): Kernel.IKernelConnection | null {
    return this._kernel;
  }

  /** Emitted when a comm opens (first time, after a restart, over another connection). */
  get opened(): ISignal<this, IHelloReply> {
    return this._opened;
  }

  /** Emitted for every status the kernel sends after the hello (replies and pushes). */
  get statusReceived(): ISignal<this, IStatus> {
    return this._statusReceived;
  }

  get isConnected(): boolean {
    return this._comm !== null && this._helloSeen;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /**
   * Talk over another kernel connection (the notebook that carried the comm left): the
   * comm on the old one is closed and a new one opened on this one. Null with a reason:
   * no connection can carry a comm now, and the model says why.
   */
  setKernel(
    kernel: Kernel.IKernelConnection | null,
    unavailable: string | null = null,
    via: Kernel.IKernelConnection | null = null
  ): void {
    if (kernel === this._kernel && kernel !== null) {
      return;
    }
    this._closeLeaving('the comm moved to another connection', via);
    this._kernel = kernel;
    this._pendingRestart = false;
    if (!kernel && unavailable) {
      this.model.setPending(null, unavailable);
      this.model.setState('no-comms');
      return;
    }
    void this.connect();
  }

  /**
   * The connection the comm goes over was disposed (JupyterLab's session connection
   * disposes it before it says the kernel changed) while the comm was open: close the comm
   * over `via`, another connection to the kernel.
   */
  carrierDisposed(via: Kernel.IKernelConnection | null): void {
    this._closeLeaving('the connection carrying the comm went', via);
  }

  /** The kernel is restarting: its comms are gone; a new one opens once it is idle. */
  kernelRestarting(): void {
    this._closeComm('the kernel restarted');
    this.model.setState('connecting');
    this._pendingRestart = true;
  }

  /** The kernel is idle after a restart: open the comm again. */
  kernelIdle(): void {
    if (this._pendingRestart) {
      this._pendingRestart = false;
      void this.connect();
    }
  }

  /** The connection to the kernel came back: open the comm if there is none. */
  connectionRestored(): void {
    if (!this._comm && !this._pendingRestart) {
      void this.connect();
    }
  }

  /** Register the target in the kernel and open a comm to it; never rejects. */
  async connect(): Promise<void> {
    try {
      await this._connect();
    } catch (error) {
      console.warn('taskscope could not connect to the kernel:', error);
      if (!this._isDisposed) {
        this.model.setState('failed');
      }
    }
  }

  private async _connect(): Promise<void> {
    const kernel = this._kernel;
    this._closeComm('reconnecting');
    if (!kernel || kernel.isDisposed || this._isDisposed) {
      this.model.setState('no-kernel');
      return;
    }
    const spec = await kernel.spec;
    if (this._isDisposed || kernel !== this._kernel || this._pendingRestart) {
      return; // disposed, moved, or restarting: the next connect() takes over
    }
    if (spec && spec.language && spec.language.toLowerCase() !== 'python') {
      this.model.setState('unsupported');
      return;
    }
    this.model.setState('connecting');
    this.model.setPending(null); // what failed on the last kernel says nothing of this one
    const { outcome, reason } = await this._register(kernel);
    if (this._isDisposed || kernel !== this._kernel || this._pendingRestart) {
      return; // disposed, moved, or restarting: the next connect() takes over
    }
    if (outcome !== 'ok') {
      // the reason a load failed goes where the user looks: the item's tooltip
      this.model.setPending(null, reason);
      this.model.setState(outcome);
      return;
    }
    if (this._comm) {
      return; // another connect() won the race
    }
    const comm = kernel.createComm(COMM_TARGET);
    comm.onMsg = msg => this._onMessage(comm, msg);
    comm.onClose = () => {
      if (this._comm === comm) {
        this._comm = null;
        this._rejectAll('the kernel closed the comm');
      }
    };
    this._comm = comm;
    this._helloSeen = false;
    this._pushSeq = 0;
    comm.open({ op: 'hello', version: PROTOCOL_VERSION });
  }

  /** Send a request and wait for the reply with its id; rejects with TaskscopeError. */
  async request(
    op: string,
    fields: { [key: string]: unknown } = {}
  ): Promise<Reply> {
    const comm = this._comm;
    if (!comm) {
      throw new TaskscopeError(`not connected to a kernel with taskscope (${op})`);
    }
    const id = ++this._nextId;
    const reply = new PromiseDelegate<Reply>();
    this._pending.set(id, reply);
    comm.send({ ...fields, op, version: PROTOCOL_VERSION, id });
    return reply.promise;
  }

  /** Start recording, with the options from the settings. */
  start(): Promise<void> {
    return this._act('start', { options: this._settings().startOptions });
  }

  stop(): Promise<void> {
    return this._act('stop');
  }

  /** Start when stopped, stop when recording. */
  toggle(): Promise<void> {
    return this.model.state === 'recording' ? this.stop() : this.start();
  }

  /** Delete this session's rows in the kernel. */
  clear(): Promise<void> {
    return this._act('clear');
  }

  /** Ask for the status again (also how a missed push is recovered). */
  async refresh(): Promise<void> {
    const reply = await this.request('status');
    this._takeStatus(reply);
  }

  /** One page of rows from the kernel's store. */
  async query(query: IQuery): Promise<IRowsReply> {
    const reply = await this.request('query', { ...query });
    if (reply.op !== 'rows') {
      throw new TaskscopeError(`unexpected reply ${reply.op} to query`);
    }
    return reply;
  }

  /** Block starts by position (docs/protocol.md, `index`). */
  async index(query: IIndexQuery): Promise<IIndexReply> {
    const reply = await this.request('index', { ...query });
    if (reply.op !== 'index') {
      throw new TaskscopeError(`unexpected reply ${reply.op} to index`);
    }
    return reply;
  }

  /** One page of the actions inside a parent (docs/protocol.md, `actions`). */
  async actions(query: IActionsQuery): Promise<IActionsReply> {
    const reply = await this.request('actions', { ...query });
    if (reply.op !== 'actions') {
      throw new TaskscopeError(`unexpected reply ${reply.op} to actions`);
    }
    return reply;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._closeComm('the bridge was disposed');
    Signal.clearData(this);
  }

  private async _act(
    action: 'start' | 'stop' | 'clear',
    fields: { [key: string]: unknown } = {}
  ): Promise<void> {
    this.model.setPending(action);
    try {
      const reply = await this.request(action, fields);
      this._takeStatus(reply);
      this.model.setPending(null);
    } catch (error) {
      this.model.setPending(null, (error as Error).message);
      throw error;
    }
  }

  private _takeStatus(reply: Reply): void {
    if (reply.op === 'status') {
      this._pushSeq = Math.max(this._pushSeq, reply.seq);
      this.model.setStatus(reply.status);
      this._statusReceived.emit(reply.status);
    }
  }

  /** Run REGISTER_CODE; its outcome, and for 'failed' what the kernel said. */
  private async _register(
    kernel: Kernel.IKernelConnection
  ): Promise<{ outcome: 'ok' | 'missing' | 'failed'; reason: string | null }> {
    let text = '';
    const future = kernel.requestExecute(
      { code: REGISTER_CODE, silent: true, store_history: false },
      true
    );
    future.onIOPub = msg => {
      if (KernelMessage.isStreamMsg(msg)) {
        text += msg.content.text;
      }
    };
    try {
      await future.done;
    } catch (error) {
      return { outcome: 'failed', reason: String(error) };
    }
    if (text.includes('taskscope:ok')) {
      return { outcome: 'ok', reason: null };
    }
    if (text.includes('taskscope:missing')) {
      return { outcome: 'missing', reason: null };
    }
    console.warn('taskscope could not load in the kernel:', text);
    const said = text.split('taskscope:failed:')[1] ?? text;
    return { outcome: 'failed', reason: said.trim() || 'no reason given' };
  }

  private _onMessage(comm: Kernel.IComm, msg: KernelMessage.ICommMsgMsg): void {
    if (comm !== this._comm) {
      return; // a late message on a comm we already left
    }
    const reply = parseReply(msg.content.data);
    if (!reply) {
      console.warn('taskscope: ignoring a malformed message', msg.content.data);
      return;
    }
    const waiting = reply.id !== undefined ? this._pending.get(reply.id) : undefined;
    if (waiting && reply.id !== undefined) {
      this._pending.delete(reply.id);
      if (reply.op === 'error') {
        waiting.reject(new TaskscopeError(reply.message));
      } else {
        waiting.resolve(reply);
      }
    }
    switch (reply.op) {
      case 'hello':
        this._onHello(reply);
        break;
      case 'status':
        if (reply.id === undefined) {
          this._onPush(reply);
        }
        break;
      case 'error':
        if (!waiting) {
          console.warn('taskscope kernel error:', reply.message);
        }
        break;
    }
  }

  private _onHello(hello: IHelloReply): void {
    this._pushSeq = hello.seq ?? 0;
    if (hello.status) {
      this.model.setStatus(hello.status);
    } else {
      this.model.setState(hello.recording ? 'recording' : 'stopped');
    }
    const first = !this._helloSeen;
    this._helloSeen = true;
    if (first) {
      this._opened.emit(hello);
      if (!hello.recording && this._settings().autoStart) {
        this.start().catch(error => console.warn('taskscope autoStart:', error));
      }
    }
  }

  private _onPush(reply: IStatusReply): void {
    const missed = reply.seq > this._pushSeq + 1 && this._helloSeen;
    this._takeStatus(reply);
    if (missed) {
      // the push carries the whole state, but ask once so nothing stays stale
      this.refresh().catch(() => undefined);
    }
  }

  /**
   * Close the comm as its carrier leaves. The kernel keeps a comm until it gets a
   * comm_close, and the carrier may not deliver one: over a disposed connection JupyterLab's
   * comm refuses to close (it throws), and a connection whose websocket is down queues the
   * message only to drop it when it is disposed. Then the comm_close goes over `via`,
   * another connection to the same kernel (the kernel takes it from any of them).
   */
  private _closeLeaving(reason: string, via: Kernel.IKernelConnection | null): void {
    const comm = this._comm;
    const carrier = this._kernel;
    const delivers =
      carrier !== null && !carrier.isDisposed && carrier.connectionStatus === 'connected';
    if ((this._closeComm(reason) && delivers) || !comm || !carrier) {
      return;
    }
    if (!via || via === carrier || via.isDisposed || via.id !== carrier.id) {
      return;
    }
    try {
      via.sendShellMessage(
        KernelMessage.createMessage<KernelMessage.ICommCloseMsg<'shell'>>({
          msgType: 'comm_close',
          channel: 'shell',
          session: via.clientId,
          username: via.username,
          content: { comm_id: comm.commId, data: {} }
        })
      );
    } catch (error) {
      console.warn('taskscope could not close its comm:', error);
    }
  }

  /** Forget the comm and close it; whether a comm_close was sent (or queued). */
  private _closeComm(reason: string): boolean {
    const comm = this._comm;
    this._comm = null;
    this._helloSeen = false;
    this._rejectAll(reason);
    if (comm && !comm.isDisposed) {
      try {
        comm.close();
        return true;
      } catch {
        // its connection is disposed (see _closeLeaving) or the kernel is gone
      }
    }
    return false;
  }

  private _rejectAll(reason: string): void {
    for (const waiting of this._pending.values()) {
      waiting.reject(new TaskscopeError(reason));
    }
    this._pending.clear();
  }

  private _settings: () => IBridgeSettings;
  private _kernel: Kernel.IKernelConnection | null = null;
  private _comm: Kernel.IComm | null = null;
  private _helloSeen = false;
  private _pushSeq = 0;
  private _nextId = 0;
  private _pending = new Map<number, PromiseDelegate<Reply>>();
  private _isDisposed = false;
  private _pendingRestart = false;
  private _opened = new Signal<this, IHelloReply>(this);
  private _statusReceived = new Signal<this, IStatus>(this);
}
