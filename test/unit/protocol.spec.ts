import {
  COMM_TARGET,
  parseReply,
  PROTOCOL_VERSION
} from '../../src/protocol';

describe('protocol constants', () => {
  it('names the comm target the kernel registers and protocol version 1', () => {
    expect(COMM_TARGET).toBe('taskscope');
    expect(PROTOCOL_VERSION).toBe(1);
  });
});

describe('parseReply', () => {
  const hello = {
    op: 'hello',
    version: 1,
    taskscope_version: '0.1.0',
    recording: false
  };
  const error = { op: 'error', version: 1, message: "unknown op 'nope'", id: 7 };

  it('accepts a well-formed hello and returns the same message', () => {
    const reply = parseReply(hello);
    expect(reply).toEqual(hello);
    expect(reply?.op).toBe('hello');
  });

  it('accepts a hello that is recording and echoes an id', () => {
    const msg = { ...hello, recording: true, id: 3 };
    expect(parseReply(msg)).toEqual(msg);
  });

  it('accepts a well-formed error, with or without an id', () => {
    expect(parseReply(error)).toEqual(error);
    const { id: _id, ...withoutId } = error;
    expect(parseReply(withoutId)).toEqual(withoutId);
  });

  it('keeps fields it does not know (a newer kernel may add some)', () => {
    const msg = { ...hello, extra: { rows: 3 } };
    expect(parseReply(msg)).toEqual(msg);
  });

  const { version: _v, ...helloNoVersion } = hello;
  const { taskscope_version: _tv, ...helloNoTaskscopeVersion } = hello;
  const { recording: _r, ...helloNoRecording } = hello;
  const { message: _m, ...errorNoMessage } = error;
  const { op: _op, ...helloNoOp } = hello;

  const rejected: [string, unknown][] = [
    ['null', null],
    ['undefined', undefined],
    ['a string', 'hello'],
    ['a JSON string of a valid hello', JSON.stringify(hello)],
    ['a number', 1],
    ['a boolean', true],
    ['an array', [hello]],
    ['an empty array', []],
    ['an empty object', {}],
    ['a hello without version', helloNoVersion],
    ['a hello with a string version', { ...hello, version: '1' }],
    ['a hello with a null version', { ...hello, version: null }],
    ['a hello without op', helloNoOp],
    ['a hello without taskscope_version', helloNoTaskscopeVersion],
    ['a hello with a numeric taskscope_version', { ...hello, taskscope_version: 1 }],
    ['a hello without recording', helloNoRecording],
    ['a hello with recording as a string', { ...hello, recording: 'false' }],
    ['a hello with recording as a number', { ...hello, recording: 0 }],
    ['an error without message', errorNoMessage],
    ['an error with a non-string message', { ...error, message: { text: 'x' } }],
    ['an unknown op', { ...hello, op: 'no-such-op' }],
    ['an op of the wrong case', { ...hello, op: 'Hello' }],
    ['a non-string op', { ...hello, op: 1 }]
  ];

  it.each(rejected)('rejects %s', (_name, data) => {
    expect(parseReply(data)).toBeNull();
  });
});
