import {
  BridgeState,
  describeState,
  describeStatus,
  INSTALL_HINT,
  TaskscopeModel
} from '../../src/model';
import { ALL_STATES } from './states';

describe('TaskscopeModel', () => {
  it('starts with no kernel', () => {
    expect(new TaskscopeModel().state).toBe('no-kernel');
  });

  it('emits changed once per actual change, with the model as sender', () => {
    const model = new TaskscopeModel();
    const seen: BridgeState[] = [];
    model.changed.connect(sender => {
      expect(sender).toBe(model);
      seen.push(sender.state);
    });
    model.setState('connecting');
    model.setState('connecting');
    model.setState('stopped');
    model.setState('recording');
    model.setState('recording');
    model.setState('recording');
    model.setState('stopped');
    expect(seen).toEqual(['connecting', 'stopped', 'recording', 'stopped']);
    expect(model.state).toBe('stopped');
  });

  it('does not emit when set to its initial state', () => {
    const model = new TaskscopeModel();
    let count = 0;
    model.changed.connect(() => count++);
    model.setState('no-kernel');
    expect(count).toBe(0);
  });

  it.each(ALL_STATES)('reaches state %s from every other state', state => {
    for (const from of ALL_STATES.filter(s => s !== state)) {
      const model = new TaskscopeModel();
      model.setState(from);
      let count = 0;
      model.changed.connect(() => count++);
      model.setState(state);
      expect(model.state).toBe(state);
      expect(count).toBe(1);
    }
  });
});

describe('describeState', () => {
  it('describes each state in a distinct non-empty line', () => {
    const lines = ALL_STATES.map(describeState);
    for (const line of lines) {
      expect(typeof line).toBe('string');
      expect(line.length).toBeGreaterThan(0);
      expect(line).not.toContain('\n');
    }
    expect(new Set(lines).size).toBe(ALL_STATES.length);
  });

  it('gives the pip install hint for missing, and only there', () => {
    expect(INSTALL_HINT).toBe('%pip install taskscope');
    expect(describeState('missing')).toContain(INSTALL_HINT);
    for (const state of ALL_STATES.filter(s => s !== 'missing')) {
      expect(describeState(state)).not.toContain('pip install');
    }
  });

  it('says what each state means', () => {
    expect(describeState('no-kernel')).toMatch(/no kernel/);
    expect(describeState('connecting')).toMatch(/connecting/);
    expect(describeState('unsupported')).toMatch(/Python kernels only/);
    expect(describeState('missing')).toMatch(/not installed/);
    expect(describeState('stopped')).toMatch(/not recording/);
    expect(describeState('recording')).toMatch(/: recording$/);
  });
});

describe('describeStatus', () => {
  it('says why taskscope failed to load, where the kernel said', () => {
    const model = new TaskscopeModel();
    model.setPending(null, "ImportError('pandas is too old')");
    model.setState('failed');
    expect(describeStatus(model).split('\n')).toEqual([
      'taskscope is installed in this kernel but failed to load',
      "why: ImportError('pandas is too old')"
    ]);
  });

  it('calls an error in another state a failed action', () => {
    const model = new TaskscopeModel();
    model.setState('stopped');
    model.setPending(null, 'the kernel closed the comm');
    expect(describeStatus(model)).toContain('last action failed: the kernel closed the comm');
  });
});
