/**
 * The comm protocol between the front end and the kernel (docs/protocol.md).
 *
 * Comm target `taskscope`; every message is a JSON object with an `op` and the
 * protocol `version`. Requests may carry an `id` that the reply echoes.
 */

/** The comm target the kernel registers. */
export const COMM_TARGET = 'taskscope';

/** The protocol version this front end speaks. */
export const PROTOCOL_VERSION = 1;

/** A request from the front end. */
export interface IRequest {
  op: string;
  version?: number;
  id?: number;
  [key: string]: unknown;
}

/** The kernel's greeting, sent when the comm opens and on request. */
export interface IHelloReply {
  op: 'hello';
  version: number;
  id?: number;
  taskscope_version: string;
  recording: boolean;
}

/** The kernel could not answer a request. */
export interface IErrorReply {
  op: 'error';
  version: number;
  id?: number;
  message: string;
}

/** Any message from the kernel. */
export type Reply = IHelloReply | IErrorReply;

/**
 * Check the shape of a message from the kernel; anything else is reported, not trusted.
 */
export function parseReply(data: unknown): Reply | null {
  if (typeof data !== 'object' || data === null) {
    return null;
  }
  const msg = data as { [key: string]: unknown };
  if (typeof msg.version !== 'number') {
    return null;
  }
  switch (msg.op) {
    case 'hello':
      return typeof msg.taskscope_version === 'string' &&
        typeof msg.recording === 'boolean'
        ? (msg as unknown as IHelloReply)
        : null;
    case 'error':
      return typeof msg.message === 'string'
        ? (msg as unknown as IErrorReply)
        : null;
    default:
      return null;
  }
}
