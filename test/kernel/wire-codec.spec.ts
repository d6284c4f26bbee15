/**
 * The signing and framing of wire.ts on their own, checked against jupyter_client's
 * Session (the reference implementation, run in the venv's Python).
 */
import { spawnSync } from 'child_process';

import { VENV_PYTHON } from '../paths';
import {
  decodeMessage,
  DELIMITER,
  encodeMessage,
  IMessage,
  sign,
  WireError
} from './wire';

const KEY = 'a3f1c2e4-0000-4b5e-9d1a-5f0e2b7c8d9e';

function sample(): Pick<IMessage, 'header' | 'parent_header' | 'metadata' | 'content'> {
  return {
    header: {
      msg_id: 'm-1',
      session: 's-1',
      username: 'u',
      date: '2026-01-02T03:04:05.678Z',
      msg_type: 'comm_msg',
      version: '5.3'
    },
    parent_header: { msg_id: 'p-1' },
    metadata: { tag: 'x' },
    content: { comm_id: 'c-1', data: { op: 'hello', text: 'é ✓ \u0000 "quoted"' } }
  };
}

/** Run Python with the venv; its stdout, or a failure with its stderr. */
function python(code: string, input: string): string {
  const result = spawnSync(VENV_PYTHON, ['-c', code], {
    input,
    encoding: 'utf8',
    timeout: 60_000
  });
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  return result.stdout;
}

/** The reason decodeMessage gives for frames, or 'ok'. */
function reason(frames: Buffer[], key = KEY): string {
  try {
    decodeMessage(key, 'shell', frames);
    return 'ok';
  } catch (err) {
    expect(err).toBeInstanceOf(WireError);
    return (err as WireError).reason;
  }
}

describe('encodeMessage / decodeMessage', () => {
  it('round-trip a message with identities and buffers', () => {
    const msg = {
      ...sample(),
      identities: [Buffer.from('id-1'), Buffer.from('id-2')],
      buffers: [Buffer.from([0, 1, 2, 255])]
    };
    const frames = encodeMessage(KEY, msg);
    expect(frames[2].toString()).toBe(DELIMITER);
    expect(frames).toHaveLength(2 + 1 + 1 + 4 + 1);
    const decoded = decodeMessage(KEY, 'iopub', frames);
    expect(decoded).toEqual({ ...msg, channel: 'iopub' });
  });

  it('sign the four JSON frames as jupyter_client does', () => {
    const frames = encodeMessage(KEY, sample());
    const script = [
      'import json, sys',
      'from jupyter_client.session import Session',
      'frames = [f.encode() for f in json.load(sys.stdin)]',
      `print(Session(key=${JSON.stringify(KEY)}.encode()).sign(frames).decode(), end='')`
    ].join('\n');
    const jsonFrames = frames.slice(2, 6).map(frame => frame.toString('utf8'));
    expect(python(script, JSON.stringify(jsonFrames))).toBe(frames[1].toString());
    expect(sign(KEY, frames.slice(2, 6))).toBe(frames[1].toString());
  });

  it('decode what jupyter_client serialises, and jupyter_client reads what we encode', () => {
    const script = [
      'import json, sys',
      'from jupyter_client.session import Session',
      `s = Session(key=${JSON.stringify(KEY)}.encode(), username="py")`,
      'ours = [f.encode("latin-1") for f in json.load(sys.stdin)]',
      'idents, rest = s.feed_identities(ours)',
      'got = s.deserialize(rest)',
      'theirs = s.serialize(s.msg("kernel_info_reply", {"echo": got["content"]}, parent=got))',
      'print(json.dumps([f.decode("latin-1") for f in theirs]), end="")'
    ].join('\n');
    const ours = encodeMessage(KEY, sample()).map(frame => frame.toString('latin1'));
    const theirs: string[] = JSON.parse(python(script, JSON.stringify(ours)));
    const reply = decodeMessage(
      KEY,
      'shell',
      theirs.map(frame => Buffer.from(frame, 'latin1'))
    );
    expect(reply.header.msg_type).toBe('kernel_info_reply');
    expect(reply.header.username).toBe('py');
    expect(reply.parent_header.msg_id).toBe('m-1');
    expect(reply.content.echo).toEqual(sample().content);
  });

  it.each([
    ['header', 3],
    ['parent header', 4],
    ['metadata', 5],
    ['content', 6]
  ])('reject a message whose %s was changed after signing', (_name, index) => {
    const frames = encodeMessage(KEY, { ...sample(), identities: [Buffer.from('id')] });
    const part = JSON.parse(frames[index].toString());
    frames[index] = Buffer.from(JSON.stringify({ ...part, changed: true }));
    expect(reason(frames)).toBe('bad signature');
  });

  it('reject a message signed with another key, or with a cut signature', () => {
    expect(reason(encodeMessage('other', sample()))).toBe('bad signature');
    const frames = encodeMessage(KEY, sample());
    frames[1] = frames[1].subarray(0, 10);
    expect(reason(frames)).toBe('bad signature');
    frames[1] = Buffer.alloc(0);
    expect(reason(frames)).toBe('bad signature');
  });

  it('reject frames without a delimiter, too few frames, and bad JSON', () => {
    const frames = encodeMessage(KEY, sample());
    expect(reason(frames.slice(1))).toBe('no <IDS|MSG> delimiter');
    expect(reason(frames.slice(0, 5))).toMatch(/^too few frames/);
    const parts = [Buffer.from('{"msg_type": "x"}'), Buffer.from('{}'), Buffer.from('{}')];
    parts.push(Buffer.from('{not json'));
    const badJson = [Buffer.from(DELIMITER), Buffer.from(sign(KEY, parts)), ...parts];
    expect(reason(badJson)).toMatch(/^bad JSON/);
    const noType = ['[]', '{}', '{}', '{}'].map(text => Buffer.from(text));
    expect(reason([Buffer.from(DELIMITER), Buffer.from(sign(KEY, noType)), ...noType])).toBe(
      'header is not an object with a msg_type'
    );
  });

  it('with an empty key, sign with an empty signature (no authentication)', () => {
    const frames = encodeMessage('', sample());
    expect(frames[1].length).toBe(0);
    expect(decodeMessage('', 'shell', frames).header.msg_id).toBe('m-1');
    expect(reason(frames)).toBe('bad signature');
  });
});
