/**
 * What views read rows from: the two kernel ops a positional view needs, and, from a
 * live source (a KernelSession implements it), word of new rows and of resets, with
 * their payloads. Below both the session and the views, so neither imports the other's
 * module for the contract between them. Unit tests give the models fakes.
 */
import { ISignal } from '@lumino/signaling';

import { IIndexQuery, IIndexReply, IQuery, IRowsReply } from './protocol';

/**
 * Why what a view holds may be wrong:
 * - connected: the comm opened for the first time (there was nothing to ask before);
 * - reconnected: it opened again on the same kernel process (status pushes were missed);
 * - restart: the kernel restarted (a new process, a new store session, seqs from 1);
 * - cleared: the session's rows were deleted (seq goes on);
 * - new-session: the kernel records into another store session.
 */
export type ResetReason = 'connected' | 'reconnected' | 'restart' | 'cleared' | 'new-session';

/** `reset`'s payload. */
export interface IReset {
  readonly reason: ResetReason;
}

/** `rowsAppended`'s payload: rows were stored up to this seq. */
export interface IRowsAppended {
  readonly lastSeq: number;
}

/** Where a positional view pages rows from. */
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
