/**
 * One kernel bridge per notebook panel, and which one is current: the token other
 * plugins (toolbar, status bar, commands, log panel) ask for.
 */
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { Token } from '@lumino/coreutils';
import { ISignal, Signal } from '@lumino/signaling';

import { IBridgeSettings, KernelBridge } from './bridge';
import { TaskscopeModel } from './model';

export interface ITaskscopeTracker {
  /** The bridge of a notebook panel, made on first request and disposed with the panel. */
  bridgeFor(panel: NotebookPanel): KernelBridge;
  /** The bridge of the current notebook, if any. */
  readonly current: KernelBridge | null;
  /** Emitted when the current notebook changes. */
  readonly currentChanged: ISignal<ITaskscopeTracker, KernelBridge | null>;
}

export const ITaskscopeTracker = new Token<ITaskscopeTracker>(
  'jupyterlab-taskscope:ITaskscopeTracker',
  'The taskscope kernel bridge of each notebook panel.'
);

export class TaskscopeTracker implements ITaskscopeTracker {
  constructor(notebooks: INotebookTracker, settings: () => IBridgeSettings) {
    this._notebooks = notebooks;
    this._settings = settings;
    notebooks.widgetAdded.connect((_, panel) => this.bridgeFor(panel));
    notebooks.currentChanged.connect(() =>
      this._currentChanged.emit(this.current)
    );
  }

  bridgeFor(panel: NotebookPanel): KernelBridge {
    let bridge = this._bridges.get(panel);
    if (!bridge) {
      bridge = new KernelBridge(
        panel.sessionContext,
        new TaskscopeModel(),
        this._settings
      );
      this._bridges.set(panel, bridge);
      panel.disposed.connect(() => {
        this._bridges.get(panel)?.dispose();
        this._bridges.delete(panel);
      });
    }
    return bridge;
  }

  get current(): KernelBridge | null {
    const panel = this._notebooks.currentWidget;
    return panel ? this.bridgeFor(panel) : null;
  }

  get currentChanged(): ISignal<this, KernelBridge | null> {
    return this._currentChanged;
  }

  private _notebooks: INotebookTracker;
  private _settings: () => IBridgeSettings;
  private _bridges = new Map<NotebookPanel, KernelBridge>();
  private _currentChanged = new Signal<this, KernelBridge | null>(this);
}
