/**
 * The wire protocol against a real ipykernel: the client in wire.ts and what the kernel
 * does with good and bad messages.
 */
import * as fs from 'fs';

import { useKernel } from './lifecycle';
import { encodeMessage, executeContent, IMessage, LocalKernel, startKernel } from './wire';

let kernel: LocalKernel;
useKernel(started => (kernel = started));

/** Send `first`, then a correct kernel_info_request, and wait for the latter's idle. */
async function thenACorrectOne(): Promise<IMessage> {
  const info = await kernel.request('shell', 'kernel_info_request', {});
  expect(info.header.msg_type).toBe('kernel_info_reply');
  await kernel.collectIOPub(info.parent_header.msg_id as string);
  return info;
}

describe('kernel_info', () => {
  it('round-trips on shell: protocol 5.x, language python', async () => {
    const reply = await kernel.kernelInfo();
    expect(reply.header.msg_type).toBe('kernel_info_reply');
    expect(reply.header.version).toMatch(/^5\.\d+$/);
    expect(reply.content.status).toBe('ok');
    expect(reply.content.protocol_version).toMatch(/^5\.\d+$/);
    expect(reply.content.implementation).toBe('ipython');
    expect(reply.content.language_info.name).toBe('python');
    // the reply names this client's request and session
    expect(reply.parent_header.session).toBe(kernel.session);
    expect(reply.parent_header.msg_type).toBe('kernel_info_request');
  });

  it('answers on control too', async () => {
    const reply = await kernel.request('control', 'kernel_info_request', {});
    expect(reply.channel).toBe('control');
    expect(reply.header.msg_type).toBe('kernel_info_reply');
    expect(reply.content.language_info.name).toBe('python');
  });

  it('brackets the request with busy and idle on IOPub', async () => {
    const request = await kernel.send('shell', 'kernel_info_request', {});
    const iopub = await kernel.collectIOPub(request.header.msg_id);
    const states = iopub
      .filter(msg => msg.header.msg_type === 'status')
      .map(msg => msg.content.execution_state);
    expect(states).toEqual(['busy', 'idle']);
    expect((await kernel.reply(request)).header.msg_type).toBe('kernel_info_reply');
  });
});

describe('execute_request', () => {
  it('print(6*7) gives the stream 42 on IOPub with our request as parent', async () => {
    const { request, reply, iopub, streams, stdout } = await kernel.execute('print(6*7)');
    expect(reply.header.msg_type).toBe('execute_reply');
    expect(reply.content.status).toBe('ok');
    expect(typeof reply.content.execution_count).toBe('number');
    expect(streams).toEqual([{ name: 'stdout', text: '42\n' }]);
    expect(stdout).toBe('42\n');
    const stream = iopub.find(msg => msg.header.msg_type === 'stream')!;
    // the kernel sends our header back (the date re-serialised with microseconds)
    const { date, ...parent } = stream.parent_header;
    const { date: sentDate, ...sent } = request.header;
    expect(parent).toEqual(sent);
    expect(Date.parse(date as string)).toBe(Date.parse(sentDate));
    // busy, the code echoed, the output, idle
    expect(iopub.map(msg => msg.header.msg_type)).toEqual([
      'status',
      'execute_input',
      'stream',
      'status'
    ]);
    expect(iopub[1].content.code).toBe('print(6*7)');
  });

  it('returns an expression value as execute_result', async () => {
    const { outputs } = await kernel.execute('6*7');
    expect(outputs).toHaveLength(1);
    expect(outputs[0].header.msg_type).toBe('execute_result');
    expect(outputs[0].content.data['text/plain']).toBe('42');
  });

  it('keeps state between requests and writes stderr as its own stream', async () => {
    await kernel.executeOk('x = 6');
    const { stdout, stderr } = await kernel.execute(
      'import sys; print(x * 7); print("oops", file=sys.stderr)'
    );
    expect(stdout).toBe('42\n');
    expect(stderr).toBe('oops\n');
  });

  it('an error cell gives status error with ename, and an error message on IOPub', async () => {
    const { reply, outputs } = await kernel.execute('1/0');
    expect(reply.content.status).toBe('error');
    expect(reply.content.ename).toBe('ZeroDivisionError');
    expect(reply.content.evalue).toBe('division by zero');
    const error = outputs.find(msg => msg.header.msg_type === 'error')!;
    expect(error.content.ename).toBe('ZeroDivisionError');
    expect(Array.isArray(error.content.traceback)).toBe(true);
    await expect(kernel.executeOk('1/0')).rejects.toThrow(/ZeroDivisionError/);
    // and the kernel carries on
    expect((await kernel.execute('6*7')).reply.content.status).toBe('ok');
  });

  it('silent execution prints but sends no execute_input', async () => {
    const { reply, iopub, stdout } = await kernel.execute('print("quiet")', {
      silent: true
    });
    expect(reply.content.status).toBe('ok');
    expect(stdout).toBe('quiet\n');
    expect(iopub.map(msg => msg.header.msg_type)).not.toContain('execute_input');
  });

  it('an interrupt ends a running cell with KeyboardInterrupt', async () => {
    const request = await kernel.send(
      'shell',
      'execute_request',
      executeContent('import time\nprint("sleeping", flush=True)\ntime.sleep(120)')
    );
    // interrupt once the cell is surely running
    await kernel.waitForIOPub(
      msg =>
        msg.parent_header.msg_id === request.header.msg_id &&
        msg.header.msg_type === 'stream',
      'the cell to print'
    );
    kernel.interrupt();
    const reply = await kernel.reply(request);
    expect(reply.content.status).toBe('error');
    expect(reply.content.ename).toBe('KeyboardInterrupt');
    await kernel.collectIOPub(request.header.msg_id);
  });
});

describe('signatures', () => {
  it('the kernel ignores a wrong HMAC, and still answers a correct message', async () => {
    const forged = kernel.message('shell', 'kernel_info_request', {});
    const frames = encodeMessage(kernel.info.key, forged);
    const at = frames.findIndex(frame => frame.toString() === '<IDS|MSG>');
    const signature = frames[at + 1].toString();
    frames[at + 1] = Buffer.from(
      (signature[0] === '0' ? '1' : '0') + signature.slice(1)
    );
    await kernel.sendFrames('shell', frames);
    // the shell handles requests in order: once the next one is answered, the forged one
    // would have been answered before it
    await thenACorrectOne();
    expect(kernel.repliesTo(forged)).toEqual([]);
    const forgedId = forged.header.msg_id;
    expect(kernel.iopub.filter(msg => msg.parent_header.msg_id === forgedId)).toEqual([]);
  });

  it('the kernel ignores a message signed with another key', async () => {
    const forged = kernel.message(
      'shell',
      'execute_request',
      executeContent('forged = True')
    );
    await kernel.sendFrames('shell', encodeMessage('not-the-key', forged));
    await thenACorrectOne();
    expect(kernel.repliesTo(forged)).toEqual([]);
    expect((await kernel.execute("print('forged' in globals())")).stdout).toBe('False\n');
  });

  it('the kernel ignores content changed under the original signature', async () => {
    const original = kernel.message(
      'shell',
      'execute_request',
      executeContent('tampered = False')
    );
    const frames = encodeMessage(kernel.info.key, original);
    frames[frames.length - 1] = Buffer.from(
      JSON.stringify({ ...original.content, code: 'tampered = True' })
    );
    await kernel.sendFrames('shell', frames);
    await thenACorrectOne();
    expect(kernel.repliesTo(original)).toEqual([]);
    expect((await kernel.execute("print('tampered' in globals())")).stdout).toBe(
      'False\n'
    );
  });

  it('the kernel answers a replayed message only once', async () => {
    const msg = kernel.message('shell', 'kernel_info_request', {});
    const frames = encodeMessage(kernel.info.key, msg);
    await kernel.sendFrames('shell', frames);
    await kernel.sendFrames('shell', frames);
    await thenACorrectOne();
    expect(kernel.repliesTo(msg)).toHaveLength(1);
  });

  it('the kernel ignores a forged message on control', async () => {
    const forged = kernel.message('control', 'kernel_info_request', {});
    await kernel.sendFrames('control', encodeMessage('not-the-key', forged));
    const good = await kernel.request('control', 'kernel_info_request', {});
    expect(good.header.msg_type).toBe('kernel_info_reply');
    expect(kernel.repliesTo(forged)).toEqual([]);
  });

  it('a client with the wrong key rejects everything the kernel sends it', async () => {
    const wrong = kernel.connect({ key: 'not-the-key' });
    try {
      // The wrong-key client cannot ask the kernel anything, so the right one runs cells
      // until one of them reaches it (its subscription takes a moment to be in place).
      const reachedWrong = (id: string) => () =>
        wrong.rejected.some(
          r => r.parent_header?.msg_id === id && r.header?.msg_type === 'status'
        );
      let reached = false;
      for (let attempt = 0; !reached && attempt < 30; attempt++) {
        const { request } = await kernel.execute('pass');
        reached = await wrong
          .until(reachedWrong(request.header.msg_id), 'IOPub at the wrong-key client', {
            timeout: 1000
          })
          .then(
            () => true,
            () => false
          );
      }
      expect(reached).toBe(true);
      expect(wrong.iopub).toEqual([]);
      expect(new Set(wrong.rejected.map(r => r.reason))).toEqual(new Set(['bad signature']));
      expect(new Set(wrong.rejected.map(r => r.channel))).toEqual(new Set(['iopub']));
    } finally {
      await wrong.close();
    }
  });
});

describe('a second client', () => {
  it('sees the IOPub of the first, and gets its own replies', async () => {
    const second = kernel.connect();
    try {
      await second.waitReady();
      const { request } = await kernel.execute('shared = 6; print("to everyone")');
      const seen = await second.collectIOPub(request.header.msg_id);
      expect(seen.find(msg => msg.header.msg_type === 'stream')?.content.text).toBe(
        'to everyone\n'
      );
      const own = await second.execute('print(shared)');
      expect(own.stdout).toBe('6\n');
      expect(kernel.repliesTo(own.request)).toEqual([]);
      expect(second.rejected).toEqual([]);
    } finally {
      await second.close();
    }
  });
});

describe('restart', () => {
  it('starts a new process on the same ports: state gone, clients work', async () => {
    await kernel.executeOk('survivor = 1');
    const before = kernel.process!.pid;
    await kernel.restart();
    expect(kernel.process!.pid).not.toBe(before);
    const { reply } = await kernel.execute('survivor');
    expect(reply.content.ename).toBe('NameError');
    expect((await kernel.execute('print(6*7)')).stdout).toBe('42\n');
  });
});

describe('waiting', () => {
  it('a predicate that throws fails its own wait, not the channel', async () => {
    const since = kernel.iopub.length;
    const waiting = kernel.waitForIOPub(
      () => {
        throw new Error('bad predicate');
      },
      'anything',
      { since }
    );
    const failed = expect(waiting).rejects.toThrow('bad predicate');
    const { stdout } = await kernel.execute('print("still here")');
    await failed;
    expect(stdout).toBe('still here\n');
    expect((await kernel.execute('print(1)')).stdout).toBe('1\n');
  });

  it('a wait that is not met fails with what it waited for', async () => {
    await expect(
      kernel.waitForIOPub(() => false, 'a message that never comes', { timeout: 10 })
    ).rejects.toThrow(/timed out after 10 ms waiting for a message that never comes/);
  });
});

describe('startKernel and shutdown', () => {
  it('a kernel stops on request: exit code 0, no signal, its directory removed', async () => {
    const own = await startKernel();
    expect(fs.existsSync(own.connectionFile)).toBe(true);
    expect(fs.statSync(own.taskscopeHome).isDirectory()).toBe(true);
    const { stdout } = await own.execute(
      "import os; print(os.environ['TASKSCOPE_HOME'] == " +
        JSON.stringify(own.taskscopeHome) +
        ', end="")'
    );
    expect(stdout).toBe('True');
    await own.shutdown();
    expect(own.lastExit).toEqual({ code: 0, signal: null, forced: false });
    expect(own.process).toBeNull();
    expect(own.isClosed).toBe(true);
    expect(fs.existsSync(own.dir)).toBe(false);
    await own.shutdown(); // twice is harmless
  });

  it('a Python that cannot start is reported, not waited for', async () => {
    await expect(startKernel({ python: '/nonexistent/python' })).rejects.toThrow(
      /could not start/
    );
  });

  it('a kernel that exits while starting is reported with its output', async () => {
    await expect(
      startKernel({ args: ['--IPKernelApp.no_such_option=1', '--no-such-flag'] })
    ).rejects.toThrow(/exited \(code [1-9]\d*\)[^]*no-such-flag/);
  });
});
