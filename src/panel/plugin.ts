/**
 * The log panel plugin: the `taskscope:open-panel` command (status bar item, the toolbar
 * item's context menu, the palette) opening one "Task logs" panel per notebook kernel,
 * split below its notebook, and the layout restorer bringing it back after a reload.
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  ICommandPalette,
  IThemeManager,
  WidgetTracker
} from '@jupyterlab/apputils';
import {
  INotebookTracker,
  NotebookActions,
  NotebookPanel
} from '@jupyterlab/notebook';
import { ReadonlyPartialJSONObject } from '@lumino/coreutils';

import { CommandIDs } from '../commands';
import { ITaskscopeTracker } from '../tracker';
import { IFilter } from './filter';
import { LogPanel } from './logpanel';
import { LogView } from './widget';

/** How long a restored panel waits for its notebook to be reopened. */
const RESTORE_WAIT_MS = 30000;

export const panelPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyterlab-taskscope:panel',
  description: "A panel per notebook with every row of its kernel's session.",
  autoStart: true,
  requires: [ITaskscopeTracker, INotebookTracker],
  optional: [ILayoutRestorer, ICommandPalette, IThemeManager],
  activate: (
    app: JupyterFrontEnd,
    tracker: ITaskscopeTracker,
    notebooks: INotebookTracker,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    themes: IThemeManager | null
  ) => {
    const panels = new WidgetTracker<LogPanel>({ namespace: 'taskscope-logs' });

    const open = async (args: ReadonlyPartialJSONObject): Promise<LogPanel | null> => {
      const path = typeof args.path === 'string' ? args.path : null;
      const notebook = path
        ? await findNotebook(notebooks, path)
        : notebooks.currentWidget;
      if (!notebook) {
        return null;
      }
      const existing = panels.find(panel => panel.notebookPath === notebook.context.path);
      if (existing) {
        app.shell.activateById(existing.id);
        return existing;
      }
      const content = new LogView({
        session: tracker.sessionFor(notebook),
        filter: (args.filter ?? {}) as IFilter,
        following: args.following !== false
      });
      if (args.mode === 'tree') {
        content.mode = 'tree';
      }
      const panel = new LogPanel({
        content,
        notebookPath: notebook.context.path,
        clear: async () => {
          const session = tracker.sessionFor(notebook);
          if (!session) {
            throw new Error('the notebook has no kernel');
          }
          await session.clear();
        },
        insertCode: code => insertBelow(app, notebook, code)
      });
      panel.id = `taskscope-logs-${++Private.count}`;
      // the panel shows its notebook's kernel session, whichever kernel that is
      const follow = (_: ITaskscopeTracker, change: ITaskscopeTracker.ISessionChange) => {
        if (change.panel === notebook) {
          content.setSession(change.session);
        }
      };
      tracker.sessionChanged.connect(follow);
      panel.disposed.connect(() => tracker.sessionChanged.disconnect(follow));
      notebook.disposed.connect(() => panel.dispose());
      notebook.context.pathChanged.connect((_, newPath) => {
        panel.setNotebookPath(newPath);
        void panels.save(panel);
      });
      content.filterChanged.connect(() => void panels.save(panel));
      content.modeChanged.connect(() => void panels.save(panel));
      app.shell.add(panel, 'main', { mode: 'split-bottom', ref: notebook.id });
      await panels.add(panel);
      app.shell.activateById(panel.id);
      return panel;
    };

    app.commands.addCommand(CommandIDs.openPanel, {
      label: 'Open Task Logs',
      caption: "Every row recorded in this notebook's kernel session, live",
      isEnabled: args => typeof args.path === 'string' || notebooks.currentWidget !== null,
      execute: args => open(args)
    });
    palette?.addItem({ command: CommandIDs.openPanel, category: 'Task Logs' });
    app.contextMenu.addItem({
      command: CommandIDs.openPanel,
      selector: '.jp-taskscope-ToolbarItem',
      rank: 0
    });

    if (restorer) {
      void restorer.restore(panels, {
        command: CommandIDs.openPanel,
        args: panel => ({
          path: panel.notebookPath,
          filter: panel.content.model.filter as ReadonlyPartialJSONObject,
          following: panel.content.following,
          mode: panel.content.mode
        }),
        name: panel => panel.notebookPath
      });
    }

    themes?.themeChanged.connect(() =>
      // the new theme's CSS variables apply on the next frame
      requestAnimationFrame(() =>
        panels.forEach(panel => {
          panel.content.grid.applyTheme();
          panel.content.tree?.grid.applyTheme();
        })
      )
    );
  }
};

/** The open notebook at a path, waiting a while for one being restored. */
function findNotebook(
  notebooks: INotebookTracker,
  path: string
): Promise<NotebookPanel | null> {
  const open = notebooks.find(panel => panel.context.path === path);
  if (open) {
    return Promise.resolve(open);
  }
  return new Promise(resolve => {
    const timer = setTimeout(() => {
      notebooks.widgetAdded.disconnect(onAdded);
      resolve(null);
    }, RESTORE_WAIT_MS);
    const onAdded = (_: INotebookTracker, panel: NotebookPanel) => {
      if (panel.context.path === path) {
        clearTimeout(timer);
        notebooks.widgetAdded.disconnect(onAdded);
        resolve(panel);
      }
    };
    notebooks.widgetAdded.connect(onAdded);
  });
}

/** Put code in a new cell below the notebook's active cell, and show it. */
function insertBelow(app: JupyterFrontEnd, panel: NotebookPanel, code: string): void {
  const notebook = panel.content;
  NotebookActions.insertBelow(notebook);
  notebook.activeCell?.model.sharedModel.setSource(code);
  app.shell.activateById(panel.id);
}

namespace Private {
  export let count = 0;
}
