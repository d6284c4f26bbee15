import { BridgeState } from '../../src/model';

/** Every bridge state, in the order the bridge usually walks them. */
export const ALL_STATES: BridgeState[] = [
  'no-kernel',
  'connecting',
  'unsupported',
  'missing',
  'failed',
  'no-comms',
  'stopped',
  'recording'
];
