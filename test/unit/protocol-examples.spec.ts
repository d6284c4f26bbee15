/**
 * The front end's reading of the shared protocol examples (docs/protocol-examples.json),
 * the same file the Python bridge's tests answer, so the two sides cannot drift apart.
 */
import * as fs from 'fs';
import * as path from 'path';

import { parseReply, PROTOCOL_VERSION } from '../../src/protocol';

interface IExamples {
  exchanges: { name: string; request: unknown; reply: { [k: string]: unknown } }[];
  malformed_replies: unknown[];
}

const examples: IExamples = JSON.parse(
  fs.readFileSync(
    path.join(__dirname, '..', '..', 'docs', 'protocol-examples.json'),
    'utf8'
  )
);

/** A value of each placeholder's type. */
const PLACEHOLDER_VALUES = new Map<string, unknown>([
  ['<string>', 'text'],
  ['<boolean>', true],
  ['<integer>', 3],
  [
    '<status>',
    {
      recording: false,
      rows: 0,
      rate: 0,
      dropped: 0,
      levels: {},
      sources: {},
      store: null,
      session_id: null,
      error: null
    }
  ]
]);

/** Fill an example's placeholders with a value of the type they stand for. */
function concrete(reply: { [k: string]: unknown }): { [k: string]: unknown } {
  const filled: { [k: string]: unknown } = {};
  for (const [key, value] of Object.entries(reply)) {
    filled[key] = PLACEHOLDER_VALUES.has(value as string)
      ? PLACEHOLDER_VALUES.get(value as string)
      : value;
  }
  return filled;
}

describe('shared protocol examples', () => {
  it('speak the version this front end speaks', () => {
    for (const exchange of examples.exchanges) {
      expect(exchange.reply.version).toBe(PROTOCOL_VERSION);
    }
  });

  it.each(examples.exchanges.map(e => [e.name, e] as const))(
    'the reply of "%s" parses',
    (_name, exchange) => {
      const reply = parseReply(concrete(exchange.reply));
      expect(reply).not.toBeNull();
      expect(reply!.op).toBe(exchange.reply.op);
    }
  );

  it.each(examples.malformed_replies.map(r => [JSON.stringify(r), r] as const))(
    'rejects the malformed reply %s',
    (_text, reply) => {
      expect(parseReply(reply)).toBeNull();
    }
  );
});
