/**
 * jsdom has no canvas: @lumino/datagrid asks for a 2D context when it loads (to measure
 * text) and jsdom logs "Not implemented" for it. Import this first in specs that load the
 * datagrid; the models under test never draw.
 */
HTMLCanvasElement.prototype.getContext = (() =>
  null) as unknown as HTMLCanvasElement['getContext'];
