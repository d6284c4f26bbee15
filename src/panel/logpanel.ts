/**
 * The "Task logs" main-area panel of one notebook kernel: the LogView with a toolbar of
 * actions (Table | Tree, follow/pause, clear, export the filtered rows as CSV, to notebook).
 */
import { Dialog, MainAreaWidget, showDialog } from '@jupyterlab/apputils';
import {
  addBelowIcon,
  deleteIcon,
  downloadIcon,
  listIcon,
  pauseIcon,
  runIcon,
  ToolbarButton
} from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { LogView, ViewMode } from './widget';

export class LogPanel extends MainAreaWidget<LogView> {
  constructor(options: LogPanel.IOptions) {
    super({ content: options.content });
    this.addClass('jp-taskscope-LogPanel');
    this._options = options;
    this.title.icon = listIcon;
    this.title.closable = true;
    this.setNotebookPath(options.notebookPath);

    const view = options.content;
    this.toolbar.addItem('mode', new ModeSwitch(view));
    const follow = new FollowButton(view);
    this.toolbar.addItem('follow', follow);
    const buttons: [string, ToolbarButton][] = [
      [
        'clear',
        new ToolbarButton({
          icon: deleteIcon,
          label: 'Clear',
          tooltip: "Delete every row of this kernel's session",
          onClick: () => void this.clear()
        })
      ],
      [
        'export',
        new ToolbarButton({
          icon: downloadIcon,
          label: 'CSV',
          tooltip: 'Download the rows matching the filter as CSV',
          onClick: () => void this.exportCsv()
        })
      ],
      [
        'to-notebook',
        new ToolbarButton({
          icon: addBelowIcon,
          label: 'To notebook',
          tooltip:
            'Insert a cell below that reads these rows with taskscope.logger.dataset.get(...)',
          onClick: () => this.toNotebook()
        })
      ]
    ];
    for (const [name, button] of buttons) {
      button.addClass(`jp-taskscope-action-${name}`);
      this.toolbar.addItem(name, button);
    }
  }

  /** The path of the notebook whose kernel this panel shows. */
  get notebookPath(): string {
    return this._path;
  }

  /** Follow a rename of the notebook. */
  setNotebookPath(path: string): void {
    this._path = path;
    const name = path.split('/').pop() || path;
    this.title.label = `Task logs — ${name}`;
    this.title.caption = `taskscope rows of the kernel of ${path}`;
  }

  /** Ask, then delete every row of the session. */
  async clear(): Promise<void> {
    const answer = await showDialog({
      title: 'Clear task logs?',
      body: `Delete every row recorded in this session of ${this._path}'s kernel? This cannot be undone.`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Clear' })]
    });
    if (!answer.button.accept) {
      return;
    }
    // the kernel session resets the rows shown (reset 'cleared')
    try {
      await this._options.clear();
      this.content.announce('cleared');
    } catch (error) {
      this.content.announce(`clear failed: ${(error as Error).message}`);
    }
  }

  /** Download the rows matching the filter as a CSV file. */
  async exportCsv(): Promise<void> {
    const view = this.content;
    try {
      const blob = await view.exportCsv(rows =>
        view.announce(`exporting… ${rows.toLocaleString()} rows`)
      );
      const stem = (this._path.split('/').pop() || 'notebook').replace(/\.ipynb$/, '');
      download(blob, `${stem}-taskscope.csv`);
      view.announce(`exported ${view.model.count.toLocaleString()} rows as CSV`);
    } catch (error) {
      view.announce(`export failed: ${(error as Error).message}`);
    }
  }

  /** Insert the equivalent dataset call below the notebook's active cell. */
  toNotebook(): void {
    this._options.insertCode(this.content.notebookCode());
  }

  private _options: LogPanel.IOptions;
  private _path = '';
}

/**
 * Pause/follow: a toolbar button whose label says what the grid does now ("Following" or
 * "Paused") and whose click switches it.
 */
class FollowButton extends Widget {
  constructor(view: LogView) {
    super({ node: document.createElement('button') });
    this.addClass('jp-ToolbarButtonComponent');
    this.addClass('jp-mod-minimal');
    this.addClass('jp-Button');
    this.addClass('jp-taskscope-action-follow');
    this._view = view;
    this._icon = document.createElement('span');
    this._icon.className = 'jp-ToolbarButtonComponent-icon';
    this._label = document.createElement('span');
    this._label.className = 'jp-ToolbarButtonComponent-label';
    this.node.append(this._icon, this._label);
    this.node.addEventListener('click', () => (view.following = !view.following));
    view.followingChanged.connect(this._render, this);
    this._render();
  }

  private _render(): void {
    const following = this._view.following;
    this.node.dataset.following = String(following);
    this.node.setAttribute('aria-pressed', String(!following));
    this.node.title = following
      ? 'Following the newest rows: click (or scroll up) to pause'
      : 'Paused: click (or scroll to the end) to follow the newest rows';
    this._label.textContent = following ? 'Following' : 'Paused';
    (following ? pauseIcon : runIcon).element({ container: this._icon });
  }

  private _view: LogView;
  private _icon: HTMLSpanElement;
  private _label: HTMLSpanElement;
}

/**
 * Table | Tree: two toolbar buttons, the pressed one the mode the view shows.
 */
class ModeSwitch extends Widget {
  constructor(view: LogView) {
    super();
    this.addClass('jp-taskscope-ModeSwitch');
    this.node.setAttribute('role', 'group');
    this.node.setAttribute('aria-label', 'Show the rows as a table or grouped under their actions');
    const modes: [ViewMode, string, string][] = [
      ['table', 'Table', 'Every row, one a line'],
      ['tree', 'Tree', 'Rows grouped under their actions: status, duration and inputs of each']
    ];
    for (const [mode, label, title] of modes) {
      const button = document.createElement('button');
      button.className = 'jp-ToolbarButtonComponent jp-mod-minimal jp-Button jp-taskscope-mode';
      button.dataset.mode = mode;
      button.title = title;
      button.textContent = label;
      button.addEventListener('click', () => (view.mode = mode));
      this.node.appendChild(button);
      this._buttons.push(button);
    }
    this._view = view;
    view.modeChanged.connect(this._render, this);
    this._render();
  }

  private _render(): void {
    for (const button of this._buttons) {
      const on = button.dataset.mode === this._view.mode;
      button.setAttribute('aria-pressed', String(on));
      button.classList.toggle('jp-mod-active', on);
    }
  }

  private _view: LogView;
  private _buttons: HTMLButtonElement[] = [];
}

/** Hand a Blob to the browser as a download. */
function download(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.style.display = 'none';
  document.body.appendChild(link);
  link.click();
  link.remove();
  // the browser has read the URL once the click's task is done
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

export namespace LogPanel {
  export interface IOptions {
    content: LogView;
    notebookPath: string;
    /** Delete the session's rows in the kernel. */
    clear: () => Promise<void>;
    /** Put code in a new cell below the notebook's active cell. */
    insertCode: (code: string) => void;
  }
}
