/**
 * The toolbar item and the status bar item are thin views of a TaskscopeModel: labels,
 * data attributes and tooltips from state and status, drawn as text, redrawn at most at
 * the refresh rate; the toolbar item toggles recording on click.
 */
import { Widget } from '@lumino/widgets';

import { BridgeState, describeState, TaskscopeModel } from '../../src/model';
import { IStatus } from '../../src/protocol';
import { StatusView, statusLabel } from '../../src/statusview';
import {
  TaskscopeToolbarItem,
  ToggleTarget,
  TOOLBAR_ITEM_NAME
} from '../../src/toolbar';
import { ALL_STATES } from './states';

const LABELS: Record<BridgeState, string> = {
  'no-kernel': 'taskscope',
  connecting: 'taskscope',
  unsupported: 'taskscope',
  missing: 'taskscope',
  failed: 'taskscope',
  'no-comms': 'taskscope',
  stopped: 'Logs off',
  recording: 'Recording'
};

function status(fields: Partial<IStatus> = {}): IStatus {
  return {
    recording: true,
    rows: 0,
    rate: 0,
    dropped: 0,
    levels: {},
    sources: {},
    store: '/tmp/s.sqlite',
    session_id: 's',
    error: null,
    last_seq: 0,
    ...fields
  };
}

/** The view's node holds exactly a dot and a label, the label only text. */
function expectOnlyDotAndLabel(node: HTMLElement): HTMLElement {
  expect(node.children).toHaveLength(2);
  const [dot, label] = Array.from(node.children) as HTMLElement[];
  expect(dot.className).toBe('jp-taskscope-dot');
  expect(dot.childNodes).toHaveLength(0);
  expect(label.className).toBe('jp-taskscope-label');
  expect(label.children).toHaveLength(0);
  expect(node.querySelectorAll('*')).toHaveLength(2);
  return label;
}

describe('statusLabel', () => {
  it('shows state, rows, warnings and errors compactly', () => {
    const model = new TaskscopeModel();
    model.setStatus(
      status({ rows: 12345, levels: { INFO: 12000, WARNING: 300, ERROR: 44, CRITICAL: 1 } })
    );
    expect(statusLabel(model)).toBe('Recording · 12k · ⚠ 300 · ✖ 45');
    model.setStatus(status({ recording: false, rows: 0 }));
    expect(statusLabel(model)).toBe('Logs off');
  });

  it('says when an action waits for the kernel', () => {
    const model = new TaskscopeModel();
    model.setStatus(status({ recording: false }));
    model.setPending('start');
    expect(statusLabel(model)).toBe('Starting…');
    model.setPending('stop');
    expect(statusLabel(model)).toBe('Stopping…');
  });
});

describe('StatusView', () => {
  let model: TaskscopeModel;
  let view: StatusView;
  let rate = 4;

  beforeEach(() => {
    jest.useFakeTimers();
    model = new TaskscopeModel();
    view = new StatusView({ model, refreshRate: () => rate });
    Widget.attach(view, document.body);
  });

  afterEach(() => {
    if (!view.isDisposed) {
      view.dispose();
    }
    document.body.textContent = '';
    jest.useRealTimers();
    rate = 4;
  });

  it('renders the initial state before any change', () => {
    expect(view.node.dataset.state).toBe('no-kernel');
    expect(view.node.title).toBe(describeState('no-kernel'));
    expect(expectOnlyDotAndLabel(view.node).textContent).toBe('taskscope');
  });

  it.each(ALL_STATES)('renders state %s: data-state, title and label', state => {
    model.setState(state === 'connecting' ? 'stopped' : 'connecting');
    model.setState(state);
    jest.runOnlyPendingTimers();
    expect(view.node.getAttribute('data-state')).toBe(state);
    expect(view.node.title.split('\n')[0]).toBe(describeState(state));
    expect(expectOnlyDotAndLabel(view.node).textContent).toBe(LABELS[state]);
  });

  it('shows the install hint in the tooltip when taskscope is missing', () => {
    model.setState('missing');
    jest.runOnlyPendingTimers();
    expect(view.node.title).toContain('%pip install taskscope');
  });

  it('puts rate, sources and drops in the tooltip', () => {
    model.setStatus(
      status({ rows: 10, rate: 2.5, dropped: 7, sources: { user: 6, print: 4 } })
    );
    jest.runOnlyPendingTimers();
    expect(view.node.title).toContain('2.5 rows/s');
    expect(view.node.title).toContain('sources: user 6, print 4');
    expect(view.node.title).toContain('7 rows dropped');
  });

  it('draws figures at most at the refresh rate, state changes at once', () => {
    rate = 2; // 500 ms between redraws of figures
    model.setStatus(status({ rows: 1 }));
    jest.advanceTimersByTime(0);
    expect(view.node.textContent).toContain('1');
    for (let rows = 2; rows <= 50; rows++) {
      model.setStatus(status({ rows }));
    }
    jest.advanceTimersByTime(100);
    expect(view.node.textContent).toBe('Recording · 1');
    jest.advanceTimersByTime(500);
    expect(view.node.textContent).toBe('Recording · 50');
    model.setStatus(status({ recording: false, rows: 50 }));
    jest.advanceTimersByTime(0);
    expect(view.node.dataset.state).toBe('stopped');
  });

  it('sets text as text: markup from the kernel never becomes elements', () => {
    const markup = '<img src="x" onerror="window.__pwned = 1"><b>bold</b>';
    model.setStatus(
      status({ rows: 3, sources: { [markup]: 3 }, error: markup })
    );
    jest.runOnlyPendingTimers();
    expectOnlyDotAndLabel(view.node);
    expect(view.node.title).toContain(markup);
    model.setState(markup as BridgeState);
    jest.runOnlyPendingTimers();
    expect(view.node.dataset.state).toBe(markup);
    expectOnlyDotAndLabel(view.node);
    expect(document.body.querySelector('img, b')).toBeNull();
    expect((window as any).__pwned).toBeUndefined();
  });

  it('follows another model when told, and stops following once disposed', () => {
    const other = new TaskscopeModel();
    other.setState('recording');
    view.setModel(other);
    expect(view.node.dataset.state).toBe('recording');
    model.setState('missing');
    jest.runOnlyPendingTimers();
    expect(view.node.dataset.state).toBe('recording');
    const node = view.node;
    view.dispose();
    other.setState('stopped');
    jest.runOnlyPendingTimers();
    expect(node.dataset.state).toBe('recording');
  });
});

describe('TaskscopeToolbarItem', () => {
  function target(state: BridgeState): ToggleTarget & { toggles: number } {
    const model = new TaskscopeModel();
    model.setState(state);
    const fake = {
      model,
      toggles: 0,
      toggle: async () => {
        fake.toggles++;
      }
    };
    return fake;
  }

  it('is the toolbar item named in the settings schema, a button', () => {
    const item = new TaskscopeToolbarItem(target('stopped'));
    expect(TOOLBAR_ITEM_NAME).toBe('taskscope');
    expect(item.node.tagName).toBe('BUTTON');
    expect(item.node.classList).toContain('jp-taskscope-ToolbarItem');
    item.dispose();
  });

  it.each(['stopped', 'recording'] as BridgeState[])(
    'toggles on click when %s',
    state => {
      const fake = target(state);
      const item = new TaskscopeToolbarItem(fake);
      expect(item.node.getAttribute('aria-disabled')).toBe('false');
      item.node.click();
      expect(fake.toggles).toBe(1);
      item.dispose();
    }
  );

  it.each(['no-kernel', 'connecting', 'missing', 'failed', 'no-comms', 'unsupported'] as BridgeState[])(
    'does nothing on click when %s',
    state => {
      const fake = target(state);
      const item = new TaskscopeToolbarItem(fake);
      expect(item.node.getAttribute('aria-disabled')).toBe('true');
      item.node.click();
      expect(fake.toggles).toBe(0);
      item.dispose();
    }
  );
});
