/**
 * jupyterlab-taskscope: the list of plugins. Wiring only; each plugin lives in its own module.
 */
import { JupyterFrontEndPlugin } from '@jupyterlab/application';

import {
  commandsPlugin,
  statusBarPlugin,
  toolbarPlugin,
  trackerPlugin
} from './plugins';
import { panelPlugin } from './panel/plugin';

const plugins: JupyterFrontEndPlugin<any>[] = [
  trackerPlugin,
  toolbarPlugin,
  statusBarPlugin,
  commandsPlugin,
  panelPlugin
];

export default plugins;
