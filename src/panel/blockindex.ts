/**
 * Where a row position is in the kernel's store, for a view that shows rows by position.
 *
 * The grid asks for row n; the store pages by seq (keyset), never by OFFSET. Rows are
 * grouped in blocks of `blockSize` positions, and the index knows the seq of the first row
 * of every block, so block b is the keyset page `after_seq = start(b) - 1, limit =
 * blockSize`: a jump to any position costs one page.
 *
 * - Unfiltered (`dense`): the store's seqs have no gaps (the writer numbers rows
 *   consecutively and a clear deletes them all), so start(b) = first + b * blockSize
 *   without holding anything.
 * - Filtered: the kernel's `index` op lists the block starts once per filter (one scan,
 *   about the cost of counting the matches), and the tail extends them as rows arrive.
 */
import { IIndexReply } from '../protocol';

export class BlockIndex {
  /** An index of nothing yet, for a view that has not heard from the kernel. */
  constructor(blockSize: number, dense = true) {
    this.blockSize = blockSize;
    this._dense = dense;
  }

  /** The index the kernel sent for a whole view (`index` from the start). */
  static fromReply(reply: IIndexReply, blockSize: number): BlockIndex {
    const index = new BlockIndex(blockSize, reply.dense);
    index.extend(reply);
    return index;
  }

  readonly blockSize: number;

  /** Matching rows known. */
  get count(): number {
    return this._count;
  }

  /** The seq of the last matching row known; null when there is none. */
  get lastSeq(): number | null {
    return this._lastSeq;
  }

  get dense(): boolean {
    return this._dense;
  }

  /** Which block holds a row position. */
  blockOf(row: number): number {
    return Math.floor(row / this.blockSize);
  }

  /** The seq of the first row of a block, or null past the end. */
  startSeq(block: number): number | null {
    if (block < 0 || block * this.blockSize >= this._count) {
      return null;
    }
    if (this._dense) {
      return this._first! + block * this.blockSize;
    }
    return this._starts[block] ?? null;
  }

  /** How many rows a block holds now (the last one may be partial). */
  blockLength(block: number): number {
    const start = block * this.blockSize;
    return Math.max(0, Math.min(this.blockSize, this._count - start));
  }

  /**
   * What the tail's `index` request must skip: the rows that still fit in the last,
   * partial block, so the kernel's numbering continues this one.
   */
  get tailSkip(): number {
    return (this.blockSize - (this._count % this.blockSize)) % this.blockSize;
  }

  /**
   * Take the kernel's `index` answer for the rows after `lastSeq` (asked with `tailSkip`).
   * False when it does not continue this index (a dense view whose rows were deleted):
   * the view must be indexed again.
   */
  extend(reply: IIndexReply): boolean {
    if (reply.count === 0) {
      return true;
    }
    if (reply.dense !== this._dense || reply.first_seq === null) {
      return false;
    }
    if (this._dense) {
      if (this._count === 0) {
        this._first = reply.first_seq;
      } else if (reply.first_seq !== this._lastSeq! + 1) {
        return false;
      }
    } else {
      this._starts.push(...reply.seqs);
    }
    this._count += reply.count;
    this._lastSeq = reply.last_seq;
    return true;
  }

  /** Take rows fetched after `lastSeq` (seq ascending); false as for `extend`. */
  append(seqs: ReadonlyArray<number>): boolean {
    if (seqs.length === 0) {
      return true;
    }
    if (this._dense) {
      if (this._count === 0) {
        this._first = seqs[0];
      }
      // consecutive from the last known row: anything else means rows were deleted
      if (
        (this._count > 0 && seqs[0] !== this._lastSeq! + 1) ||
        seqs[seqs.length - 1] - seqs[0] !== seqs.length - 1
      ) {
        return false;
      }
    } else {
      for (let i = 0; i < seqs.length; i++) {
        if ((this._count + i) % this.blockSize === 0) {
          this._starts.push(seqs[i]);
        }
      }
    }
    this._count += seqs.length;
    this._lastSeq = seqs[seqs.length - 1];
    return true;
  }

  private _dense: boolean;
  private _count = 0;
  private _first: number | null = null;
  private _lastSeq: number | null = null;
  private _starts: number[] = [];
}
