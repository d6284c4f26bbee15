/**
 * The notebook plugin: one model and one kernel bridge per notebook panel, shown by a
 * toolbar item declared in settings (`jupyter.lab.toolbars`).
 */
import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { IToolbarWidgetRegistry } from '@jupyterlab/apputils';
import { NotebookPanel } from '@jupyterlab/notebook';

import { KernelBridge } from './bridge';
import { TaskscopeModel } from './model';
import { TaskscopeToolbarItem, TOOLBAR_ITEM_NAME } from './toolbar';

export const PLUGIN_ID = 'jupyterlab-taskscope:plugin';

export const notebookPlugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Live control of taskscope logging from the notebook toolbar.',
  autoStart: true,
  requires: [IToolbarWidgetRegistry],
  activate: (_app: JupyterFrontEnd, toolbarRegistry: IToolbarWidgetRegistry) => {
    toolbarRegistry.addFactory<NotebookPanel>(
      'Notebook',
      TOOLBAR_ITEM_NAME,
      panel => {
        const model = new TaskscopeModel();
        const bridge = new KernelBridge(panel.sessionContext, model);
        const item = new TaskscopeToolbarItem(model);
        item.disposed.connect(() => bridge.dispose());
        return item;
      }
    );
  }
};
