/**
 * jupyterlab-taskscope: the list of plugins. Wiring only; each plugin lives in its own module.
 */
import { JupyterFrontEndPlugin } from '@jupyterlab/application';

import { notebookPlugin } from './plugins';

const plugins: JupyterFrontEndPlugin<any>[] = [notebookPlugin];

export default plugins;
