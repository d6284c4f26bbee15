/**
 * The taskscope comm target in a real ipykernel, registered the way the front end does it
 * (src/bridge.ts's REGISTER_CODE, run silently).
 */
import { REGISTER_CODE } from '../../src/bridge';
import { COMM_TARGET, parseReply, PROTOCOL_VERSION } from '../../src/protocol';
import { PACKAGE_VERSION } from '../paths';
import { useKernel } from './lifecycle';
import { IMessage, LocalKernel } from './wire';

let kernel: LocalKernel;
useKernel(started => (kernel = started));

/** Run REGISTER_CODE as the front end does; the text it printed. */
async function register(): Promise<string> {
  const { reply, stdout, iopub } = await kernel.execute(REGISTER_CODE, {
    silent: true,
    store_history: false
  });
  expect(reply.content.status).toBe('ok');
  expect(iopub.map(msg => msg.header.msg_type)).not.toContain('execute_input');
  return stdout;
}

/**
 * The kernel's answers among comm messages: not the status the bridge pushes to every open
 * comm from its own thread (`op: status` without an `id`). Such a push carries the parent
 * of the shell request that ran last, so it can land among a request's IOPub.
 */
function answers(messages: IMessage[]): IMessage[] {
  return messages.filter(
    msg => !(msg.content.data?.op === 'status' && msg.content.data?.id === undefined)
  );
}

/** Send `data` on a comm; the data of the kernel's one answer. */
async function ask(commId: string, data: unknown): Promise<any> {
  const replies = answers((await kernel.commSend(commId, data)).replies);
  expect(replies).toHaveLength(1);
  return replies[0].content.data;
}

/** Open a comm to the taskscope target; the comm_open, and the kernel's one answer. */
async function openTaskscope(): Promise<{ commId: string; request: IMessage; hello: IMessage }> {
  const opened = await kernel.commOpen(COMM_TARGET, {
    op: 'hello',
    version: PROTOCOL_VERSION
  });
  expect(opened.closed).toBeUndefined();
  const replies = answers(opened.replies);
  expect(replies).toHaveLength(1);
  return { commId: opened.commId, request: opened.request, hello: replies[0] };
}

describe('the taskscope comm target', () => {
  let commId: string;

  it('is registered by REGISTER_CODE, which prints taskscope:ok', async () => {
    expect(await register()).toBe('taskscope:ok');
    // and leaves nothing in the user's namespace
    const { stdout } = await kernel.execute(
      "print([n for n in globals() if 'taskscope' in n])"
    );
    expect(stdout).toBe('[]\n');
  });

  it('answers comm_open with a hello comm_msg naming the package version', async () => {
    const opened = await openTaskscope();
    commId = opened.commId;
    const reply = opened.hello;
    // sent while the kernel handled our comm_open
    expect(reply.parent_header.msg_id).toBe(opened.request.header.msg_id);
    expect(reply.content.comm_id).toBe(commId);
    expect(reply.content.data).toMatchObject({
      op: 'hello',
      version: 1,
      taskscope_version: PACKAGE_VERSION,
      recording: false
    });
    expect(parseReply(reply.content.data)).not.toBeNull();
    expect(answers(kernel.commMessages(commId))).toEqual([reply]);
  });

  it('answers a hello request on the open comm, echoing its id', async () => {
    const reply = await ask(commId, { op: 'hello', version: PROTOCOL_VERSION, id: 5 });
    expect(reply).toMatchObject({
      op: 'hello',
      version: 1,
      id: 5,
      taskscope_version: PACKAGE_VERSION
    });
  });

  it('answers an unknown op with an error echoing the id', async () => {
    const data = await ask(commId, { op: 'no-such-op', version: PROTOCOL_VERSION, id: 42 });
    expect(data).toEqual({
      op: 'error',
      version: 1,
      id: 42,
      message: expect.stringContaining('no-such-op')
    });
    expect(parseReply(data)).toEqual(data);
  });

  it.each([
    ['a string', 'hello', undefined],
    ['a list', [{ op: 'hello' }], undefined],
    ['null', null, undefined],
    ['an object without op', { version: 1, id: 7 }, 7],
    ['an object with a numeric op', { op: 3, id: 8 }, 8]
  ])('answers data that is %s with an error', async (_name, data, id) => {
    const reply = await ask(commId, data);
    expect(reply).toMatchObject({ op: 'error', version: 1 });
    expect(typeof reply.message).toBe('string');
    expect(reply.id).toBe(id);
    expect(parseReply(reply)).not.toBeNull();
  });

  it('stays usable after bad messages', async () => {
    expect(await ask(commId, { op: 'hello', id: 9 })).toMatchObject({ op: 'hello', id: 9 });
  });

  it('greets each comm opened (a second tab) and keeps their replies apart', async () => {
    const other = await openTaskscope();
    expect(other.commId).not.toBe(commId);
    expect(other.hello.content.data.op).toBe('hello');
    const { replies } = await kernel.commSend(other.commId, { op: 'hello', id: 11 });
    expect(answers(replies).map(r => r.content.comm_id)).toEqual([other.commId]);
    expect(kernel.commMessages(commId).map(m => m.content.data.id)).not.toContain(11);
  });

  it('is registered again without harm (REGISTER_CODE twice)', async () => {
    expect(await register()).toBe('taskscope:ok');
    expect((await openTaskscope()).hello.content.data.op).toBe('hello');
  });
});

describe('a comm target the kernel does not have', () => {
  it('gets a comm_close for the comm, and no comm_msg', async () => {
    const opened = await kernel.commOpen('no-such-target', { op: 'hello' });
    expect(opened.closed).toBeDefined();
    expect(opened.closed!.content.comm_id).toBe(opened.commId);
    expect(opened.closed!.parent_header.msg_id).toBe(opened.request.header.msg_id);
    expect(opened.replies).toEqual([]);
  });
});

describe('after a kernel restart', () => {
  beforeAll(async () => {
    await kernel.restart();
  });

  it('the target is gone until registered again', async () => {
    const opened = await kernel.commOpen(COMM_TARGET, { op: 'hello' });
    expect(opened.closed).toBeDefined();
    expect(opened.replies).toEqual([]);
    expect(await register()).toBe('taskscope:ok');
    expect((await openTaskscope()).hello.content.data.version).toBe(1);
  });
});

describe('a kernel where taskscope cannot be imported', () => {
  beforeAll(async () => {
    await kernel.restart();
    // what a kernel without the package sees: `import taskscope` fails
    await kernel.executeOk("import sys; sys.modules['taskscope'] = None");
  });

  afterAll(async () => {
    await kernel.executeOk("import sys; del sys.modules['taskscope']");
  });

  it('REGISTER_CODE prints taskscope:missing and the target stays closed', async () => {
    expect(await register()).toBe('taskscope:missing');
    const opened = await kernel.commOpen(COMM_TARGET, { op: 'hello' });
    expect(opened.closed).toBeDefined();
    expect(opened.replies).toEqual([]);
  });
});
