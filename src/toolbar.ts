/**
 * The notebook toolbar item: a button that starts and stops recording for the
 * notebook's kernel, showing the state and live counts (a StatusView).
 */
import { StatusView } from './statusview';
import { KernelBridge } from './bridge';

/** What the item needs of a bridge: its model, and a toggle. */
export type ToggleTarget = Pick<KernelBridge, 'model' | 'toggle'>;

/** The item's name in `jupyter.lab.toolbars` (schema/plugin.json). */
export const TOOLBAR_ITEM_NAME = 'taskscope';

export class TaskscopeToolbarItem extends StatusView {
  constructor(bridge: ToggleTarget, refreshRate?: () => number) {
    super({ model: bridge.model, refreshRate, tag: 'button' });
    this.addClass('jp-taskscope-ToolbarItem');
    this._bridge = bridge;
    this.node.setAttribute('type', 'button');
    this.node.addEventListener('click', this);
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
    const state = this._bridge.model.state;
    if (state === 'recording' || state === 'stopped') {
      this._bridge.toggle().catch(() => {
        // the model holds the error; the tooltip shows it
      });
    }
  }

  private _bridge: ToggleTarget;
}
