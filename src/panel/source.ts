/**
 * What the log panel reads rows from: the two kernel ops a positional view needs. The
 * panel uses a notebook's KernelBridge; unit tests give the model a fake.
 */
import { KernelBridge, TaskscopeError } from '../bridge';
import { IIndexQuery, IIndexReply, IQuery, IRowsReply } from '../protocol';

export interface IRowSource {
  /** One keyset page of rows. */
  query(query: IQuery): Promise<IRowsReply>;
  /** Block starts by position (docs/protocol.md, `index`). */
  index(query: IIndexQuery): Promise<IIndexReply>;
}

/** A notebook kernel's bridge as a row source. */
export function bridgeSource(bridge: KernelBridge): IRowSource {
  return {
    query: query => bridge.query(query),
    index: async query => {
      const reply = await bridge.request('index', { ...query });
      if (reply.op !== 'index') {
        throw new TaskscopeError(`unexpected reply ${reply.op} to index`);
      }
      return reply;
    }
  };
}
