/**
 * One kernel's taskscope session on the front end: one object per kernel id, shared by
 * every notebook on that kernel (as ipywidgets keys its managers by kernel id), so two
 * notebooks on one kernel share one comm.
 *
 * It owns the comm bridge and the status model, and turns what the kernel says (hello,
 * status pushes and replies, a clear, a restart, a new store session) into two typed
 * signals views follow: `rowsAppended` (new rows up to a seq: tail them) and `reset`
 * (what a view holds may be wrong: index again). It also answers the row ops (query,
 * index, actions) the log panel pages with.
 *
 * Each notebook on the kernel has its own kernel connection (its own websocket); the comm
 * goes over one of them, the carrier. JupyterLab lets one connection per kernel handle
 * comms (the first; a second handler would close comms the kernel opens for others, such
 * as widgets), so the carrier is a notebook connection that handles comms, never one made
 * here. When it leaves, the comm moves to another that does, or the session says why
 * there is none until a notebook that can carry it comes. A restart seen on any
 * connection closes the comm; it opens again once the new kernel process reports idle
 * (each process stamps its messages with its own session: the old one's last words still
 * arrive after a restart began), and views get reset('restart').
 */
import { Kernel, KernelMessage } from '@jupyterlab/services';
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { DEFAULT_BRIDGE_SETTINGS, IBridgeSettings, KernelBridge } from './bridge';
import { TaskscopeModel } from './model';
import { ILiveRowSource, IReset, IRowsAppended, ResetReason } from './rowsource';
import {
  IActionsQuery,
  IActionsReply,
  IHelloReply,
  IIndexQuery,
  IIndexReply,
  IQuery,
  IRowsReply,
  IStatus
} from './protocol';

/** Why a session has no comm while notebooks are on its kernel (the 'no-comms' state). */
export const NO_COMMS =
  'JupyterLab lets one connection per kernel handle comms, and no notebook on this kernel ' +
  'has it (the one that had it closed): reopen this notebook to use taskscope here';

export class KernelSession implements IDisposable, ILiveRowSource {
  constructor(options: KernelSession.IOptions) {
    this.kernelId = options.kernelId;
    this.model = new TaskscopeModel();
    this._bridge = new KernelBridge(
      this.model,
      options.settings ?? (() => DEFAULT_BRIDGE_SETTINGS)
    );
    this._bridge.opened.connect(this._onOpened, this);
    this._bridge.statusReceived.connect((_, status) => this._take(status, null), this);
  }

  /** The kernel this session belongs to. */
  readonly kernelId: string;

  /** The kernel's state and last status, for toolbar item, status bar and panel. */
  readonly model: TaskscopeModel;

  /** Emitted when new rows were stored: views tail them. */
  get rowsAppended(): ISignal<this, IRowsAppended> {
    return this._rowsAppended;
  }

  /** Emitted when what a view holds may be wrong: views index again. */
  get reset(): ISignal<this, IReset> {
    return this._reset;
  }

  /** Emitted once, when the session is disposed (no notebook uses the kernel any more). */
  get disposed(): ISignal<this, void> {
    return this._disposed;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** Whether a comm is open and the kernel has said hello on it. */
  get isConnected(): boolean {
    return this._bridge.isConnected;
  }

  /** The newest seq the kernel reported (0 before any). */
  get lastSeq(): number {
    return this._lastSeq;
  }

  /** How many users (notebooks) the session has. */
  get userCount(): number {
    return this._users.size;
  }

  /** The connection the comm goes over (the carrier), if any. */
  get carrier(): Kernel.IKernelConnection | null {
    return this._bridge.kernel;
  }

  /**
   * A user (a notebook) on this kernel, through its own connection. The first one
   * carries the comm; another one does once it leaves.
   */
  attach(user: object, kernel: Kernel.IKernelConnection): void {
    if (this._isDisposed) {
      throw new Error('taskscope: the kernel session is disposed');
    }
    if (kernel.id !== this.kernelId) {
      throw new Error(`taskscope: kernel ${kernel.id} is not ${this.kernelId}`);
    }
    const previous = this._users.get(user);
    this._users.set(user, kernel);
    if (previous && previous !== kernel) {
      this._unwatchUnused(previous);
    }
    this._watch(kernel);
    this._pickCarrier();
  }

  /** A user left (its notebook closed or changed kernel). */
  detach(user: object): void {
    const kernel = this._users.get(user);
    if (!kernel) {
      return;
    }
    this._users.delete(user);
    this._unwatchUnused(kernel);
    this._pickCarrier();
  }

  /** Start recording, with the options from the settings. */
  start(): Promise<void> {
    return this._bridge.start();
  }

  stop(): Promise<void> {
    return this._bridge.stop();
  }

  /** Start when stopped, stop when recording. */
  toggle(): Promise<void> {
    return this._bridge.toggle();
  }

  /** Delete the session's rows in the kernel; views get reset('cleared'). */
  async clear(): Promise<void> {
    const before = this._resets;
    await this._bridge.clear();
    // the status in the reply usually shows it (fewer rows); when it cannot (there were
    // none, or more arrived meanwhile), say so anyway
    if (this._resets === before && !this._isDisposed) {
      this._emitReset('cleared');
    }
  }

  /** Ask the kernel for its status again. */
  refresh(): Promise<void> {
    return this._bridge.refresh();
  }

  /** One keyset page of rows. */
  query(query: IQuery): Promise<IRowsReply> {
    return this._bridge.query(query);
  }

  /** Block starts by position. */
  index(query: IIndexQuery): Promise<IIndexReply> {
    return this._bridge.index(query);
  }

  /** One page of the actions inside a parent (the panel's tree). */
  actions(query: IActionsQuery): Promise<IActionsReply> {
    return this._bridge.actions(query);
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    for (const kernel of this._watched) {
      this._unwatch(kernel);
    }
    this._users.clear();
    this._bridge.dispose();
    this._disposed.emit();
    Signal.clearData(this);
  }

  private _watch(kernel: Kernel.IKernelConnection): void {
    if (this._watched.has(kernel)) {
      return;
    }
    this._watched.add(kernel);
    kernel.statusChanged.connect(this._onKernelStatus, this);
    kernel.iopubMessage.connect(this._onIOPub, this);
    kernel.connectionStatusChanged.connect(this._onConnectionStatus, this);
    kernel.disposed.connect(this._onKernelDisposed, this);
  }

  private _unwatch(kernel: Kernel.IKernelConnection): void {
    this._watched.delete(kernel);
    kernel.statusChanged.disconnect(this._onKernelStatus, this);
    kernel.iopubMessage.disconnect(this._onIOPub, this);
    kernel.connectionStatusChanged.disconnect(this._onConnectionStatus, this);
    kernel.disposed.disconnect(this._onKernelDisposed, this);
  }

  /** Stop watching a connection no user has any more. */
  private _unwatchUnused(kernel: Kernel.IKernelConnection): void {
    for (const used of this._users.values()) {
      if (used === kernel) {
        return;
      }
    }
    this._unwatch(kernel);
  }

  /** Keep the carrier while it is usable, else move the comm to another connection. */
  private _pickCarrier(): void {
    const live = Array.from(this._users.values()).filter(k => !k.isDisposed);
    const usable = live.filter(k => k.handleComms !== false);
    const carrier = this._bridge.kernel;
    if (carrier && usable.includes(carrier)) {
      return;
    }
    this._bridge.setKernel(
      usable[0] ?? null,
      live.length > 0 ? NO_COMMS : null,
      carrier ? this._spare(carrier) : null
    );
    if (usable[0] && this._oldProcess !== null) {
      this._bridge.kernelRestarting(); // still waiting for the new process
    }
  }

  /** Another live connection to the kernel than this one, a connected one first. */
  private _spare(not: Kernel.IKernelConnection): Kernel.IKernelConnection | null {
    const others = Array.from(this._users.values()).filter(k => k !== not && !k.isDisposed);
    return others.find(k => k.connectionStatus === 'connected') ?? others[0] ?? null;
  }

  private _onKernelStatus(kernel: Kernel.IKernelConnection, status: Kernel.Status): void {
    // A restart is reported to the connection that asked for it ('restarting'), to every
    // connection when the server restarted the kernel ('autorestarting'); a connection
    // that was told neither sees the new process start.
    const restart =
      status === 'restarting' ||
      status === 'autorestarting' ||
      (status === 'starting' && this._bridge.isConnected);
    if (restart) {
      this._restarted = true;
      // wait for another process than the one last heard ('' when none was: any will do)
      this._oldProcess ??= this._process ?? '';
      this._bridge.kernelRestarting();
    }
  }

  /** Which kernel process speaks: after a restart, the new one's idle reopens the comm. */
  private _onIOPub(_: Kernel.IKernelConnection, msg: KernelMessage.IIOPubMessage): void {
    if (!KernelMessage.isStatusMsg(msg)) {
      return;
    }
    const state = msg.content.execution_state;
    const process = msg.header.session;
    if (this._oldProcess === null) {
      if (state === 'idle' || state === 'busy') {
        this._process = process; // (not 'restarting': the server says that in its own name)
      }
    } else if (state === 'idle' && process !== this._oldProcess) {
      this._oldProcess = null;
      this._process = process;
      this._bridge.kernelIdle();
    }
  }

  private _onConnectionStatus(
    kernel: Kernel.IKernelConnection,
    status: Kernel.ConnectionStatus
  ): void {
    if (status === 'connected' && kernel === this._bridge.kernel) {
      this._bridge.connectionRestored();
    }
  }

  private _onKernelDisposed(kernel: Kernel.IKernelConnection): void {
    this._unwatch(kernel);
    if (kernel === this._bridge.kernel) {
      // (JupyterLab's session connection disposes the old connection before it says the
      // kernel changed: the comm must be closed over another one, if any)
      this._bridge.carrierDisposed(this._spare(kernel));
    }
    this._pickCarrier();
  }

  private _onOpened(_: KernelBridge, hello: IHelloReply): void {
    const reason: ResetReason = this._restarted
      ? 'restart'
      : this._everOpened
        ? 'reconnected'
        : 'connected';
    this._restarted = false;
    this._everOpened = true;
    this._take(hello.status, reason);
  }

  /**
   * Take a status: a reset when the comm (re)opened, the store session changed or rows
   * went away; else new rows when the newest seq moved on.
   */
  private _take(status: IStatus | undefined, reason: ResetReason | null): void {
    if (status) {
      if (reason === null && this._known) {
        if (status.session_id !== this._sessionId) {
          reason = 'new-session';
        } else if (status.rows < this._rows) {
          reason = 'cleared';
        }
      }
      this._known = true;
      this._sessionId = status.session_id;
      this._rows = status.rows;
    }
    const last = status?.last_seq;
    if (reason !== null) {
      this._lastSeq = last ?? 0;
      this._emitReset(reason);
    } else if (last !== undefined && last > this._lastSeq) {
      this._lastSeq = last;
      this._rowsAppended.emit({ lastSeq: last });
    }
  }

  private _emitReset(reason: ResetReason): void {
    this._resets++;
    this._reset.emit({ reason });
  }

  private _bridge: KernelBridge;
  private _users = new Map<object, Kernel.IKernelConnection>();
  private _watched = new Set<Kernel.IKernelConnection>();
  /** The session (header.session) of the kernel process last heard. */
  private _process: string | null = null;
  /** While restarting: the old process, whose last words may still arrive. */
  private _oldProcess: string | null = null;
  private _isDisposed = false;
  private _everOpened = false;
  private _restarted = false;
  private _known = false;
  private _sessionId: string | null = null;
  private _rows = 0;
  private _lastSeq = 0;
  private _resets = 0;
  private _rowsAppended = new Signal<this, IRowsAppended>(this);
  private _reset = new Signal<this, IReset>(this);
  private _disposed = new Signal<this, void>(this);
}

export namespace KernelSession {
  export interface IOptions {
    kernelId: string;
    /** The user's settings, read when they are needed (autoStart, start() options). */
    settings?: () => IBridgeSettings;
  }
}
