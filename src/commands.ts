/**
 * Palette commands acting on the current notebook's kernel: start, stop, toggle, clear.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';

import { KernelBridge } from './bridge';
import { ITaskscopeTracker } from './tracker';

export namespace CommandIDs {
  export const start = 'taskscope:start';
  export const stop = 'taskscope:stop';
  export const toggle = 'taskscope:toggle';
  export const clear = 'taskscope:clear';
  /** Registered by the log panel plugin. */
  export const openPanel = 'taskscope:open-panel';
}

const CATEGORY = 'Task Logs';

function ready(bridge: KernelBridge | null): bridge is KernelBridge {
  const state = bridge?.model.state;
  return state === 'recording' || state === 'stopped';
}

export function addCommands(
  app: JupyterFrontEnd,
  tracker: ITaskscopeTracker,
  palette: ICommandPalette | null
): void {
  const act = (action: (bridge: KernelBridge) => Promise<void>) => () => {
    const bridge = tracker.current;
    if (ready(bridge)) {
      return action(bridge).catch(error =>
        console.warn('taskscope:', (error as Error).message)
      );
    }
  };
  const recording = () => tracker.current?.model.state === 'recording';
  app.commands.addCommand(CommandIDs.start, {
    label: 'Start Recording Task Logs',
    caption: "Capture logging, print() and warnings from this notebook's kernel",
    isEnabled: () => ready(tracker.current) && !recording(),
    execute: act(bridge => bridge.start())
  });
  app.commands.addCommand(CommandIDs.stop, {
    label: 'Stop Recording Task Logs',
    isEnabled: () => ready(tracker.current) && recording(),
    execute: act(bridge => bridge.stop())
  });
  app.commands.addCommand(CommandIDs.toggle, {
    label: 'Toggle Recording Task Logs',
    isEnabled: () => ready(tracker.current),
    isToggled: recording,
    execute: act(bridge => bridge.toggle())
  });
  app.commands.addCommand(CommandIDs.clear, {
    label: 'Clear Task Logs',
    caption: "Delete the rows of this kernel's session",
    isEnabled: () => ready(tracker.current),
    execute: act(bridge => bridge.clear())
  });
  // enabled/toggled follow the current notebook's state
  let watched: KernelBridge | null = null;
  const refresh = () => {
    for (const id of [CommandIDs.start, CommandIDs.stop, CommandIDs.toggle, CommandIDs.clear]) {
      app.commands.notifyCommandChanged(id);
    }
  };
  const follow = (_: unknown, bridge: KernelBridge | null) => {
    watched?.model.changed.disconnect(refresh);
    watched = bridge;
    watched?.model.changed.connect(refresh);
    refresh();
  };
  tracker.currentChanged.connect(follow);
  follow(null, tracker.current);
  if (palette) {
    for (const command of [CommandIDs.start, CommandIDs.stop, CommandIDs.toggle, CommandIDs.clear]) {
      palette.addItem({ command, category: CATEGORY });
    }
  }
}
