/**
 * A notebook's kernel connection over the test's wire client: what the kernel session
 * (src/session.ts) uses of JupyterLab's Kernel.IKernelConnection (status signals, silent
 * execute with IOPub, comms) made from a KernelClient of its own, as each JupyterLab
 * session has a websocket of its own. There is no jupyter_server here, so the session
 * meets the real ipykernel and taskscope's real comm target.
 *
 * Like JupyterLab's connection, it reports every IOPub status and routes comm messages to
 * the comms it opened; when its notebook restarts the kernel (`restarting()`) it reports
 * 'restarting', drops its comms and holds what it sends until the new process is up
 * (`restarted()`), as JupyterLab queues messages until the restarted kernel answers.
 */
import * as crypto from 'crypto';

import { Kernel, KernelMessage } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';

import { IMessage, KernelClient } from './wire';

type Data = { [key: string]: unknown };

/** What the session sees of a kernel message (the wire's message has these fields). */
function asKernelMessage<T extends KernelMessage.IMessage>(msg: IMessage): T {
  return msg as unknown as T;
}

export class WireComm {
  constructor(connection: WireConnection, target: string) {
    this._connection = connection;
    this.targetName = target;
  }

  readonly commId = crypto.randomUUID();
  readonly targetName: string;
  onMsg: ((msg: KernelMessage.ICommMsgMsg) => void) | null = null;
  onClose: ((msg: KernelMessage.ICommCloseMsg) => void) | null = null;
  isDisposed = false;

  open(data: Data): void {
    this._connection.send('comm_open', {
      comm_id: this.commId,
      target_name: this.targetName,
      data
    });
  }

  send(data: Data): void {
    if (this.isDisposed) {
      throw new Error('Comm is closed');
    }
    this._connection.send('comm_msg', { comm_id: this.commId, data });
  }

  close(): void {
    if (!this.isDisposed) {
      this.isDisposed = true;
      this._connection.send('comm_close', { comm_id: this.commId, data: {} });
    }
  }

  dispose(): void {
    this.isDisposed = true;
  }

  private _connection: WireConnection;
}

export class WireConnection {
  /**
   * A connection over `client` (one of LocalKernel.connect()'s, ready). `handleComms` as
   * JupyterLab's kernel manager sets it: only the first connection of a page to a kernel.
   */
  constructor(client: KernelClient, id: string, handleComms: boolean) {
    this.client = client;
    this.id = id;
    this.handleComms = handleComms;
    this._seen = client.iopub.length;
    // every IOPub message as it arrives, until the connection or the client closes
    client
      .until(() => this._drain(), 'the connection to close', { timeout: 2 ** 31 - 1 })
      .catch(() => undefined);
  }

  readonly client: KernelClient;
  readonly id: string;
  readonly handleComms: boolean;
  status: Kernel.Status = 'unknown';
  isDisposed = false;
  /** Comms this connection opened. */
  readonly comms: WireComm[] = [];

  get spec(): Promise<{ language: string }> {
    return Promise.resolve({ language: 'python' });
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

  /** This connection as JupyterLab's type (the part above is what the session uses). */
  get asKernel(): Kernel.IKernelConnection {
    return this as unknown as Kernel.IKernelConnection;
  }

  requestExecute(content: { code: string; silent?: boolean; store_history?: boolean }): {
    onIOPub: ((msg: KernelMessage.IIOPubMessage) => void) | null;
    done: Promise<KernelMessage.IExecuteReplyMsg>;
  } {
    const future = {
      onIOPub: null as ((msg: KernelMessage.IIOPubMessage) => void) | null,
      done: Promise.resolve() as unknown as Promise<KernelMessage.IExecuteReplyMsg>
    };
    future.done = new Promise<void>(resolve => this._whenOpen(resolve))
      .then(() =>
        this.client.execute(content.code, {
          silent: content.silent,
          store_history: content.store_history
        })
      )
      .then(result => {
        for (const msg of result.iopub) {
          future.onIOPub?.(asKernelMessage(msg));
        }
        return asKernelMessage<KernelMessage.IExecuteReplyMsg>(result.reply);
      });
    return future;
  }

  createComm(target: string): WireComm {
    if (!this.handleComms) {
      throw new Error('Comms are disabled on this kernel connection'); // as JupyterLab
    }
    const comm = new WireComm(this, target);
    this.comms.push(comm);
    this._comms.set(comm.commId, comm);
    return comm;
  }

  /** What JupyterLab's connection does when its notebook restarts the kernel. */
  restarting(): void {
    this._setStatus('restarting');
    for (const comm of this._comms.values()) {
      comm.dispose();
    }
    this._comms.clear();
    this._held ??= [];
  }

  /** The restarted kernel is up: the websocket reconnects and sends what it held. */
  restarted(): void {
    const held = this._held ?? [];
    this._held = null;
    this._connectionStatusChanged.emit('connecting');
    this._connectionStatusChanged.emit('connected');
    held.forEach(send => send());
  }

  /** Send on shell (comms and all), as JupyterLab does; a closed client sends nothing. */
  send(msgType: string, content: Data): void {
    this._whenOpen(() => {
      if (!this.isDisposed) {
        this.client.send('shell', msgType, content).catch(() => undefined);
      }
    });
  }

  /** Run now, or once a restart is over. */
  private _whenOpen(send: () => void): void {
    if (this._held) {
      this._held.push(send);
    } else {
      send();
    }
  }

  dispose(): void {
    if (!this.isDisposed) {
      this.isDisposed = true;
      this._disposed.emit();
    }
  }

  /** Take the IOPub messages not seen yet; true once there is nothing more to wait for. */
  private _drain(): boolean {
    const messages = this.client.iopub;
    for (; this._seen < messages.length && !this.isDisposed; this._seen++) {
      const msg = messages[this._seen];
      const type = msg.header.msg_type;
      if (type === 'status') {
        this._setStatus(msg.content.execution_state);
      } else if (type === 'comm_msg' || type === 'comm_close') {
        const comm = this._comms.get(msg.content.comm_id);
        if (comm && !comm.isDisposed) {
          if (type === 'comm_msg') {
            comm.onMsg?.(asKernelMessage(msg));
          } else {
            comm.isDisposed = true;
            comm.onClose?.(asKernelMessage(msg));
          }
        }
      }
      // after handling, as JupyterLab emits it
      this._iopubMessage.emit(asKernelMessage(msg));
    }
    return this.isDisposed;
  }

  private _setStatus(status: Kernel.Status): void {
    this.status = status;
    this._statusChanged.emit(status);
  }

  private _seen: number;
  private _held: (() => void)[] | null = null;
  private _comms = new Map<string, WireComm>();
  private _statusChanged = new Signal<this, Kernel.Status>(this);
  private _iopubMessage = new Signal<this, KernelMessage.IIOPubMessage>(this);
  private _connectionStatusChanged = new Signal<this, Kernel.ConnectionStatus>(this);
  private _disposed = new Signal<this, void>(this);
}
