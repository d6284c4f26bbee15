/**
 * The user's taskscope settings (schema/plugin.json), read once and kept current: changes
 * apply without a reload because every reader asks at the moment it needs a value.
 */
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ISignal, Signal } from '@lumino/signaling';

import { IBridgeSettings } from './bridge';
import { SETTING_OPTIONS } from './generated/record';

export interface ITaskscopeSettings {
  autoStart: boolean;
  captureLevel: string;
  userLevel: string;
  capturePrint: boolean;
  captureWarnings: boolean;
  capturePools: boolean;
  /** Most view refreshes per second for live figures. */
  statusRefreshRate: number;
}

export const DEFAULT_SETTINGS: ITaskscopeSettings = {
  autoStart: false,
  captureLevel: 'INFO',
  userLevel: 'DEBUG',
  capturePrint: true,
  captureWarnings: true,
  capturePools: true,
  statusRefreshRate: 4
};

/** The bridge's settings from the user's: start() options by SETTING_OPTIONS. */
export function bridgeSettings(values: ITaskscopeSettings): IBridgeSettings {
  // the composite holds every setting of the schema, not only the typed ones
  const all = values as unknown as { [setting: string]: unknown };
  const startOptions: { [option: string]: unknown } = {};
  for (const [setting, option] of Object.entries(SETTING_OPTIONS)) {
    if (all[setting] !== undefined) {
      startOptions[option] = all[setting];
    }
  }
  return { autoStart: values.autoStart, startOptions };
}

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

  /**
   * What the kernel bridge needs: autoStart and taskscope.start()'s options, each named
   * as the kernel declares it for its setting (SETTING_OPTIONS).
   */
  bridgeSettings(): IBridgeSettings {
    return bridgeSettings(this._values);
  }

  private _values: ITaskscopeSettings = DEFAULT_SETTINGS;
  private _changed = new Signal<this, void>(this);
}
