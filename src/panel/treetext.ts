/**
 * What a line of the panel's tree shows in each column, as plain text (the grid draws it
 * on a canvas): the tree column indents by depth and shows ▸/▾, the type and a ✗ on a
 * failed action (✗ inside on one that holds a failure); a log row shows its level and message.
 */
import { humanDuration, inputsText } from '../actiontext';
import { cellText, visible } from '../text';
import type { TreeLine } from './treelines';

/** The tree's columns. */
export const TREE_COLUMNS = [
  { id: 'tree', title: 'Action' },
  { id: 'status', title: 'Status' },
  { id: 'duration', title: 'Duration' },
  { id: 'inputs', title: 'Inputs' },
  { id: 'task', title: 'Task' },
  { id: 'worker', title: 'Worker' },
  { id: 'cell', title: 'Cell' }
] as const;

export type TreeColumn = (typeof TREE_COLUMNS)[number]['id'];

/** Characters one level of the tree indents by. */
const INDENT = '   ';

/** What a line shows in a column (plain text: the grid draws it). */
export function lineText(line: TreeLine, column: TreeColumn | undefined): string {
  const indent = INDENT.repeat(line.depth);
  if (line.kind === 'pending') {
    return column === 'tree' ? `${indent}  …` : '';
  }
  if (line.kind === 'more') {
    return column === 'tree'
      ? `${indent}  … ${line.hidden.toLocaleString()} more rows (Table view: filter action)`
      : '';
  }
  if (line.kind === 'row') {
    if (column !== 'tree') {
      return '';
    }
    const row = line.row;
    return row ? `${indent}  · ${visible(row.level)}  ${cellText(row.msg)}` : `${indent}  · …`;
  }
  const node = line.node;
  switch (column) {
    case 'tree': {
      const toggle = node.children + node.rows > 0 ? (line.expanded ? '▾ ' : '▸ ') : '  ';
      const mark = node.status === 'failed' ? ' ✗' : node.failed_chain ? ' ✗ inside' : '';
      return `${indent}${toggle}${cellText(node.type || '?')}${mark}`;
    }
    case 'status':
      return visible(node.status);
    case 'duration':
      return humanDuration(node.duration);
    case 'inputs':
      return inputsText(node.fields);
    case 'task':
      return cellText(node.task);
    case 'worker':
      return cellText(node.worker);
    case 'cell':
      return cellText(node.cell);
    default:
      return '';
  }
}

/** Every column's text of a line, made once and kept on it until it changes. */
export function cellTexts(line: TreeLine): string[] {
  if (!line.cells) {
    line.cells = TREE_COLUMNS.map(column => lineText(line, column.id));
  }
  return line.cells;
}
