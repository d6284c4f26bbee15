/**
 * The comm protocol between the front end and the kernel (docs/protocol.md).
 *
 * Comm target `taskscope`; every message is a JSON object with an `op` and the
 * protocol `version`. Requests may carry an `id` that the reply echoes.
 */
import type { IAction, IRow } from './generated/record';

/** The comm target the kernel registers. */
export const COMM_TARGET = 'taskscope';

/** The protocol version this front end speaks. */
export const PROTOCOL_VERSION = 1;

/** A request from the front end. */
export interface IRequest {
  op: string;
  version?: number;
  id?: number;
  [key: string]: unknown;
}

/** What the kernel records, as `taskscope.status()` returns it. */
export interface IStatus {
  recording: boolean;
  rows: number;
  rate: number;
  dropped: number;
  levels: { [level: string]: number };
  sources: { [source: string]: number };
  store: string | null;
  session_id: string | null;
  error?: string | null;
  /** seq of the newest stored row: fetch rows after the last one you hold. */
  last_seq?: number;
  /** Addresses of the remote workers sending rows, where any are attached. */
  workers?: string[];
}

/** The kernel's greeting, sent when the comm opens and on request. */
export interface IHelloReply {
  op: 'hello';
  version: number;
  id?: number;
  taskscope_version: string;
  recording: boolean;
  status?: IStatus;
  seq?: number;
}

/**
 * The kernel's status: a reply (with `id`) or a push (without). Pushes are numbered by
 * `seq`; a gap means one was missed and the front end asks for `status` again.
 */
export interface IStatusReply {
  op: 'status';
  version: number;
  id?: number;
  seq: number;
  status: IStatus;
}

/** One log row: the record as the kernel declares it (generated, never written here). */
export type { IRow };

/** A page of rows in reply to `query`, paged by `seq`. */
export interface IRowsReply {
  op: 'rows';
  version: number;
  id?: number;
  rows: IRow[];
  total: number | null;
  first_seq: number | null;
  last_seq: number | null;
}

/**
 * Where rows sit by position, in reply to `index`: the seq of every `every`-th row
 * matching the filter after `after_seq`, from the `skip`-th on. When `dense` (no filter),
 * `seqs` is empty and row n has seq `first_seq + n`.
 */
export interface IIndexReply {
  op: 'index';
  version: number;
  id?: number;
  count: number;
  first_seq: number | null;
  last_seq: number | null;
  dense: boolean;
  seqs: number[];
}

/**
 * One action of an `actions` page: the actions table's columns (`fields`/`result` JSON
 * values), how many actions and log rows are directly inside it, and whether it failed or
 * an action inside it did (its chain to the root is marked).
 */
export interface IActionNode extends IAction {
  children: number;
  rows: number;
  failed_chain: boolean;
}

/** One page of the actions directly inside `parent`, in reply to `actions`. */
export interface IActionsReply {
  op: 'actions';
  version: number;
  id?: number;
  parent: string;
  offset: number;
  actions: IActionNode[];
  /** Siblings in all pages. */
  total: number;
}

/** The kernel could not answer a request. */
export interface IErrorReply {
  op: 'error';
  version: number;
  id?: number;
  message: string;
}

/** What `query` asks for: a filter and a keyset cursor. */
export interface IQuery {
  filter?: { [key: string]: unknown };
  after_seq?: number | null;
  before_seq?: number | null;
  limit?: number;
  newest_first?: boolean;
  /** false: leave `total` out (null), a count costs ~0.1 s at 1M rows. */
  with_total?: boolean;
  /** Only the rows logged directly inside this action (not in actions nested in it). */
  in_action?: string;
}

/** How siblings are ordered in an `actions` page. */
export type ActionSort = 'started' | 'duration';

/** What `actions` asks for: a page of the actions directly inside `parent`. */
export interface IActionsQuery {
  /** An action id; '' for the roots. */
  parent: string;
  /** Action filters (ACTION_FILTER_KEYS): the siblings dataset.tree(**filter) would show. */
  filter?: { [key: string]: unknown };
  sort?: ActionSort;
  descending?: boolean;
  offset?: number;
  /** At most MAX_ACTIONS_PAGE. */
  limit?: number;
}

/** The most actions one `actions` page holds. */
export const MAX_ACTIONS_PAGE = 2000;

/** What `index` asks for: block starts of a filtered view, from a cursor on. */
export interface IIndexQuery {
  filter?: { [key: string]: unknown };
  every: number;
  after_seq?: number | null;
  skip?: number;
}

/** Any message from the kernel. */
export type Reply =
  | IHelloReply
  | IStatusReply
  | IRowsReply
  | IIndexReply
  | IActionsReply
  | IErrorReply;

/**
 * Check the shape of a message from the kernel; anything else is reported, not trusted.
 */
export function parseReply(data: unknown): Reply | null {
  if (typeof data !== 'object' || data === null) {
    return null;
  }
  const msg = data as { [key: string]: unknown };
  if (typeof msg.version !== 'number') {
    return null;
  }
  switch (msg.op) {
    case 'hello':
      return typeof msg.taskscope_version === 'string' &&
        typeof msg.recording === 'boolean'
        ? (msg as unknown as IHelloReply)
        : null;
    case 'status':
      return typeof msg.seq === 'number' && isStatus(msg.status)
        ? (msg as unknown as IStatusReply)
        : null;
    case 'rows':
      return Array.isArray(msg.rows) && isCount(msg.total)
        ? (msg as unknown as IRowsReply)
        : null;
    case 'index':
      return typeof msg.count === 'number' &&
        typeof msg.dense === 'boolean' &&
        Array.isArray(msg.seqs)
        ? (msg as unknown as IIndexReply)
        : null;
    case 'actions':
      return Array.isArray(msg.actions) &&
        typeof msg.total === 'number' &&
        typeof msg.parent === 'string'
        ? (msg as unknown as IActionsReply)
        : null;
    case 'error':
      return typeof msg.message === 'string'
        ? (msg as unknown as IErrorReply)
        : null;
    default:
      return null;
  }
}

function isStatus(value: unknown): value is IStatus {
  if (typeof value !== 'object' || value === null) {
    return false;
  }
  const status = value as { [key: string]: unknown };
  return (
    typeof status.recording === 'boolean' &&
    typeof status.rows === 'number' &&
    typeof status.levels === 'object' &&
    status.levels !== null
  );
}

function isCount(value: unknown): boolean {
  return value === null || typeof value === 'number';
}
