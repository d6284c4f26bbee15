/**
 * Palette commands acting on the current notebook's kernel: start, stop, toggle, clear.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';

import { KernelSession } from './session';
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

function ready(session: KernelSession | null): session is KernelSession {
  const state = session?.model.state;
  return state === 'recording' || state === 'stopped';
}

export function addCommands(
  app: JupyterFrontEnd,
  tracker: ITaskscopeTracker,
  palette: ICommandPalette | null
): void {
  const act = (action: (session: KernelSession) => Promise<void>) => () => {
    const session = tracker.current;
    if (ready(session)) {
      return action(session).catch(error =>
        console.warn('taskscope:', (error as Error).message)
      );
    }
  };
  const recording = () => tracker.current?.model.state === 'recording';
  app.commands.addCommand(CommandIDs.start, {
    label: 'Start Recording Task Logs',
    caption: "Capture logging, print() and warnings from this notebook's kernel",
    isEnabled: () => ready(tracker.current) && !recording(),
    execute: act(session => session.start())
  });
  app.commands.addCommand(CommandIDs.stop, {
    label: 'Stop Recording Task Logs',
    isEnabled: () => ready(tracker.current) && recording(),
    execute: act(session => session.stop())
  });
  app.commands.addCommand(CommandIDs.toggle, {
    label: 'Toggle Recording Task Logs',
    isEnabled: () => ready(tracker.current),
    isToggled: recording,
    execute: act(session => session.toggle())
  });
  app.commands.addCommand(CommandIDs.clear, {
    label: 'Clear Task Logs',
    caption: "Delete the rows of this kernel's session",
    isEnabled: () => ready(tracker.current),
    execute: act(session => session.clear())
  });
  // enabled/toggled follow the current notebook's kernel session
  let watched: KernelSession | null = null;
  const refresh = () => {
    for (const id of [CommandIDs.start, CommandIDs.stop, CommandIDs.toggle, CommandIDs.clear]) {
      app.commands.notifyCommandChanged(id);
    }
  };
  const follow = (_: unknown, session: KernelSession | null) => {
    watched?.model.changed.disconnect(refresh);
    watched = session;
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
