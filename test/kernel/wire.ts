/**
 * A small Jupyter client for tests: it starts a real ipykernel from the project's venv and
 * speaks the Jupyter wire protocol (v5.3) to it over ZeroMQ (the npm `zeromq` package).
 *
 * No JupyterLab, no jupyter_server, no mocks: what a test sees is what the kernel sent.
 * The kernel imports `taskscope` from this checkout (see IStartOptions.checkout).
 *
 *     const kernel = await startKernel();          // venv python, private TASKSCOPE_HOME
 *     const { reply, stdout } = await kernel.execute('print(6*7)');
 *     const { commId, iopub } = await kernel.commOpen('taskscope', {});
 *     const { replies } = await kernel.commSend(commId, { op: 'hello', id: 1 });
 *     await kernel.shutdown();                     // always, e.g. in afterAll
 *
 * Wire format of one message (spec: "Messaging in Jupyter", "The Wire Protocol"):
 *
 *     [identities..., "<IDS|MSG>", signature, header, parent_header, metadata, content,
 *      buffers...]
 *
 * signature = hex HMAC-SHA256, keyed with the connection file's key, over the four JSON
 * frames. Every message received is verified; one that fails (bad signature, no delimiter,
 * bad JSON) is never delivered, only recorded in `client.rejected` for the test to see.
 *
 * Waiting: every verified message is kept, per channel, in arrival order (`client.iopub`,
 * `client.received(channel)`), and every wait looks at what has arrived already before
 * waiting for more. So a reply that comes before the test starts waiting is not lost, and no
 * helper sleeps: timeouts are only failure limits.
 *
 * Lifetime: `shutdown()` asks the kernel to stop (shutdown_request on control), kills the
 * process if it does not exit, closes every socket and removes the kernel's temporary
 * directory. Nothing is left holding the event loop, so jest exits without --forceExit.
 * The kernel also gets JPY_PARENT_PID, so it exits by itself if the test process dies.
 */
import { ChildProcess, spawn } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import * as zmq from 'zeromq';

import { linkCheckout, VENV_PYTHON } from '../paths';

/** The protocol version this client writes in its headers. */
export const PROTOCOL_VERSION = '5.3';

/** The frame that separates routing identities from the message. */
export const DELIMITER = '<IDS|MSG>';

export type Channel = 'shell' | 'control' | 'iopub' | 'stdin';

/** What a kernel's connection file holds. */
export interface IConnectionInfo {
  ip: string;
  transport: 'tcp';
  shell_port: number;
  iopub_port: number;
  stdin_port: number;
  control_port: number;
  hb_port: number;
  key: string;
  signature_scheme: 'hmac-sha256';
  kernel_name?: string;
}

export interface IHeader {
  msg_id: string;
  session: string;
  username: string;
  date: string;
  msg_type: string;
  version: string;
  [key: string]: unknown;
}

/** One message, as sent or as received (`channel` and `identities` say where). */
export interface IMessage<C = any> {
  channel: Channel;
  identities: Buffer[];
  header: IHeader;
  /** The request this message answers; `{}` when there is none. */
  parent_header: Partial<IHeader>;
  metadata: { [key: string]: unknown };
  content: C;
  buffers: Buffer[];
}

/** A received message that was not delivered, and why. */
export interface IRejected {
  channel: Channel;
  reason: string;
  frames: Buffer[];
  /** The header when it could be read anyway (for diagnostics only: it is not trusted). */
  header?: Partial<IHeader>;
  parent_header?: Partial<IHeader>;
}

export interface ITimeout {
  /** Failure limit in milliseconds. */
  timeout?: number;
}

/** The default failure limit of one wait. */
export const DEFAULT_TIMEOUT = 30_000;

/** A message failed verification; `reason` says how. */
export class WireError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'WireError';
  }
}

/** A wait ran out of time; the message names what was awaited. */
export class TimeoutError extends Error {
  constructor(what: string, ms: number) {
    super(`timed out after ${ms} ms waiting for ${what}`);
    this.name = 'TimeoutError';
  }
}

// ---------------------------------------------------------------------------------------
// Signing and framing (pure functions; test/kernel/wire-codec.spec.ts checks them)

/** The hex HMAC-SHA256 of the four JSON frames; '' when the key is empty (no auth). */
export function sign(key: string, frames: Buffer[]): string {
  if (!key) {
    return '';
  }
  const hmac = crypto.createHmac('sha256', key);
  for (const frame of frames) {
    hmac.update(frame);
  }
  return hmac.digest('hex');
}

/** Serialize a message to its frames, signed with `key`. */
export function encodeMessage(
  key: string,
  msg: Pick<IMessage, 'header' | 'parent_header' | 'metadata' | 'content'> & {
    identities?: Buffer[];
    buffers?: Buffer[];
  }
): Buffer[] {
  const parts = [msg.header, msg.parent_header, msg.metadata, msg.content].map(
    part => Buffer.from(JSON.stringify(part), 'utf8')
  );
  return [
    ...(msg.identities ?? []),
    Buffer.from(DELIMITER),
    Buffer.from(sign(key, parts)),
    ...parts,
    ...(msg.buffers ?? [])
  ];
}

/** Parse and verify the frames of one message; throws WireError when they fail. */
export function decodeMessage(key: string, channel: Channel, frames: Buffer[]): IMessage {
  const at = frames.findIndex(frame => frame.equals(DELIMITER_BYTES));
  if (at < 0) {
    throw new WireError('no <IDS|MSG> delimiter');
  }
  if (frames.length < at + 6) {
    throw new WireError(`too few frames: ${frames.length - at - 1} after the delimiter`);
  }
  const signature = frames[at + 1];
  const parts = frames.slice(at + 2, at + 6);
  const expected = Buffer.from(sign(key, parts));
  if (
    signature.length !== expected.length ||
    !crypto.timingSafeEqual(signature, expected)
  ) {
    throw new WireError('bad signature');
  }
  let json: any[];
  try {
    json = parts.map(part => JSON.parse(part.toString('utf8')));
  } catch (err) {
    throw new WireError(`bad JSON: ${(err as Error).message}`);
  }
  const [header, parent_header, metadata, content] = json;
  if (!isObject(header) || typeof header.msg_type !== 'string') {
    throw new WireError('header is not an object with a msg_type');
  }
  return {
    channel,
    identities: frames.slice(0, at),
    header: header as IHeader,
    parent_header: isObject(parent_header) ? parent_header : {},
    metadata: isObject(metadata) ? metadata : {},
    content,
    buffers: frames.slice(at + 6)
  };
}

const DELIMITER_BYTES = Buffer.from(DELIMITER);

function isObject(value: unknown): value is { [key: string]: any } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Read the header frames of a message that failed verification, for a report. */
function peekHeaders(frames: Buffer[]): Pick<IRejected, 'header' | 'parent_header'> {
  const at = frames.findIndex(frame => frame.equals(DELIMITER_BYTES));
  const read = (i: number) => {
    try {
      const value = JSON.parse(frames[i].toString('utf8'));
      return isObject(value) ? value : undefined;
    } catch {
      return undefined;
    }
  };
  return at < 0 ? {} : { header: read(at + 2), parent_header: read(at + 3) };
}

// ---------------------------------------------------------------------------------------
// The client

export interface IClientOptions {
  /** Sign with this key instead of the connection's (to test rejection). */
  key?: string;
  username?: string;
}

export interface ISendOptions {
  metadata?: { [key: string]: unknown };
  buffers?: Buffer[];
  parent_header?: Partial<IHeader>;
}

export interface IExecuteOptions extends ITimeout {
  silent?: boolean;
  store_history?: boolean;
  user_expressions?: { [key: string]: string };
  stop_on_error?: boolean;
}

/** What one execute_request brought back. */
export interface IExecuteResult {
  request: IMessage;
  /** The execute_reply (content.status: 'ok' | 'error' | 'aborted'). */
  reply: IMessage;
  /** Every IOPub message whose parent is the request, up to and including status idle. */
  iopub: IMessage[];
  /** The stream messages' contents, in order. */
  streams: { name: 'stdout' | 'stderr'; text: string }[];
  stdout: string;
  stderr: string;
  /** execute_result, display_data, update_display_data and error messages, in order. */
  outputs: IMessage[];
}

/** What a comm message from this client brought back. */
export interface ICommExchange {
  commId: string;
  request: IMessage;
  /** Every IOPub message whose parent is the request, up to and including status idle. */
  iopub: IMessage[];
  /** Of those, the kernel's comm_msg on this comm. */
  replies: IMessage[];
  /** Of those, the kernel's comm_close on this comm, if any. */
  closed: IMessage | undefined;
}

/** A pending `until`: settled at most once, its timer cleared when it is. */
interface IWaiter {
  test: () => boolean;
  settle: (err?: Error) => void;
}

/**
 * A connection to a running kernel: shell, control and stdin DEALER sockets with one routing
 * id, and an IOPub SUB socket subscribed to everything.
 */
export class KernelClient {
  constructor(info: IConnectionInfo, options: IClientOptions = {}) {
    this.info = info;
    this.key = options.key ?? info.key;
    this.username = options.username ?? 'taskscope-test';
    this.routingId = `taskscope-test-${crypto.randomUUID()}`;
    const url = (port: number) => `${info.transport}://${info.ip}:${port}`;
    const dealer = (port: number) => {
      const socket = new zmq.Dealer({ routingId: this.routingId, linger: 0 });
      socket.connect(url(port));
      return socket;
    };
    const iopub = new zmq.Subscriber({ linger: 0 });
    iopub.subscribe();
    iopub.connect(url(info.iopub_port));
    this._sockets = {
      shell: dealer(info.shell_port),
      control: dealer(info.control_port),
      stdin: dealer(info.stdin_port),
      iopub
    };
    for (const channel of CHANNELS) {
      this._received[channel] = [];
      this._sendQueue[channel] = Promise.resolve();
      this._loops.push(this._receiveLoop(channel));
    }
  }

  /** The connection this client uses. */
  readonly info: IConnectionInfo;
  /** This client's session id (header.session of everything it sends). */
  readonly session = crypto.randomUUID();
  readonly username: string;
  /** The routing id of the shell, control and stdin sockets. */
  readonly routingId: string;
  /** Messages that failed verification, in arrival order (a test may assert it empty). */
  readonly rejected: IRejected[] = [];

  /** Every verified IOPub message, in arrival order. */
  get iopub(): readonly IMessage[] {
    return this._received.iopub;
  }

  /** Every verified message received on a channel, in arrival order. */
  received(channel: Channel): readonly IMessage[] {
    return this._received[channel];
  }

  get isClosed(): boolean {
    return this._closed;
  }

  /** A message as this client would send it (not sent). */
  message<C>(
    channel: Channel,
    msgType: string,
    content: C,
    options: ISendOptions = {}
  ): IMessage<C> {
    return {
      channel,
      identities: [],
      header: {
        msg_id: crypto.randomUUID(),
        session: this.session,
        username: this.username,
        date: new Date().toISOString(),
        msg_type: msgType,
        version: PROTOCOL_VERSION
      },
      parent_header: options.parent_header ?? {},
      metadata: options.metadata ?? {},
      content,
      buffers: options.buffers ?? []
    };
  }

  /** Sign and send a message; resolves with it once ZeroMQ has queued it. */
  async send<C>(
    channel: Channel,
    msgType: string,
    content: C,
    options: ISendOptions = {}
  ): Promise<IMessage<C>> {
    const msg = this.message(channel, msgType, content, options);
    await this.sendFrames(channel, encodeMessage(this.key, msg));
    return msg;
  }

  /** Send frames as they are (for tests of what the kernel does with bad messages). */
  async sendFrames(channel: Channel, frames: Buffer[]): Promise<void> {
    if (channel === 'iopub') {
      throw new Error('IOPub is receive-only');
    }
    if (this._closed) {
      throw new Error('the client is closed');
    }
    const socket = this._sockets[channel] as zmq.Dealer;
    // a zeromq socket takes one send at a time: queue them
    const sent = this._sendQueue[channel].then(() => socket.send(frames));
    this._sendQueue[channel] = sent.catch(() => undefined);
    await sent;
  }

  /** Send a request and resolve with the reply whose parent is it. */
  async request<C = any>(
    channel: 'shell' | 'control',
    msgType: string,
    content: unknown,
    options: ISendOptions & ITimeout = {}
  ): Promise<IMessage<C>> {
    const msg = await this.send(channel, msgType, content, options);
    return this.reply(msg, options);
  }

  /** The reply (same channel) whose parent is `request`. */
  reply<C = any>(request: IMessage, options: ITimeout = {}): Promise<IMessage<C>> {
    const id = request.header.msg_id;
    return this.waitFor(
      request.channel,
      msg => msg.parent_header.msg_id === id,
      `a reply to ${request.header.msg_type} ${id} on ${request.channel}`,
      options
    );
  }

  /** The replies (same channel) received so far whose parent is `request`. */
  repliesTo(request: IMessage): IMessage[] {
    return this._received[request.channel].filter(
      msg => msg.parent_header.msg_id === request.header.msg_id
    );
  }

  /**
   * The first message on `channel` (from index `since` on, default 0) that matches
   * `predicate`, already received or still to come.
   */
  waitFor<C = any>(
    channel: Channel,
    predicate: (msg: IMessage) => boolean,
    what: string,
    options: ITimeout & { since?: number } = {}
  ): Promise<IMessage<C>> {
    const list = this._received[channel];
    let checked = options.since ?? 0;
    let found: IMessage | undefined;
    return this.until(
      () => {
        for (; !found && checked < list.length; checked++) {
          if (predicate(list[checked])) {
            found = list[checked];
          }
        }
        return found !== undefined;
      },
      what,
      options
    ).then(() => found as IMessage<C>);
  }

  /** The first IOPub message matching `predicate` (from index `since`). */
  waitForIOPub<C = any>(
    predicate: (msg: IMessage) => boolean,
    what = 'an IOPub message',
    options: ITimeout & { since?: number } = {}
  ): Promise<IMessage<C>> {
    return this.waitFor('iopub', predicate, what, options);
  }

  /** Every IOPub message whose parent is `parentId`, up to and including status idle. */
  async collectIOPub(parentId: string, options: ITimeout = {}): Promise<IMessage[]> {
    const idle = await this.waitForIOPub(
      msg =>
        msg.parent_header.msg_id === parentId &&
        msg.header.msg_type === 'status' &&
        msg.content.execution_state === 'idle',
      `IOPub status idle for ${parentId}`,
      options
    );
    const end = this._received.iopub.indexOf(idle);
    return this._received.iopub
      .slice(0, end + 1)
      .filter(msg => msg.parent_header.msg_id === parentId);
  }

  /** Resolve once `condition()` holds; it is checked now and after each message received. */
  /** A `condition` that throws rejects the wait (and only it). */
  until(condition: () => boolean, what: string, options: ITimeout = {}): Promise<void> {
    const ms = options.timeout ?? DEFAULT_TIMEOUT;
    return new Promise<void>((resolve, reject) => {
      const waiter: IWaiter = {
        test: condition,
        settle: err => {
          clearTimeout(timer);
          this._waiters.delete(waiter);
          err ? reject(err) : resolve();
        }
      };
      const timer = setTimeout(() => waiter.settle(new TimeoutError(what, ms)), ms);
      this._waiters.add(waiter);
      this._check(waiter);
      if (this._closed) {
        waiter.settle(new Error(`the client is closed (waiting for ${what})`));
      }
    });
  }

  /** kernel_info_request on shell; resolves with the reply. */
  kernelInfo(options: ITimeout = {}): Promise<IMessage> {
    return this.request('shell', 'kernel_info_request', {}, options);
  }

  /**
   * Wait until the kernel answers kernel_info on shell and this client receives the
   * kernel's IOPub (a subscription takes a moment to reach the publisher: the "slow
   * joiner"). Sends kernel_info_request again every `retry` ms until both have happened:
   * a reply to one of them, and on IOPub either an `iopub_welcome` (ipykernel >= 7 sends it
   * for each new subscription) or a message whose parent is one of them. Messages that
   * arrived before the call do not count, so this also works after a restart. Resolves
   * with the kernel_info_reply.
   */
  async waitReady(options: ITimeout & { retry?: number } = {}): Promise<IMessage> {
    const limit = options.timeout ?? DEFAULT_TIMEOUT;
    const retry = options.retry ?? 1000;
    const deadline = Date.now() + limit;
    const since = this._received.iopub.length;
    const sent: string[] = [];
    let info: IMessage | undefined;
    const ready = () => {
      info ??= this._received.shell.find(
        msg =>
          msg.header.msg_type === 'kernel_info_reply' &&
          sent.includes(msg.parent_header.msg_id as string)
      );
      return info !== undefined && this._received.iopub.slice(since).some(fromNow);
    };
    const fromNow = (msg: IMessage) =>
      msg.header.msg_type === 'iopub_welcome' ||
      sent.includes(msg.parent_header.msg_id as string);
    for (;;) {
      if (!ready()) {
        const msg = await this.send('shell', 'kernel_info_request', {});
        sent.push(msg.header.msg_id);
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new TimeoutError(
          `the kernel to be ready (kernel_info_reply: ${!!info}, IOPub: ${this._received.iopub
            .slice(since)
            .some(fromNow)})`,
          limit
        );
      }
      try {
        await this.until(ready, 'kernel ready', { timeout: Math.min(retry, left) });
        return info!;
      } catch (err) {
        if (!(err instanceof TimeoutError)) {
          throw err;
        }
      }
    }
  }

  /** Run code; resolves once the reply and IOPub status idle have both arrived. */
  async execute(code: string, options: IExecuteOptions = {}): Promise<IExecuteResult> {
    const { timeout, ...rest } = options;
    const request = await this.send('shell', 'execute_request', executeContent(code, rest));
    const [reply, iopub] = await Promise.all([
      this.reply(request, { timeout }),
      this.collectIOPub(request.header.msg_id, { timeout })
    ]);
    const streams = iopub
      .filter(msg => msg.header.msg_type === 'stream')
      .map(msg => ({ name: msg.content.name, text: msg.content.text }));
    const text = (name: string) =>
      streams
        .filter(s => s.name === name)
        .map(s => s.text)
        .join('');
    return {
      request,
      reply,
      iopub,
      streams,
      stdout: text('stdout'),
      stderr: text('stderr'),
      outputs: iopub.filter(msg => OUTPUT_TYPES.includes(msg.header.msg_type))
    };
  }

  /** Run code that must succeed; throws with the traceback when it does not. */
  async executeOk(code: string, options: IExecuteOptions = {}): Promise<IExecuteResult> {
    const result = await this.execute(code, options);
    const content = result.reply.content;
    if (content.status !== 'ok') {
      const trace = (content.traceback ?? []).join('\n').replace(/\x1b\[[0-9;]*m/g, '');
      throw new Error(
        `execute failed (${content.status}): ${content.ename}: ${content.evalue}\n${trace}`
      );
    }
    return result;
  }

  /** Open a comm to `target`; resolves once the kernel is idle after handling it. */
  async commOpen(
    target: string,
    data: unknown = {},
    options: ITimeout & { commId?: string; metadata?: { [key: string]: unknown } } = {}
  ): Promise<ICommExchange> {
    const commId = options.commId ?? crypto.randomUUID();
    return this._commExchange(
      commId,
      'comm_open',
      { comm_id: commId, target_name: target, data },
      options
    );
  }

  /** Send a comm_msg on an open comm; resolves with what the kernel answered meanwhile. */
  commSend(
    commId: string,
    data: unknown,
    options: ITimeout & { metadata?: { [key: string]: unknown } } = {}
  ): Promise<ICommExchange> {
    return this._commExchange(commId, 'comm_msg', { comm_id: commId, data }, options);
  }

  /** Close a comm from this side. */
  commClose(
    commId: string,
    data: unknown = {},
    options: ITimeout = {}
  ): Promise<ICommExchange> {
    return this._commExchange(commId, 'comm_close', { comm_id: commId, data }, options);
  }

  /** Every comm_msg the kernel sent on a comm so far (whatever request they answer). */
  commMessages(commId: string): IMessage[] {
    return this._received.iopub.filter(
      msg => msg.header.msg_type === 'comm_msg' && msg.content.comm_id === commId
    );
  }

  /** The next comm_msg on a comm from IOPub index `since` on (default: any so far). */
  waitForCommMsg(
    commId: string,
    options: ITimeout & { since?: number; predicate?: (msg: IMessage) => boolean } = {}
  ): Promise<IMessage> {
    const { predicate } = options;
    return this.waitForIOPub(
      msg =>
        msg.header.msg_type === 'comm_msg' &&
        msg.content.comm_id === commId &&
        (!predicate || predicate(msg)),
      `a comm_msg on comm ${commId}`,
      options
    );
  }

  /**
   * Close the sockets. Pending waits reject. Safe to call twice. Resolves once every
   * receive loop has ended.
   */
  async close(): Promise<void> {
    if (!this._closed) {
      this._closed = true;
      for (const socket of Object.values(this._sockets)) {
        socket.close();
      }
      const err = new Error('the client was closed');
      for (const waiter of [...this._waiters]) {
        waiter.settle(err);
      }
    }
    await Promise.all(this._loops);
  }

  private async _commExchange(
    commId: string,
    msgType: string,
    content: { [key: string]: unknown },
    options: ITimeout & { metadata?: { [key: string]: unknown } }
  ): Promise<ICommExchange> {
    const request = await this.send('shell', msgType, content, {
      metadata: options.metadata
    });
    const iopub = await this.collectIOPub(request.header.msg_id, options);
    const onComm = (type: string) =>
      iopub.filter(msg => msg.header.msg_type === type && msg.content.comm_id === commId);
    return {
      commId,
      request,
      iopub,
      replies: onComm('comm_msg'),
      closed: onComm('comm_close')[0]
    };
  }

  private async _receiveLoop(channel: Channel): Promise<void> {
    const socket = this._sockets[channel];
    try {
      for await (const frames of socket) {
        this._deliver(channel, frames as Buffer[]);
      }
    } catch (err) {
      if (!this._closed) {
        this.rejected.push({
          channel,
          reason: `receive failed: ${(err as Error).message}`,
          frames: []
        });
      }
    }
  }

  private _deliver(channel: Channel, frames: Buffer[]): void {
    try {
      this._received[channel].push(decodeMessage(this.key, channel, frames));
    } catch (err) {
      if (!(err instanceof WireError)) {
        throw err;
      }
      this.rejected.push({ channel, reason: err.reason, frames, ...peekHeaders(frames) });
    }
    // a rejected message may be what a test waits for (see `rejected`)
    for (const waiter of [...this._waiters]) {
      this._check(waiter);
    }
  }

  /** Settle a waiter whose condition holds (or throws). */
  private _check(waiter: IWaiter): void {
    try {
      if (waiter.test()) {
        waiter.settle();
      }
    } catch (err) {
      waiter.settle(err instanceof Error ? err : new Error(String(err)));
    }
  }

  protected readonly key: string;
  private _closed = false;
  private _sockets: Record<Channel, zmq.Dealer | zmq.Subscriber>;
  private _received = {} as Record<Channel, IMessage[]>;
  private _sendQueue = {} as Record<Channel, Promise<unknown>>;
  private _loops: Promise<void>[] = [];
  private _waiters = new Set<IWaiter>();
}

/** The content of an execute_request (no stdin; history off unless asked). */
export function executeContent(
  code: string,
  options: Omit<IExecuteOptions, 'timeout'> = {}
): { [key: string]: unknown } {
  return {
    code,
    silent: false,
    store_history: false,
    user_expressions: {},
    allow_stdin: false,
    stop_on_error: true,
    ...options
  };
}

const CHANNELS: Channel[] = ['shell', 'control', 'stdin', 'iopub'];
const OUTPUT_TYPES = ['execute_result', 'display_data', 'update_display_data', 'error'];

// ---------------------------------------------------------------------------------------
// A kernel process of our own

export interface IStartOptions extends ITimeout {
  /** The Python that runs ipykernel (default: the project's venv, see test/paths.ts). */
  python?: string;
  /** Extra environment for the kernel over this process's; undefined drops a name. */
  env?: { [name: string]: string | undefined };
  /** Extra ipykernel_launcher arguments (e.g. `--IPKernelApp.log_level=DEBUG`). */
  args?: string[];
  /** How often to try again when a port was taken before the kernel bound it. */
  attempts?: number;
  /**
   * Put this checkout's `taskscope` first on the kernel's PYTHONPATH (default true), so
   * the kernel runs the code under test whether or not the venv has it installed.
   */
  checkout?: boolean;
}

/** How a kernel process ended. */
export interface IExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** It was signalled (SIGTERM, then SIGKILL) because it did not exit on request. */
  forced: boolean;
}

/** Free TCP ports on 127.0.0.1, held together while choosing so they differ. */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<net.Server>((resolve, reject) => {
          const server = net.createServer();
          server.unref();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        })
    )
  );
  const ports = servers.map(server => (server.address() as net.AddressInfo).port);
  await Promise.all(
    servers.map(server => new Promise<void>(resolve => server.close(() => resolve())))
  );
  return ports;
}

/** A fresh connection on loopback with free ports and a random key. */
export async function newConnectionInfo(): Promise<IConnectionInfo> {
  const [shell, iopub, stdin, control, hb] = await freePorts(5);
  return {
    ip: '127.0.0.1',
    transport: 'tcp',
    shell_port: shell,
    iopub_port: iopub,
    stdin_port: stdin,
    control_port: control,
    hb_port: hb,
    key: crypto.randomBytes(32).toString('hex'),
    signature_scheme: 'hmac-sha256',
    kernel_name: 'python3'
  };
}

/**
 * Start an ipykernel from the project's venv and wait until it is ready. Its working
 * directory, TASKSCOPE_HOME and IPYTHONDIR are in a fresh temporary directory.
 */
export async function startKernel(options: IStartOptions = {}): Promise<LocalKernel> {
  const attempts = options.attempts ?? 3;
  for (let attempt = 1; ; attempt++) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'taskscope-kernel-'));
    const kernel = new LocalKernel(await newConnectionInfo(), dir, options);
    try {
      await kernel.start(options);
      return kernel;
    } catch (err) {
      const output = kernel.output;
      await kernel.shutdown();
      if (attempt >= attempts || !/Address already in use/i.test(output)) {
        throw err;
      }
    }
  }
}

/**
 * A kernel process this test started, and the first client connected to it. `connect()`
 * adds clients (a second tab, a wrong key); `shutdown()` ends everything.
 */
export class LocalKernel extends KernelClient {
  constructor(info: IConnectionInfo, dir: string, options: IStartOptions = {}) {
    super(info);
    this.dir = dir;
    this.connectionFile = path.join(dir, 'kernel.json');
    this.taskscopeHome = path.join(dir, 'taskscope-home');
    this._python = options.python ?? VENV_PYTHON;
    this._args = options.args ?? [];
    this._env = options.env ?? {};
    fs.mkdirSync(this.taskscopeHome);
    fs.mkdirSync(path.join(dir, 'ipython'));
    fs.mkdirSync(path.join(dir, 'cwd'));
    if (options.checkout ?? true) {
      this._pythonPath = path.join(dir, 'pythonpath');
      fs.mkdirSync(this._pythonPath);
      linkCheckout(this._pythonPath);
    }
    fs.writeFileSync(this.connectionFile, JSON.stringify(info, null, 2), { mode: 0o600 });
  }

  /** The kernel's temporary directory (removed by shutdown). */
  readonly dir: string;
  readonly connectionFile: string;
  /** TASKSCOPE_HOME of the kernel: where its session stores go. */
  readonly taskscopeHome: string;

  /** The current kernel process (a new one after restart). */
  get process(): ChildProcess | null {
    return this._process;
  }

  /**
   * How the last process ended, once shutdown or restart stopped it: `forced` when it had
   * to be signalled because it did not exit on request.
   */
  get lastExit(): IExit | null {
    return this._lastExit;
  }

  /** The kernel process's stdout and stderr so far (the last 256 KiB). */
  get output(): string {
    return this._output;
  }

  /** Spawn the process and wait until it is ready (used by startKernel and restart). */
  async start(options: ITimeout = {}): Promise<IMessage> {
    const child = spawn(
      this._python,
      ['-m', 'ipykernel_launcher', '-f', this.connectionFile, ...this._args],
      {
        cwd: path.join(this.dir, 'cwd'),
        env: this._kernelEnv(),
        stdio: ['ignore', 'pipe', 'pipe']
      }
    );
    this._process = child;
    const append = (chunk: Buffer) => {
      this._output = (this._output + chunk.toString('utf8')).slice(-OUTPUT_LIMIT);
    };
    child.stdout!.on('data', append);
    child.stderr!.on('data', append);
    const closed = new Promise<void>(resolve => {
      child.once('close', () => resolve());
      // a process that never started may not emit 'close'
      child.once('error', () => child.pid === undefined && resolve());
    });
    this._exit = closed;
    const died = new Promise<never>((_, reject) => {
      const fail = (why: string) =>
        reject(new Error(`the kernel ${why} before it was ready:\n${this._output}`));
      child.once('error', err => fail(`could not start (${err.message})`));
      void closed.then(() => fail(`exited (code ${child.exitCode})`));
    });
    died.catch(() => undefined);
    return Promise.race([
      this.waitReady({ timeout: options.timeout ?? 60_000 }),
      died
    ]);
  }

  /** Another client on this kernel (closed by shutdown). */
  connect(options: IClientOptions = {}): KernelClient {
    const client = new KernelClient(this.info, options);
    this._clients.push(client);
    return client;
  }

  /** SIGINT to the kernel process, as a notebook server interrupts a signal-mode kernel. */
  interrupt(): void {
    this._process?.kill('SIGINT');
  }

  /**
   * Restart as a notebook server does: shutdown_request {restart: true} on control, wait for
   * the process to exit, start a new one on the same connection file. Clients stay
   * connected (ZeroMQ reconnects); the new kernel has none of the old one's state.
   */
  async restart(options: ITimeout = {}): Promise<IMessage> {
    await this._stopProcess(true, options);
    return this.start(options);
  }

  /**
   * Stop the kernel (shutdown_request; SIGTERM, then SIGKILL if it does not exit), close
   * every client and remove the temporary directory. Safe to call twice.
   */
  async shutdown(options: ITimeout = {}): Promise<void> {
    try {
      await this._stopProcess(false, options);
    } finally {
      await Promise.all([...this._clients, this].map(client => client.close()));
      if (!process.env.TASKSCOPE_KEEP_KERNEL_DIR) {
        fs.rmSync(this.dir, { recursive: true, force: true });
      }
    }
  }

  private async _stopProcess(restart: boolean, options: ITimeout): Promise<void> {
    const child = this._process;
    if (!child || !this._exit) {
      return;
    }
    const closed = this._exit;
    const exited = () =>
      child.pid === undefined || child.exitCode !== null || child.signalCode !== null;
    const within = (ms: number) =>
      new Promise<boolean>(resolve => {
        const timer = setTimeout(() => resolve(false), ms);
        void closed.then(() => {
          clearTimeout(timer);
          resolve(true);
        });
      });
    const limit = options.timeout ?? 10_000;
    let answered = false;
    if (!exited() && !this.isClosed) {
      try {
        await this.request('control', 'shutdown_request', { restart }, { timeout: limit });
        answered = true;
      } catch {
        // no answer: it is signalled below
      }
    }
    let forced = false;
    if (!(answered && (await within(limit))) && !exited()) {
      forced = true;
      child.kill('SIGTERM');
      if (!(await within(5_000))) {
        child.kill('SIGKILL');
      }
    }
    await closed;
    this._lastExit = { code: child.exitCode, signal: child.signalCode, forced };
    this._process = null;
    this._exit = null;
  }

  private _kernelEnv(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      TASKSCOPE_HOME: this.taskscopeHome,
      IPYTHONDIR: path.join(this.dir, 'ipython'),
      JPY_PARENT_PID: String(process.pid),
      PYTHONPATH: [this._pythonPath, process.env.PYTHONPATH]
        .filter(entry => entry)
        .join(path.delimiter),
      PYTHONUNBUFFERED: '1',
      // debugpy's warning about frozen modules on stderr, at each start
      PYDEVD_DISABLE_FILE_VALIDATION: '1'
    };
    for (const [name, value] of Object.entries(this._env)) {
      if (value === undefined) {
        delete env[name];
      } else {
        env[name] = value;
      }
    }
    return env;
  }

  private _python: string;
  private _pythonPath = '';
  private _args: string[];
  private _env: { [name: string]: string | undefined };
  private _process: ChildProcess | null = null;
  /** Resolves when the current process has exited and its pipes have closed. */
  private _exit: Promise<void> | null = null;
  private _output = '';
  private _lastExit: IExit | null = null;
  private _clients: KernelClient[] = [];
}

const OUTPUT_LIMIT = 256 * 1024;
