import { Widget } from '@lumino/widgets';

import { BridgeState, describeState, TaskscopeModel } from '../../src/model';
import { TaskscopeToolbarItem, TOOLBAR_ITEM_NAME } from '../../src/toolbar';
import { ALL_STATES } from './states';

const LABELS: Record<BridgeState, string> = {
  'no-kernel': 'taskscope',
  connecting: 'taskscope',
  unsupported: 'taskscope',
  missing: 'taskscope',
  failed: 'taskscope',
  stopped: 'Logs off',
  recording: 'Recording'
};

/** The item's node holds exactly a dot and a label, the label only text. */
function expectOnlyDotAndLabel(node: HTMLElement): HTMLElement {
  expect(node.children).toHaveLength(2);
  const [dot, label] = Array.from(node.children) as HTMLElement[];
  expect(dot.tagName).toBe('SPAN');
  expect(dot.className).toBe('jp-taskscope-dot');
  expect(dot.childNodes).toHaveLength(0);
  expect(label.tagName).toBe('SPAN');
  expect(label.className).toBe('jp-taskscope-label');
  expect(label.children).toHaveLength(0);
  expect(node.querySelectorAll('*')).toHaveLength(2);
  return label;
}

describe('TaskscopeToolbarItem', () => {
  let model: TaskscopeModel;
  let item: TaskscopeToolbarItem;

  beforeEach(() => {
    model = new TaskscopeModel();
    item = new TaskscopeToolbarItem(model);
    Widget.attach(item, document.body);
  });

  afterEach(() => {
    if (!item.isDisposed) {
      item.dispose();
    }
    document.body.textContent = '';
  });

  it('is the toolbar item named in the settings schema', () => {
    expect(TOOLBAR_ITEM_NAME).toBe('taskscope');
    expect(item.node.classList).toContain('jp-taskscope-ToolbarItem');
  });

  it('renders the initial state before any change', () => {
    expect(item.node.dataset.state).toBe('no-kernel');
    expect(item.node.title).toBe(describeState('no-kernel'));
    expect(expectOnlyDotAndLabel(item.node).textContent).toBe('taskscope');
  });

  it.each(ALL_STATES)('renders state %s: data-state, title and label', state => {
    // start from a different state so the change is real
    model.setState(state === 'connecting' ? 'stopped' : 'connecting');
    model.setState(state);
    expect(item.node.getAttribute('data-state')).toBe(state);
    expect(item.node.title).toBe(describeState(state));
    const label = expectOnlyDotAndLabel(item.node);
    expect(label.textContent).toBe(LABELS[state]);
  });

  it('shows the install hint in the tooltip when taskscope is missing', () => {
    model.setState('missing');
    expect(item.node.title).toContain('%pip install taskscope');
  });

  it('sets text as text: markup in a state never becomes elements', () => {
    // A state is a fixed string today; this guards the rendering path should a state or
    // description ever carry text from the kernel.
    const markup = '<img src="x" onerror="window.__pwned = 1"><b>bold</b>';
    model.setState(markup as BridgeState);
    expect(item.node.dataset.state).toBe(markup);
    expectOnlyDotAndLabel(item.node);
    expect(document.body.querySelector('img, b')).toBeNull();
    expect((window as any).__pwned).toBeUndefined();
  });

  it('keeps its two children through many changes', () => {
    for (const state of [...ALL_STATES, ...ALL_STATES.slice().reverse()]) {
      model.setState(state);
    }
    expectOnlyDotAndLabel(item.node);
    expect(item.node.dataset.state).toBe('no-kernel');
  });

  it('stops following the model once disposed', () => {
    model.setState('recording');
    const node = item.node;
    item.dispose();
    model.setState('stopped');
    expect(node.dataset.state).toBe('recording');
    expect(node.querySelector('.jp-taskscope-label')?.textContent).toBe(
      'Recording'
    );
  });
});
