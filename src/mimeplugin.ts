/**
 * The mime extension module (package.json `jupyterlab.mimeExtension`): JupyterLab loads
 * it apart from the plugin list in index.ts and registers its renderer for
 * `application/vnd.taskscope.table+json` with every rendermime registry.
 */
import { IRenderMime } from '@jupyterlab/rendermime-interfaces';

import { rendererFactory } from './mimerender';

const extension: IRenderMime.IExtension = {
  id: 'jupyterlab-taskscope:table',
  description: 'Renders taskscope datasets inline: a table with level colours, sorting and a quick filter.',
  rendererFactory,
  // before text/html, which the same output also carries for other front ends
  rank: 10,
  dataType: 'json'
};

export default extension;
