/**
 * The plugins: the tracker (a kernel session per kernel, settings), the toolbar item
 * declared in settings (`jupyter.lab.toolbars`), the status bar item and the commands.
 */
import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, IToolbarWidgetRegistry } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar } from '@jupyterlab/statusbar';

import { addCommands, CommandIDs } from './commands';
import { SettingsModel } from './settings';
import { StatusView } from './statusview';
import { TaskscopeToolbarItem, TOOLBAR_ITEM_NAME } from './toolbar';
import { ITaskscopeTracker, TaskscopeTracker } from './tracker';

export const PLUGIN_ID = 'jupyterlab-taskscope:plugin';

/** The settings shared by every taskscope view; filled when the registry answers. */
const settings = new SettingsModel();
const refreshRate = () => settings.values.statusRefreshRate;

export const trackerPlugin: JupyterFrontEndPlugin<ITaskscopeTracker> = {
  id: PLUGIN_ID,
  description:
    "One taskscope kernel session per kernel, shared by its notebooks, following the user's settings.",
  autoStart: true,
  provides: ITaskscopeTracker,
  requires: [INotebookTracker],
  optional: [ISettingRegistry],
  activate: (
    _app: JupyterFrontEnd,
    notebooks: INotebookTracker,
    registry: ISettingRegistry | null
  ) => {
    if (registry) {
      registry
        .load(PLUGIN_ID)
        .then(loaded => settings.follow(loaded))
        .catch(error => console.warn('taskscope settings:', error));
    }
    return new TaskscopeTracker(notebooks, () => settings.bridgeSettings());
  }
};

export const toolbarPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyterlab-taskscope:toolbar',
  description: 'The notebook toolbar toggle with live counts.',
  autoStart: true,
  requires: [IToolbarWidgetRegistry, ITaskscopeTracker],
  activate: (
    _app: JupyterFrontEnd,
    toolbarRegistry: IToolbarWidgetRegistry,
    tracker: ITaskscopeTracker
  ) => {
    toolbarRegistry.addFactory<NotebookPanel>('Notebook', TOOLBAR_ITEM_NAME, panel => {
      const item = new TaskscopeToolbarItem(tracker.sessionFor(panel), refreshRate);
      const follow = (_: ITaskscopeTracker, change: ITaskscopeTracker.ISessionChange) => {
        if (change.panel === panel) {
          item.setTarget(change.session);
        }
      };
      tracker.sessionChanged.connect(follow);
      item.disposed.connect(() => tracker.sessionChanged.disconnect(follow));
      return item;
    });
  }
};

export const statusBarPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyterlab-taskscope:statusbar',
  description: "The current notebook's taskscope figures in the status bar.",
  autoStart: true,
  requires: [ITaskscopeTracker],
  optional: [IStatusBar],
  activate: (
    app: JupyterFrontEnd,
    tracker: ITaskscopeTracker,
    statusBar: IStatusBar | null
  ) => {
    if (!statusBar) {
      return;
    }
    const item = new StatusView({ refreshRate, tag: 'button' });
    item.addClass('jp-taskscope-StatusItem');
    item.node.addEventListener('click', () => {
      if (app.commands.hasCommand(CommandIDs.openPanel)) {
        void app.commands.execute(CommandIDs.openPanel);
      } else {
        void app.commands.execute('apputils:activate-command-palette', {
          searchText: 'Task Logs'
        });
      }
    });
    tracker.currentChanged.connect((_, session) => item.setModel(session?.model ?? null));
    item.setModel(tracker.current?.model ?? null);
    statusBar.registerStatusItem('jupyterlab-taskscope:status', {
      item,
      align: 'left',
      rank: 4,
      isActive: () => tracker.currentNotebook !== null
    });
  }
};

export const commandsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyterlab-taskscope:commands',
  description: 'Start, stop, toggle and clear recording from the palette.',
  autoStart: true,
  requires: [ITaskscopeTracker],
  optional: [ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    tracker: ITaskscopeTracker,
    palette: ICommandPalette | null
  ) => addCommands(app, tracker, palette)
};
