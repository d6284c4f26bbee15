/**
 * The live-control ops of protocol v1 end to end in a real ipykernel: start, stop,
 * status, query, clear; the bounded rate of status pushes under a flood; status that keeps
 * coming while a long cell runs; numbered pushes and recovery by asking; two comms.
 */
import { REGISTER_CODE } from '../../src/bridge';
import { COMM_TARGET, parseReply, PROTOCOL_VERSION } from '../../src/protocol';
import { useKernel } from './lifecycle';
import { IMessage, LocalKernel } from './wire';

let kernel: LocalKernel;
useKernel(started => (kernel = started));

let commId: string;
let nextId = 100;

/** A push: a status comm_msg the kernel sent of its own accord (no id). */
function isPush(msg: IMessage): boolean {
  return msg.content.data?.op === 'status' && msg.content.data?.id === undefined;
}

function pushes(comm: string = commId): IMessage[] {
  return kernel.commMessages(comm).filter(isPush);
}

/** Send a request and wait for the reply carrying its id (it may come after idle). */
async function ask(op: string, fields: { [key: string]: unknown } = {}, comm = commId): Promise<any> {
  const id = nextId++;
  const since = kernel.iopub.length;
  await kernel.commSend(comm, { ...fields, op, version: PROTOCOL_VERSION, id });
  const reply = await kernel.waitForCommMsg(comm, {
    since,
    predicate: msg => msg.content.data?.id === id
  });
  const data = reply.content.data;
  expect(parseReply(data)).not.toBeNull();
  return data;
}

/** Wait for a push on `comm` whose status satisfies `test`. */
function pushWhere(test: (status: any) => boolean, comm = commId, timeout = 60_000): Promise<IMessage> {
  return kernel.waitForCommMsg(comm, {
    predicate: msg => isPush(msg) && test(msg.content.data.status),
    timeout
  });
}

async function open(): Promise<string> {
  const opened = await kernel.commOpen(COMM_TARGET, { op: 'hello', version: PROTOCOL_VERSION });
  expect(opened.closed).toBeUndefined();
  return opened.commId;
}

beforeAll(async () => {
  const { stdout } = await kernel.execute(REGISTER_CODE, { silent: true, store_history: false });
  expect(stdout).toBe('taskscope:ok');
  commId = await open();
});

describe('protocol v1 in a real kernel', () => {
  it('starts, records, answers queries page by page, clears and stops', async () => {
    const started = await ask('start', { options: { user_level: 'DEBUG' } });
    expect(started).toMatchObject({ op: 'status', status: { recording: true } });

    await kernel.executeOk(
      [
        'import logging',
        "log = logging.getLogger('proto')",
        'for i in range(5):',
        "    log.warning('w%d', i)",
        "print('hello from a cell')"
      ].join('\n')
    );
    await pushWhere(status => (status.sources.user ?? 0) + (status.sources.library ?? 0) >= 5);

    const all = await ask('query', { filter: { logger: 'proto' }, limit: 100 });
    expect(all.op).toBe('rows');
    expect(all.total).toBe(5);
    expect(all.rows.map((r: any) => r.msg)).toEqual(['w0', 'w1', 'w2', 'w3', 'w4']);
    expect(all.rows[0]).toMatchObject({ level: 'WARNING', levelno: 30, logger: 'proto' });

    // keyset paging: two rows, then the rest after the last seq
    const first = await ask('query', { filter: { logger: 'proto' }, limit: 2 });
    expect(first.rows.map((r: any) => r.msg)).toEqual(['w0', 'w1']);
    const rest = await ask('query', {
      filter: { logger: 'proto' },
      after_seq: first.last_seq,
      limit: 100
    });
    expect(rest.rows.map((r: any) => r.msg)).toEqual(['w2', 'w3', 'w4']);
    const newest = await ask('query', { filter: { logger: 'proto' }, newest_first: true, limit: 1 });
    expect(newest.rows.map((r: any) => r.msg)).toEqual(['w4']);

    const prints = await ask('query', { filter: { source: 'print', text: 'HELLO from' } });
    expect(prints.rows.map((r: any) => r.msg)).toEqual(['hello from a cell']);
    expect((await ask('query', { filter: { logger: 'proto', level: 'ERROR' } })).total).toBe(0);

    const bad = await ask('query', { filter: { level: 'LOUD' } });
    expect(bad).toMatchObject({ op: 'error', message: expect.stringContaining('level') });

    const cleared = await ask('clear');
    expect(cleared.status.rows).toBe(0);
    expect((await ask('query', { filter: { logger: 'proto' } })).total).toBe(0);

    const stopped = await ask('stop');
    expect(stopped.status.recording).toBe(false);
  });

  it('pushes status at most ~10 times a second under a flood of 100k rows', async () => {
    await ask('start');
    const before = pushes().length;
    await kernel.executeOk(
      [
        'import logging, time',
        "flood = logging.getLogger('flood')",
        'for block in range(100):',
        '    for i in range(1000):',
        "        flood.info('row %d', i)",
        '    time.sleep(0.02)'
      ].join('\n'),
      { timeout: 120_000 }
    );
    await pushWhere(status => (status.levels.INFO ?? 0) >= 100_000, commId, 120_000);
    const during = pushes().slice(before);
    const times = during.map(msg => Date.parse(msg.header.date));
    // Count comm messages in every one-second window the flood spanned.
    const all = kernel.commMessages(commId).map(msg => Date.parse(msg.header.date));
    let busiest = 0;
    for (const start of times) {
      busiest = Math.max(busiest, all.filter(t => t >= start && t < start + 1000).length);
    }
    expect(during.length).toBeGreaterThan(1);
    expect(busiest).toBeLessThanOrEqual(20);
    // pushes are numbered one by one on this comm
    const seqs = during.map(msg => msg.content.data.seq);
    expect(seqs).toEqual(seqs.map((_, i) => seqs[0] + i));
    await ask('stop');
  }, 240_000);

  it('keeps pushing status while a long cell runs', async () => {
    await ask('start');
    const cell = kernel.execute(
      [
        'import logging, time',
        "slow = logging.getLogger('slow')",
        'for i in range(30):',
        "    slow.warning('tick %d', i)",
        '    time.sleep(0.1)'
      ].join('\n'),
      { timeout: 60_000 }
    );
    const before = pushes().length;
    const result = await cell;
    expect(result.reply.content.status).toBe('ok');
    const idle = result.iopub[result.iopub.length - 1];
    const end = Date.parse(idle.header.date);
    const during = pushes()
      .slice(before)
      .filter(msg => Date.parse(msg.header.date) < end);
    // the cell ran ~3 s: status came all along, with growing counts
    expect(during.length).toBeGreaterThanOrEqual(3);
    const rows = during.map(msg => msg.content.data.status.rows);
    expect(rows).toEqual([...rows].sort((a, b) => a - b));
    expect(rows[rows.length - 1]).toBeGreaterThan(rows[0]);
    await ask('stop');
  }, 120_000);

  it('recovers a missed push: asking for status returns state at least as new', async () => {
    await ask('start');
    await kernel.executeOk("import logging; logging.getLogger('miss').warning('one')");
    const push = await pushWhere(status => (status.levels.WARNING ?? 0) >= 1);
    // suppose this push was lost: the reply to status carries its seq or a newer one
    const recovered = await ask('status');
    expect(recovered.seq).toBeGreaterThanOrEqual(push.content.data.seq);
    expect(recovered.status.rows).toBeGreaterThanOrEqual(push.content.data.status.rows);
    expect(recovered.status.last_seq).toBeGreaterThanOrEqual(push.content.data.status.last_seq);
    await ask('stop');
  });

  it('pushes a start made on one comm (tab) to the other', async () => {
    const other = await open();
    await ask('start', {}, commId);
    const seen = await pushWhere(status => status.recording === true, other);
    expect(seen.content.comm_id).toBe(other);
    await ask('stop', {}, other);
    await pushWhere(status => status.recording === false, commId);
    await kernel.commClose(other);
  });

  it('forgets a comm the front end closed (no comm leaks in the kernel)', async () => {
    const count = async () =>
      (await kernel.executeOk('import taskscope.frontend.bridge as b; print(len(b._pusher.comms))')).stdout.trim();
    const before = Number(await count());
    const extra = await open();
    expect(Number(await count())).toBe(before + 1);
    await kernel.commClose(extra);
    expect(Number(await count())).toBe(before);
  });
});
