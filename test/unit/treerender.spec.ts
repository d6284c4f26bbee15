/**
 * The inline tree (src/treerender.ts): the bundle checked, nested lists of text with
 * status, duration and inputs, the failed chain marked, folding, the truncated note, and
 * log text never becoming HTML.
 */
import extensions from '../../src/mimeplugin';
import {
  OPEN_ALL_BELOW,
  parseTreeBundle,
  TaskscopeTree,
  TREE_MIME_TYPE,
  treeRendererFactory
} from '../../src/treerender';

function node(action: string, more: { [key: string]: unknown } = {}): { [key: string]: unknown } {
  return {
    action,
    parent: '',
    type: 'work',
    status: 'succeeded',
    started: 1700000000,
    duration: 0.25,
    fields: { n: 1 },
    result: null,
    error: null,
    task: '',
    worker: '',
    cell: '',
    failed_chain: false,
    children: [],
    ...more
  };
}

/** cell > load (> parse, failed), save: as dataset.tree() sends it. */
const BUNDLE = {
  version: 1,
  nodes: [
    node('cell-1', {
      type: 'cell',
      failed_chain: true,
      duration: 2,
      children: [
        node('a1', {
          type: 'load',
          failed_chain: true,
          fields: { path: 'x.csv' },
          result: 10,
          children: [node('a2', { type: 'parse', status: 'failed', failed_chain: true, error: 'ValueError: bad' })]
        }),
        node('a3', { type: 'save', status: 'started', duration: null })
      ]
    })
  ],
  total: 4,
  truncated: false
};

async function render(data: unknown): Promise<TaskscopeTree> {
  const widget = new TaskscopeTree({ mimeType: TREE_MIME_TYPE, sanitizer: {} as any, resolver: null, linkHandler: null, latexTypesetter: null } as any);
  await widget.renderModel({ data: { [TREE_MIME_TYPE]: data as any } } as any);
  return widget;
}

const lines = (widget: TaskscopeTree) =>
  Array.from(widget.node.querySelectorAll('.jp-taskscope-Tree-line')).map(l => l.textContent);

describe('the inline tree', () => {
  it('is registered beside the table', () => {
    const tree = extensions.find(e => e.id === 'jupyterlab-taskscope:tree')!;
    expect(tree.rendererFactory).toBe(treeRendererFactory);
    expect(treeRendererFactory.mimeTypes).toEqual([TREE_MIME_TYPE]);
    expect(treeRendererFactory.safe).toBe(true);
  });

  it('shows every action with status, duration, inputs, result and error', async () => {
    const widget = await render(BUNDLE);
    expect(lines(widget)).toEqual([
      '▾cell/SUCCEEDED2.00 sn=1✗ failed inside',
      '▾load/SUCCEEDED250 mspath="x.csv"→ 10✗ failed inside',
      'parse/FAILED250 msn=1✗ ValueError: bad',
      'save/STARTEDn=1'
    ]);
    const items = Array.from(widget.node.querySelectorAll('li'));
    expect(items.map(li => [li.dataset.status, li.dataset.failedChain])).toEqual([
      ['succeeded', 'true'],
      ['succeeded', 'true'],
      ['failed', 'true'],
      ['started', 'false']
    ]);
    expect(widget.node.querySelector('.jp-taskscope-Tree-note')!.textContent).toBe(
      '4 actions · 1 root with a failure'
    );
  });

  it('folds and unfolds an action with a click on its toggle', async () => {
    const widget = await render(BUNDLE);
    const load = widget.node.querySelectorAll('li')[1];
    const toggle = load.querySelector('.jp-taskscope-Tree-toggle') as HTMLElement;
    toggle.click();
    expect(load.dataset.collapsed).toBe('true');
    expect(toggle.textContent).toBe('▸');
    expect(load.getAttribute('aria-expanded')).toBe('false');
    toggle.click();
    expect(load.dataset.collapsed).toBe('false');
  });

  it('starts a large tree with its roots and failed chains open, building the rest when opened', async () => {
    const many = Array.from({ length: OPEN_ALL_BELOW + 10 }, (_, i) => node(`c${i}`, { parent: 'r' }));
    many[3] = node('c3', { parent: 'r', children: [node('deep', { status: 'failed', failed_chain: true })], failed_chain: true });
    many[4] = node('c4', { parent: 'r', children: [node('quiet')] });
    const widget = await render({ version: 1, nodes: [node('r', { children: many, failed_chain: true })], total: 9999, truncated: true });
    const items = () => Array.from(widget.node.querySelectorAll('li'));
    // the root, its children, and deep (on a failed chain); quiet's list is not built yet
    expect(items().length).toBe(1 + many.length + 1);
    expect(items().some(li => li.title === 'quiet' || li.textContent === 'quiet')).toBe(false);
    const c4 = items().find(li => li.querySelector('.jp-taskscope-Tree-line')!.getAttribute('title')!.startsWith('c4 '))!;
    expect(c4.dataset.collapsed).toBe('true');
    (c4.querySelector('.jp-taskscope-Tree-toggle') as HTMLElement).click();
    expect(items().length).toBe(1 + many.length + 2);
    const note = widget.node.querySelector('.jp-taskscope-Tree-note') as HTMLElement;
    expect(note.dataset.truncated).toBe('true');
    expect(note.textContent).toContain(`${(1 + many.length + 2).toLocaleString()} of 9,999 actions shown`);
  });

  it('sets log text as text, never as HTML', async () => {
    const evil = '<img src=x onerror="alert(1)">';
    const widget = await render({
      version: 1,
      nodes: [node(evil, { type: evil, fields: { [evil]: evil }, status: 'failed', error: evil, failed_chain: true })],
      total: 1,
      truncated: false
    });
    expect(widget.node.querySelector('img')).toBeNull();
    expect(widget.node.textContent).toContain(evil);
  });

  it('says what is wrong with a bundle it cannot read', async () => {
    expect(parseTreeBundle(null)).toBe('the taskscope tree is not an object');
    expect(parseTreeBundle({ version: 2, nodes: [] })).toContain('unsupported taskscope tree version 2');
    const widget = await render({ version: 1, nodes: 'no' });
    expect(widget.node.textContent).toBe('the taskscope tree has no nodes');
    const empty = await render({ version: 1, nodes: [], total: 0, truncated: false });
    expect(empty.node.textContent).toBe('no matching actions');
  });
});
