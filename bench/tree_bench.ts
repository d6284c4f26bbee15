/**
 * The panel's action tree over 100,000 synthetic actions, in node (no browser, no
 * kernel): what the tree's own bookkeeping costs on each user step, printed as figures
 * and ratios against a baseline in the same run (never pass/fail on time):
 *
 *   - open an action of 10,000 children (placeholders spliced into the flat lines), and
 *     fill its pages as the kernel answers them, in a tree already showing ~90,000 lines
 *   - a scroll frame: which pages the viewport waits for, and every cell's text of a
 *     screenful (45 lines x 7 columns), at random positions; p50/p95 against the 16.7 ms
 *     budget of 60 frames a second (each line's texts made once, as the model keeps them)
 *   - close that action again
 *
 * Baseline: flattening the whole open tree again from its nodes (what a tree view without
 * incremental lines would do on every open or close).
 *
 * Run: npx tsc -p bench/tsconfig.tree.json && node /tmp/taskscope-tree-bench/bench/tree_bench.js
 * (`make bench` does).
 */
import { IActionNode } from '../src/protocol';
import { IActionLine, TreeLine, TreeLines } from '../src/panel/treelines';
import { cellTexts, TREE_COLUMNS } from '../src/panel/treetext';

const TOTAL = Number(process.env.BENCH_ACTIONS || 100_000);
const WIDE = 10_000; // the children of the action opened
const PAGE = 500;
const SCREEN = 45;
const FRAMES = 400;
const BUDGET_MS = 1000 / 60;

function node(action: string, parent: string, i: number, children = 0): IActionNode {
  return {
    action,
    parent,
    type: i % 3 ? 'load' : 'parse',
    status: i % 97 === 0 ? 'failed' : 'succeeded',
    started: 1700000000 + i / 1000,
    finished: 1700000000 + i / 1000 + 0.01,
    duration: (i % 113) / 1000,
    fields: { path: `/data/file-${i}.csv`, delay: (i % 7) / 10, tags: ['a', 'b'] },
    result: i,
    error: i % 97 === 0 ? 'ValueError: bad input' : '',
    task: `task-${i % 50}`,
    worker: `tcp://10.0.0.${i % 8}:4000${i % 10}`,
    cell: '3:abc',
    hostname: 'host-a',
    pid: 4242,
    thread: 'MainThread',
    seq: i + 1,
    children,
    rows: i % 4 === 0 ? 2 : 0,
    failed_chain: i % 97 === 0
  };
}

function ms(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** A tree of TOTAL actions: `others` roots with no children, one root of WIDE children. */
function build(): { roots: IActionNode[]; wide: IActionNode[] } {
  const others = TOTAL - WIDE - 1;
  const roots = [node('wide', '', 0, WIDE)];
  for (let i = 1; i <= others; i++) {
    roots.push(node(`r${i}`, '', i));
  }
  const wide = Array.from({ length: WIDE }, (_, i) => node(`w${i}`, 'wide', i));
  return { roots, wide };
}

/** The baseline: every line again from the nodes, depth first (a non-incremental view). */
function flattenAll(roots: IActionNode[], children: Map<string, IActionNode[]>, open: Set<string>): TreeLine[] {
  const lines: TreeLine[] = [];
  const stack: [IActionNode, number, number][] = roots.map((n, i) => [n, 0, i] as [IActionNode, number, number]).reverse();
  while (stack.length) {
    const [n, depth, index] = stack.pop()!;
    const expanded = open.has(n.action);
    lines.push({ kind: 'action', depth, parent: n.parent, index, node: n, expanded });
    if (expanded) {
      const kids = children.get(n.action) ?? [];
      for (let k = kids.length - 1; k >= 0; k--) {
        stack.push([kids[k], depth + 1, k]);
      }
    }
  }
  return lines;
}

function main(): void {
  const { roots, wide } = build();
  console.log(`\nTree model: ${TOTAL.toLocaleString()} actions (one of ${WIDE.toLocaleString()} children), node ${process.version}`);

  const lines = new TreeLines();
  let t = process.hrtime.bigint();
  lines.reset(roots.length);
  for (let at = 0; at < roots.length; at += PAGE) {
    lines.applyPage('', at, roots.slice(at, at + PAGE), roots.length);
  }
  const fillRoots = ms(t);

  const baseline: number[] = [];
  const children = new Map([['wide', wide]]);
  for (let i = 0; i < 5; i++) {
    t = process.hrtime.bigint();
    flattenAll(roots, children, new Set(['wide']));
    baseline.push(ms(t));
  }
  const base = quantile(baseline, 0.5);

  const opens: number[] = [];
  const fills: number[] = [];
  const closes: number[] = [];
  for (let round = 0; round < 5; round++) {
    const target = lines.lineOf('wide') as IActionLine;
    t = process.hrtime.bigint();
    lines.expand(target);
    opens.push(ms(t));
    t = process.hrtime.bigint();
    for (let at = 0; at < WIDE; at += PAGE) {
      lines.applyPage('wide', at, wide.slice(at, at + PAGE), WIDE);
    }
    fills.push(ms(t) / (WIDE / PAGE));
    if (round < 4) {
      t = process.hrtime.bigint();
      lines.collapse(target);
      closes.push(ms(t));
    }
  }

  // scroll: random screenfuls over the ~100k lines, each one frame's work
  const frames: number[] = [];
  let chars = 0;
  let seed = 42;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let f = 0; f < FRAMES; f++) {
    const first = Math.floor(random() * (lines.lines.length - SCREEN));
    t = process.hrtime.bigint();
    lines.needs(first, first + SCREEN, PAGE);
    for (let row = first; row < first + SCREEN; row++) {
      const cells = cellTexts(lines.lines[row]);
      for (let column = 0; column < TREE_COLUMNS.length; column++) {
        chars += cells[column].length;
      }
    }
    frames.push(ms(t));
  }

  const row = (name: string, value: number, ratio?: number) =>
    console.log(`  ${name.padEnd(52)} ${value.toFixed(3).padStart(9)} ms${ratio === undefined ? '' : `  ${ratio.toFixed(3).padStart(7)}x baseline`}`);
  console.log(`  lines shown with the wide action open: ${lines.lines.length.toLocaleString()}`);
  row('baseline: flatten the whole open tree again (p50)', base, 1);
  row('fill the roots: 200 pages of 500, once', fillRoots);
  row(`open the action of ${WIDE.toLocaleString()} children (p50)`, quantile(opens, 0.5), quantile(opens, 0.5) / base);
  row('fill one page of 500 of its children (mean)', quantile(fills, 0.5), quantile(fills, 0.5) / base);
  row(`close it (p50)`, quantile(closes, 0.5), quantile(closes, 0.5) / base);
  row(`scroll frame, ${SCREEN} lines x ${TREE_COLUMNS.length} columns, p50`, quantile(frames, 0.5));
  row(`scroll frame, p95 (budget ${BUDGET_MS.toFixed(1)} ms for 60 fps)`, quantile(frames, 0.95));
  const p95 = quantile(frames, 0.95);
  console.log(`  scroll frame p95 is ${(p95 / BUDGET_MS * 100).toFixed(1)}% of the 16.7 ms budget (the canvas paint comes on top: see bench/panel_bench.spec.ts)`);
  console.log(`  (${chars.toLocaleString()} characters of cell text made)`);
}

main();
