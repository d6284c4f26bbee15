/**
 * A fake of the kernel's `actions` op (and `query` with `in_action`) for the tree model's
 * unit tests: a tree of IActionNode held in memory, answering pages of siblings with the
 * kernel's rules (sort by start or duration, a running action last; offset/limit;
 * total). The real op is tested in pytest (test_action_pages.py) and end to end in Galata.
 */
import { Signal } from '@lumino/signaling';

import { EMPTY_ROW } from '../../src/generated/record';
import {
  IActionNode,
  IActionsQuery,
  IActionsReply,
  IIndexReply,
  IQuery,
  IRow,
  IRowsReply
} from '../../src/protocol';
import type { IReset, IRowsAppended } from '../../src/rowsource';
import { IActionSource } from '../../src/panel/treemodel';

/** An action of the fake tree. */
export function fakeAction(action: string, parent: string, more: Partial<IActionNode> = {}): IActionNode {
  return {
    action,
    parent,
    type: `work`,
    status: 'succeeded',
    started: 1700000000,
    finished: 1700000001,
    duration: 1,
    fields: { id: action },
    result: null,
    error: '',
    task: '',
    worker: '',
    cell: '',
    hostname: 'host-a',
    pid: 1,
    thread: 'MainThread',
    seq: 1,
    children: 0,
    rows: 0,
    failed_chain: false,
    ...more
  };
}

export class FakeActions implements IActionSource {
  /** Actions by id, in the order they started. */
  readonly nodes = new Map<string, IActionNode>();
  /** Log rows directly inside each action. */
  readonly rows = new Map<string, IRow[]>();
  /** Every `actions` request. */
  readonly calls: IActionsQuery[] = [];
  readonly rowQueries: IQuery[] = [];
  isConnected = true;
  lastSeq = 0;
  readonly rowsAppended = new Signal<unknown, IRowsAppended>(this);
  readonly reset = new Signal<unknown, IReset>(this);

  /** Add an action (its parent's count follows). */
  add(node: IActionNode): IActionNode {
    this.nodes.set(node.action, node);
    const parent = this.nodes.get(node.parent);
    if (parent) {
      parent.children++;
    }
    return node;
  }

  /** Add `n` rows directly inside an action. */
  addRows(action: string, n: number): void {
    const rows = this.rows.get(action) ?? [];
    for (let i = 0; i < n; i++) {
      const seq = ++this.lastSeq;
      rows.push({ ...EMPTY_ROW, seq, level: 'INFO', levelno: 20, msg: `row ${rows.length} of ${action}`, action });
    }
    this.rows.set(action, rows);
    this.nodes.get(action)!.rows = rows.length;
  }

  /** Mark the chain from a failed action to its root. */
  fail(action: string): void {
    let node = this.nodes.get(action);
    node!.status = 'failed';
    node!.error = 'ValueError: bad';
    while (node) {
      node.failed_chain = true;
      node = this.nodes.get(node.parent);
    }
  }

  async actions(query: IActionsQuery): Promise<IActionsReply> {
    this.calls.push(query);
    await Promise.resolve();
    let siblings = Array.from(this.nodes.values()).filter(n => n.parent === query.parent);
    if (query.sort === 'duration') {
      const sign = query.descending ? -1 : 1;
      siblings = siblings.sort((a, b) =>
        a.duration === null ? 1 : b.duration === null ? -1 : (a.duration - b.duration) * sign
      );
    } else if (query.descending) {
      siblings = siblings.reverse();
    }
    const offset = query.offset ?? 0;
    const page = siblings.slice(offset, offset + (query.limit ?? 500));
    return {
      op: 'actions',
      version: 1,
      parent: query.parent,
      offset,
      // copies: what the model holds is not changed behind its back
      actions: page.map(n => ({ ...n })),
      total: siblings.length
    };
  }

  async query(query: IQuery): Promise<IRowsReply> {
    this.rowQueries.push(query);
    await Promise.resolve();
    const all = this.rows.get(query.in_action ?? '') ?? [];
    const after = query.after_seq ?? 0;
    const rows = all.filter(r => r.seq > after).slice(0, query.limit ?? 500);
    return {
      op: 'rows',
      version: 1,
      rows,
      total: null,
      first_seq: rows[0]?.seq ?? null,
      last_seq: rows[rows.length - 1]?.seq ?? null
    };
  }

  async index(): Promise<IIndexReply> {
    return { op: 'index', version: 1, count: 0, first_seq: null, last_seq: null, dense: true, seqs: [] };
  }
}
