/**
 * The kernel sessions, keyed by kernel id, and which one each user (a notebook) is on.
 *
 * A user is followed through its session context: a restart keeps the kernel id, so the
 * user stays on its session (which resets its views); a kernel change moves the user to
 * the session of the new kernel; a session no user is on any more is disposed, closing
 * its comm.
 *
 * A user leaves when its holder is disposed, not only when it is removed: JupyterLab's
 * document manager disposes a closed notebook's session context, and with it the kernel
 * connection, before the panel's own disposal may reach us (the order of the panel's
 * `disposed` slots decides), and a disposed connection cannot send the comm_close. The
 * session context says it is disposed before it disposes its connection.
 */
import { Kernel } from '@jupyterlab/services';
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { IBridgeSettings } from './bridge';
import { KernelSession } from './session';

/** What the registry follows of a user: its session context's kernel, and its end. */
export interface IKernelHolder {
  readonly session: { readonly kernel: Kernel.IKernelConnection | null } | null;
  readonly kernelChanged: ISignal<unknown, unknown>;
  /** Emitted before the holder disposes its kernel connection (a session context does). */
  readonly disposed?: ISignal<unknown, unknown>;
}

export class KernelSessionRegistry implements IDisposable {
  constructor(options: KernelSessionRegistry.IOptions = {}) {
    this._settings = options.settings;
  }

  /** Emitted when a user moves to another session (or to none, or from none). */
  get sessionChanged(): ISignal<this, KernelSessionRegistry.IChange> {
    return this._sessionChanged;
  }

  /** The sessions, one per kernel in use. */
  get sessions(): KernelSession[] {
    return Array.from(this._sessions.values());
  }

  /** The session of a kernel, if a user is on it. */
  get(kernelId: string): KernelSession | undefined {
    return this._sessions.get(kernelId);
  }

  /** The session a user is on now; null while its holder has no kernel. */
  sessionOf(user: object): KernelSession | null {
    return this._of.get(user) ?? null;
  }

  /** Whether a user is followed. */
  has(user: object): boolean {
    return this._holders.has(user);
  }

  /** Follow a user: on its kernel's session now and after every kernel change. */
  add(user: object, holder: IKernelHolder): void {
    if (this._isDisposed || this._holders.has(user)) {
      return;
    }
    const onKernelChanged = () => this._update(user);
    const onDisposed = () => this.remove(user);
    this._holders.set(user, { holder, onKernelChanged, onDisposed });
    holder.kernelChanged.connect(onKernelChanged);
    holder.disposed?.connect(onDisposed);
    this._update(user);
  }

  /** Stop following a user (its notebook closed; also when its holder is disposed). */
  remove(user: object): void {
    const entry = this._holders.get(user);
    if (!entry) {
      return;
    }
    entry.holder.kernelChanged.disconnect(entry.onKernelChanged);
    entry.holder.disposed?.disconnect(entry.onDisposed);
    this._holders.delete(user);
    this._move(user, null);
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    for (const user of Array.from(this._holders.keys())) {
      this.remove(user);
    }
    Signal.clearData(this);
  }

  private _update(user: object): void {
    const entry = this._holders.get(user);
    if (!entry) {
      return;
    }
    const kernel = entry.holder.session?.kernel ?? null;
    let session: KernelSession | null = null;
    if (kernel && !kernel.isDisposed) {
      session = this._sessions.get(kernel.id) ?? null;
      if (!session) {
        session = new KernelSession({ kernelId: kernel.id, settings: this._settings });
        this._sessions.set(kernel.id, session);
      }
      session.attach(user, kernel);
    }
    this._move(user, session);
  }

  private _move(user: object, session: KernelSession | null): void {
    const previous = this._of.get(user) ?? null;
    if (session) {
      this._of.set(user, session);
    } else {
      this._of.delete(user);
    }
    if (previous === session) {
      return;
    }
    // views follow the user to its new session before the old one may go
    this._sessionChanged.emit({ user, session, previous });
    if (previous) {
      previous.detach(user);
      if (previous.userCount === 0) {
        this._sessions.delete(previous.kernelId);
        previous.dispose();
      }
    }
  }

  private _settings: (() => IBridgeSettings) | undefined;
  private _holders = new Map<
    object,
    { holder: IKernelHolder; onKernelChanged: () => void; onDisposed: () => void }
  >();
  private _of = new Map<object, KernelSession>();
  private _sessions = new Map<string, KernelSession>();
  private _isDisposed = false;
  private _sessionChanged = new Signal<this, KernelSessionRegistry.IChange>(this);
}

export namespace KernelSessionRegistry {
  export interface IOptions {
    /** The user's settings, read when they are needed (autoStart, start() options). */
    settings?: () => IBridgeSettings;
  }

  /** A user's move between sessions. */
  export interface IChange {
    readonly user: object;
    /** The session it is on now; null: its notebook has no kernel (or closed). */
    readonly session: KernelSession | null;
    readonly previous: KernelSession | null;
  }
}
