/**
 * A fake of the kernel's store for the log panel's unit tests (jsdom has no kernel): an
 * object implementing the panel's IRowSource (`query` and `index`) over rows it makes up
 * from their seq, with the kernel's paging rules (keyset only: it has no OFFSET to offer)
 * and a level/logger filter. The real ops are tested in pytest (test_query.py,
 * test_bridge.py) and end to end in Galata.
 */
import { EMPTY_ROW } from '../../src/generated/record';
import { IIndexQuery, IIndexReply, IQuery, IRow, IRowsReply } from '../../src/protocol';
import { IRowSource } from '../../src/rowsource';

const LEVELS: [string, number][] = [
  ['DEBUG', 10],
  ['INFO', 20],
  ['WARNING', 30],
  ['ERROR', 40]
];

/** The row the fake store holds at a seq: every 4th a WARNING, logger app.<seq % 3>. */
export function fakeRow(seq: number): IRow {
  const [level, levelno] = seq % 4 === 0 ? LEVELS[2] : LEVELS[seq % 2];
  return {
    ...EMPTY_ROW,
    seq,
    created: 1700000000 + seq / 1000,
    level,
    levelno,
    source: 'user',
    logger: `app.${seq % 3}`,
    msg: `message ${seq}`,
    text: `${level}:app.${seq % 3}:message ${seq}`,
    hostname: 'host-a',
    pid: 4242,
    thread: 'MainThread',
    worker: '',
    task: '',
    extra: null
  };
}

const LEVEL_NUMBERS = new Map(LEVELS);

export class FakeStore implements IRowSource {
  /** Rows seq first..last are stored (none when last < first). */
  constructor(rows: number) {
    this.last = rows;
  }

  first = 1;
  last: number;
  /** Every request, for tests to check what was asked. */
  calls: { op: 'query' | 'index'; request: IQuery | IIndexQuery }[] = [];
  /** Replies wait for this before answering, when set (to test ordering). */
  gate: Promise<void> | null = null;
  /** A filter error the fake answers with, as the kernel does for a bad value. */
  rejectFilter: ((filter: { [key: string]: unknown }) => string | null) | null = null;

  /** New rows stored after the last. */
  append(n: number): number {
    this.last += n;
    return this.last;
  }

  /** Delete every row; seq goes on. */
  clear(): void {
    this.first = this.last + 1;
  }

  queries(): IQuery[] {
    return this.calls.filter(c => c.op === 'query').map(c => c.request as IQuery);
  }

  indexes(): IIndexQuery[] {
    return this.calls.filter(c => c.op === 'index').map(c => c.request as IIndexQuery);
  }

  async query(q: IQuery): Promise<IRowsReply> {
    this.calls.push({ op: 'query', request: q });
    await this._wait(q.filter);
    const limit = q.limit ?? 500;
    const rows: IRow[] = [];
    const step = q.newest_first ? -1 : 1;
    let seq = q.newest_first
      ? Math.min(this.last, (q.before_seq ?? Infinity) - 1)
      : Math.max(this.first, (q.after_seq ?? 0) + 1);
    const beyond = (s: number) =>
      q.newest_first
        ? s < this.first || (q.after_seq !== null && q.after_seq !== undefined && s <= q.after_seq)
        : s > this.last || (q.before_seq !== null && q.before_seq !== undefined && s >= q.before_seq);
    for (; !beyond(seq) && rows.length < limit; seq += step) {
      if (this._matches(seq, q.filter)) {
        rows.push(fakeRow(seq));
      }
    }
    return {
      op: 'rows',
      version: 1,
      rows,
      total: q.with_total === false ? null : this._count(q.filter, null),
      first_seq: rows.length ? rows[0].seq : null,
      last_seq: rows.length ? rows[rows.length - 1].seq : null
    };
  }

  async index(q: IIndexQuery): Promise<IIndexReply> {
    this.calls.push({ op: 'index', request: q });
    await this._wait(q.filter);
    const filter = q.filter ?? {};
    const from = Math.max(this.first, (q.after_seq ?? 0) + 1);
    const dense = Object.keys(filter).length === 0;
    const reply: IIndexReply = {
      op: 'index',
      version: 1,
      count: 0,
      first_seq: null,
      last_seq: null,
      dense,
      seqs: []
    };
    if (dense) {
      if (from <= this.last) {
        Object.assign(reply, {
          count: this.last - from + 1,
          first_seq: from,
          last_seq: this.last
        });
      }
      return reply;
    }
    const skip = q.skip ?? 0;
    for (let seq = from; seq <= this.last; seq++) {
      if (this._matches(seq, filter)) {
        const n = reply.count++;
        if (n >= skip && (n - skip) % q.every === 0) {
          reply.seqs.push(seq);
        }
        reply.first_seq ??= seq;
        reply.last_seq = seq;
      }
    }
    return reply;
  }

  private async _wait(filter?: { [key: string]: unknown }): Promise<void> {
    if (this.gate) {
      await this.gate;
    }
    const problem = filter && this.rejectFilter ? this.rejectFilter(filter) : null;
    if (problem) {
      throw new Error(problem);
    }
  }

  private _count(filter: { [key: string]: unknown } | undefined, after: number | null): number {
    let n = 0;
    for (let seq = Math.max(this.first, (after ?? 0) + 1); seq <= this.last; seq++) {
      n += this._matches(seq, filter) ? 1 : 0;
    }
    return n;
  }

  /** level (a name: that level or above) and logger (exact or "prefix*"), as the kernel. */
  private _matches(seq: number, filter?: { [key: string]: unknown }): boolean {
    if (!filter) {
      return true;
    }
    const row = fakeRow(seq);
    const level = filter.level as string | undefined;
    if (level !== undefined && row.levelno < (LEVEL_NUMBERS.get(level) ?? 0)) {
      return false;
    }
    const logger = filter.logger as string | undefined;
    if (logger !== undefined) {
      const ok = logger.endsWith('*')
        ? row.logger.startsWith(logger.slice(0, -1))
        : row.logger === logger;
      if (!ok) {
        return false;
      }
    }
    return true;
  }
}
