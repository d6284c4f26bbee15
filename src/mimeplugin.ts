/**
 * The mime extension module (package.json `jupyterlab.mimeExtension`): JupyterLab loads
 * it apart from the plugin list in index.ts and registers its renderers with every
 * rendermime registry: the inline table (`application/vnd.taskscope.table+json`) and the
 * inline action tree (`application/vnd.taskscope.tree+json`).
 */
import { IRenderMime } from '@jupyterlab/rendermime-interfaces';

import { rendererFactory } from './mimerender';
import { treeRendererFactory } from './treerender';

const extensions: IRenderMime.IExtension[] = [
  {
    id: 'jupyterlab-taskscope:table',
    description: 'Renders taskscope datasets inline: a table with level colours, sorting and a quick filter.',
    rendererFactory,
    // before text/html, which the same output also carries for other front ends
    rank: 10,
    dataType: 'json'
  },
  {
    id: 'jupyterlab-taskscope:tree',
    description: 'Renders taskscope action trees inline: collapsible, with status, duration and inputs.',
    rendererFactory: treeRendererFactory,
    rank: 10,
    dataType: 'json'
  }
];

export default extensions;
