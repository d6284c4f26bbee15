/**
 * What the log panel reads rows from: the two kernel ops a positional view needs, and,
 * from a live source (a KernelSession), word of new rows and of resets. Unit tests give
 * the model fakes.
 */
import { ISignal } from '@lumino/signaling';

import { IIndexQuery, IIndexReply, IQuery, IRowsReply } from '../protocol';
import type { IReset, IRowsAppended } from '../session';

export interface IRowSource {
  /** One keyset page of rows. */
  query(query: IQuery): Promise<IRowsReply>;
  /** Block starts by position (docs/protocol.md, `index`). */
  index(query: IIndexQuery): Promise<IIndexReply>;
}

/** A source that says when rows arrive and when what it held is no longer so. */
export interface ILiveRowSource extends IRowSource {
  /** Whether it can answer now (a comm is open). */
  readonly isConnected: boolean;
  /** The newest seq the kernel reported. */
  readonly lastSeq: number;
  /** New rows were stored, up to a seq: tail them. */
  readonly rowsAppended: ISignal<unknown, IRowsAppended>;
  /** The rows held may be wrong (restart, clear, new session, reconnect): index again. */
  readonly reset: ISignal<unknown, IReset>;
}

/** Whether a source is live. */
export function isLive(source: IRowSource | null): source is ILiveRowSource {
  return source !== null && 'rowsAppended' in source && 'reset' in source;
}
