/**
 * Which kernel session each notebook panel is on, and the current notebook's: the token
 * the other plugins (toolbar item, status bar, commands, log panel) ask for. Notebooks on
 * one kernel share its KernelSession (src/registry.ts).
 */
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { Token } from '@lumino/coreutils';
import { ISignal, Signal } from '@lumino/signaling';

import { IBridgeSettings } from './bridge';
import { KernelSessionRegistry } from './registry';
import { KernelSession } from './session';

export interface ITaskscopeTracker {
  /** The kernel session of a notebook panel now; null while it has no kernel. */
  sessionFor(panel: NotebookPanel): KernelSession | null;
  /** Emitted when a notebook moves to another kernel session (a kernel change). */
  readonly sessionChanged: ISignal<ITaskscopeTracker, ITaskscopeTracker.ISessionChange>;
  /** The current notebook, if any. */
  readonly currentNotebook: NotebookPanel | null;
  /** The kernel session of the current notebook, if it has one. */
  readonly current: KernelSession | null;
  /** Emitted when the current notebook or its kernel session changes. */
  readonly currentChanged: ISignal<ITaskscopeTracker, KernelSession | null>;
  /** The sessions by kernel id. */
  readonly registry: KernelSessionRegistry;
}

export namespace ITaskscopeTracker {
  export interface ISessionChange {
    readonly panel: NotebookPanel;
    readonly session: KernelSession | null;
  }
}

export const ITaskscopeTracker = new Token<ITaskscopeTracker>(
  'jupyterlab-taskscope:ITaskscopeTracker',
  'The taskscope kernel session of each notebook panel, one per kernel.'
);

export class TaskscopeTracker implements ITaskscopeTracker {
  constructor(notebooks: INotebookTracker, settings: () => IBridgeSettings) {
    this._notebooks = notebooks;
    this.registry = new KernelSessionRegistry({ settings });
    this.registry.sessionChanged.connect(this._onSessionChanged, this);
    notebooks.widgetAdded.connect((_, panel) => this._follow(panel));
    notebooks.currentChanged.connect(() => this._currentChanged.emit(this.current));
  }

  readonly registry: KernelSessionRegistry;

  sessionFor(panel: NotebookPanel): KernelSession | null {
    // the toolbar item is made before the tracker hears of the panel
    this._follow(panel);
    return this.registry.sessionOf(panel);
  }

  get sessionChanged(): ISignal<this, ITaskscopeTracker.ISessionChange> {
    return this._sessionChanged;
  }

  get currentNotebook(): NotebookPanel | null {
    return this._notebooks.currentWidget;
  }

  get current(): KernelSession | null {
    const panel = this._notebooks.currentWidget;
    return panel ? this.sessionFor(panel) : null;
  }

  get currentChanged(): ISignal<this, KernelSession | null> {
    return this._currentChanged;
  }

  private _follow(panel: NotebookPanel): void {
    if (this.registry.has(panel) || panel.isDisposed) {
      return;
    }
    this.registry.add(panel, panel.sessionContext);
    panel.disposed.connect(() => this.registry.remove(panel));
  }

  private _onSessionChanged(
    _: KernelSessionRegistry,
    change: KernelSessionRegistry.IChange
  ): void {
    const panel = change.user as NotebookPanel;
    this._sessionChanged.emit({ panel, session: change.session });
    if (panel === this._notebooks.currentWidget) {
      this._currentChanged.emit(change.session);
    }
  }

  private _notebooks: INotebookTracker;
  private _sessionChanged = new Signal<this, ITaskscopeTracker.ISessionChange>(this);
  private _currentChanged = new Signal<this, KernelSession | null>(this);
}
