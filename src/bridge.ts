/**
 * One notebook kernel's end of the comm bridge.
 *
 * It makes sure the kernel can answer (a silent execute registers the comm target),
 * opens the comm, and turns replies into state on a model. A kernel restart or change
 * throws comms away, so it reconnects on each (as ipywidgets' manager does).
 */
import { ISessionContext } from '@jupyterlab/apputils';
import { Kernel, KernelMessage } from '@jupyterlab/services';
import { IDisposable } from '@lumino/disposable';
import { Signal } from '@lumino/signaling';

import { COMM_TARGET, parseReply, PROTOCOL_VERSION, Reply } from './protocol';
import { TaskscopeModel } from './model';

/**
 * The code that registers the comm target. It prints `taskscope:ok`, `taskscope:missing`
 * (the package is not installed in this kernel) or `taskscope:failed:<reason>` (installed
 * but broken: telling the user to pip install it would mislead).
 */
export const REGISTER_CODE = [
  'try:',
  '    import taskscope.bridge as _taskscope_bridge',
  '    _taskscope_bridge.register()',
  "    print('taskscope:ok', end='')",
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

export class KernelBridge implements IDisposable {
  constructor(sessionContext: ISessionContext, model: TaskscopeModel) {
    this._sessionContext = sessionContext;
    this.model = model;
    sessionContext.kernelChanged.connect(this._onKernelChanged, this);
    sessionContext.statusChanged.connect(this._onStatusChanged, this);
    sessionContext.connectionStatusChanged.connect(
      this._onConnectionStatusChanged,
      this
    );
    void this.connect();
  }

  readonly model: TaskscopeModel;

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** Register the target in the kernel and open a comm to it. */
  async connect(): Promise<void> {
    const kernel = this._sessionContext.session?.kernel;
    this._closeComm();
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
    const outcome = await this._register(kernel);
    if (this._isDisposed || kernel !== this._sessionContext.session?.kernel) {
      return;
    }
    if (outcome !== 'ok') {
      this.model.setState(outcome);
      return;
    }
    const comm = kernel.createComm(COMM_TARGET);
    comm.onMsg = msg => this._onMessage(msg);
    comm.onClose = () => {
      if (this._comm === comm) {
        this._comm = null;
      }
    };
    this._comm = comm;
    comm.open({ op: 'hello', version: PROTOCOL_VERSION });
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._closeComm();
    Signal.clearData(this);
  }

  private async _register(
    kernel: Kernel.IKernelConnection
  ): Promise<'ok' | 'missing' | 'failed'> {
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
    } catch {
      return 'failed';
    }
    if (text.includes('taskscope:ok')) {
      return 'ok';
    }
    return text.includes('taskscope:missing') ? 'missing' : 'failed';
  }

  private _onMessage(msg: KernelMessage.ICommMsgMsg): void {
    const reply: Reply | null = parseReply(msg.content.data);
    if (!reply) {
      console.warn('taskscope: ignoring a malformed message', msg.content.data);
      return;
    }
    if (reply.op === 'hello') {
      this.model.setState(reply.recording ? 'recording' : 'stopped');
    } else if (reply.op === 'status') {
      this.model.setState(reply.status.recording ? 'recording' : 'stopped');
    } else if (reply.op === 'error') {
      console.warn('taskscope kernel error:', reply.message);
    }
  }

  private _onKernelChanged(): void {
    void this.connect();
  }

  private _onStatusChanged(_: ISessionContext, status: Kernel.Status): void {
    if (status === 'restarting' || status === 'autorestarting') {
      this._closeComm();
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
    if (status === 'connected' && !this._comm) {
      void this.connect();
    }
  }

  private _closeComm(): void {
    const comm = this._comm;
    this._comm = null;
    if (comm && !comm.isDisposed) {
      try {
        comm.close();
      } catch {
        // the kernel is gone already; nothing to tell it
      }
    }
  }

  private _sessionContext: ISessionContext;
  private _comm: Kernel.IComm | null = null;
  private _isDisposed = false;
  private _pendingRestart = false;
}
