/**
 * The notebook toolbar item: a button that starts and stops recording for the
 * notebook's kernel, showing the state and live counts (a StatusView). It follows the
 * notebook to another kernel session when its kernel changes.
 */
import { KernelSession } from './session';
import { StatusView } from './statusview';

/** What the item needs of a kernel session: its model, and a toggle. */
export type ToggleTarget = Pick<KernelSession, 'model' | 'toggle'>;

/** The item's name in `jupyter.lab.toolbars` (schema/plugin.json). */
export const TOOLBAR_ITEM_NAME = 'taskscope';

export class TaskscopeToolbarItem extends StatusView {
  constructor(target: ToggleTarget | null, refreshRate?: () => number) {
    super({ model: target?.model ?? null, refreshRate, tag: 'button' });
    this.addClass('jp-taskscope-ToolbarItem');
    this._target = target;
    this.node.setAttribute('type', 'button');
    this.node.addEventListener('click', this);
  }

  /** Act on another kernel session (null: the notebook has no kernel). */
  setTarget(target: ToggleTarget | null): void {
    this._target = target;
    this.setModel(target?.model ?? null);
  }

  /** Draw, and say whether a click can act (a button that cannot stays focusable for its tooltip). */
  render(): void {
    super.render();
    const state = this.model?.state;
    const actionable = state === 'recording' || state === 'stopped';
    this.node.setAttribute('aria-disabled', actionable ? 'false' : 'true');
  }

  handleEvent(event: Event): void {
    if (event.type === 'click') {
      this._onClick();
    }
  }

  dispose(): void {
    this.node.removeEventListener('click', this);
    super.dispose();
  }

  private _onClick(): void {
    const target = this._target;
    const state = target?.model.state;
    if (target && (state === 'recording' || state === 'stopped')) {
      target.toggle().catch(() => {
        // the model holds the error; the tooltip shows it
      });
    }
  }

  private _target: ToggleTarget | null;
}
