/**
 * One notebook kernel's end of the comm bridge.
 *
 * It makes sure the kernel can answer (a silent execute registers the comm target),
 * opens the comm, sends requests matched to their replies by `id`, and turns status
 * into state on a model. A kernel restart or change throws comms away, so it
 * reconnects on each (as ipywidgets' manager does).
 */
import { ISessionContext } from '@jupyterlab/apputils';
import { Kernel, KernelMessage } from '@jupyterlab/services';
import { PromiseDelegate } from '@lumino/coreutils';
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { TaskscopeModel } from './model';
import {
  COMM_TARGET,
  IQuery,
  IRowsReply,
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
    sessionContext: ISessionContext,
    model: TaskscopeModel,
    settings: () => IBridgeSettings = () => DEFAULT_BRIDGE_SETTINGS
  ) {
    this.sessionContext = sessionContext;
    this.model = model;
    this._settings = settings;
    sessionContext.kernelChanged.connect(this._onKernelChanged, this);
    sessionContext.statusChanged.connect(this._onStatusChanged, this);
    sessionContext.connectionStatusChanged.connect(
      this._onConnectionStatusChanged,
      this
    );
    void this.connect();
  }

  readonly model: TaskscopeModel;
  readonly sessionContext: ISessionContext;

  /** Emitted when a comm opens on a kernel (first time, after a restart or a change). */
  get connected(): ISignal<this, void> {
    return this._connected;
  }

  get isConnected(): boolean {
    return this._comm !== null && this._helloSeen;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
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
    const kernel = this.sessionContext.session?.kernel;
    this._closeComm('reconnecting');
    if (!kernel) {
      this.model.setState('no-kernel');
      return;
    }
    const spec = await kernel.spec;
    if (spec && spec.language && spec.language.toLowerCase() !== 'python') {
      this.model.setState('unsupported');
      return;
    }
    this.model.setState('connecting');
    this.model.setPending(null); // what failed on the last kernel says nothing of this one
    const { outcome, reason } = await this._register(kernel);
    if (this._isDisposed || kernel !== this.sessionContext.session?.kernel) {
      return;
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
        this._onHello(reply.recording, reply.seq ?? 0, reply.status);
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

  private _onHello(recording: boolean, seq: number, status?: IStatusReply['status']): void {
    this._pushSeq = seq;
    if (status) {
      this.model.setStatus(status);
    } else {
      this.model.setState(recording ? 'recording' : 'stopped');
    }
    const first = !this._helloSeen;
    this._helloSeen = true;
    if (first) {
      this._connected.emit();
      if (!recording && this._settings().autoStart) {
        this.start().catch(error => console.warn('taskscope autoStart:', error));
      }
    }
  }

  private _onPush(reply: IStatusReply): void {
    const missed = reply.seq > this._pushSeq + 1 && this._helloSeen;
    this._pushSeq = Math.max(this._pushSeq, reply.seq);
    this.model.setStatus(reply.status);
    if (missed) {
      // the push carries the whole state, but ask once so nothing stays stale
      this.refresh().catch(() => undefined);
    }
  }

  private _onKernelChanged(): void {
    void this.connect();
  }

  private _onStatusChanged(_: ISessionContext, status: Kernel.Status): void {
    if (status === 'restarting' || status === 'autorestarting') {
      this._closeComm('the kernel restarted');
      this.model.setState('connecting');
      this._pendingRestart = true;
    } else if (status === 'idle' && this._pendingRestart) {
      this._pendingRestart = false;
      void this.connect();
    }
  }

  private _onConnectionStatusChanged(
    _: ISessionContext,
    status: Kernel.ConnectionStatus
  ): void {
    if (status === 'connected' && !this._comm && !this._pendingRestart) {
      void this.connect();
    }
  }

  private _closeComm(reason: string): void {
    const comm = this._comm;
    this._comm = null;
    this._helloSeen = false;
    this._rejectAll(reason);
    if (comm && !comm.isDisposed) {
      try {
        comm.close();
      } catch {
        // the kernel is gone already; nothing to tell it
      }
    }
  }

  private _rejectAll(reason: string): void {
    for (const waiting of this._pending.values()) {
      waiting.reject(new TaskscopeError(reason));
    }
    this._pending.clear();
  }

  private _settings: () => IBridgeSettings;
  private _comm: Kernel.IComm | null = null;
  private _helloSeen = false;
  private _pushSeq = 0;
  private _nextId = 0;
  private _pending = new Map<number, PromiseDelegate<Reply>>();
  private _isDisposed = false;
  private _pendingRestart = false;
  private _connected = new Signal<this, void>(this);
}
