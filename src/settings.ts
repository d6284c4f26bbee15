/**
 * The user's taskscope settings (schema/plugin.json), read once and kept current: changes
 * apply without a reload because every reader asks at the moment it needs a value.
 */
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ISignal, Signal } from '@lumino/signaling';

import { IBridgeSettings } from './bridge';

export interface ITaskscopeSettings {
  autoStart: boolean;
  captureLevel: string;
  userLevel: string;
  capturePrint: boolean;
  captureWarnings: boolean;
  /** Most view refreshes per second for live figures. */
  statusRefreshRate: number;
}

export const DEFAULT_SETTINGS: ITaskscopeSettings = {
  autoStart: false,
  captureLevel: 'INFO',
  userLevel: 'DEBUG',
  capturePrint: true,
  captureWarnings: true,
  statusRefreshRate: 4
};

export class SettingsModel {
  get values(): ITaskscopeSettings {
    return this._values;
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** Follow a loaded plugin's settings. */
  follow(settings: ISettingRegistry.ISettings): void {
    const read = () => {
      this._values = {
        ...DEFAULT_SETTINGS,
        ...(settings.composite as Partial<ITaskscopeSettings>)
      };
      this._changed.emit();
    };
    settings.changed.connect(read);
    read();
  }

  /** What the kernel bridge needs: autoStart and taskscope.start()'s options. */
  bridgeSettings(): IBridgeSettings {
    const v = this._values;
    return {
      autoStart: v.autoStart,
      startOptions: {
        library_level: v.captureLevel,
        user_level: v.userLevel,
        streams: v.capturePrint,
        warnings: v.captureWarnings
      }
    };
  }

  private _values: ITaskscopeSettings = DEFAULT_SETTINGS;
  private _changed = new Signal<this, void>(this);
}
