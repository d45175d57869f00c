import type { OptionSpec } from '../config/options.js';
import type { SettingSource } from './facts.js';

/** Where `key` was set: its flag, else the first of its environment variables set, else neither. */
export function settingSource(
  options: readonly OptionSpec[],
  key: string,
  flags: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
): SettingSource {
  const option = options.find((o) => o.key === key);
  if (!option) return { kind: 'discovery' };
  if (typeof flags[key] === 'string' && flags[key] !== '') {
    return { kind: 'flag', name: option.flag.split(' ')[0]! };
  }
  const name = option.env.find((n) => env[n] !== undefined && env[n] !== '');
  return name === undefined ? { kind: 'discovery' } : { kind: 'environment', name };
}

export function describeSetting(source: SettingSource, discoveredBy: string): string {
  switch (source.kind) {
    case 'flag':
      return `from flag ${source.name}`;
    case 'environment':
      return `from environment ${source.name}`;
    case 'discovery':
      return `discovered ${discoveredBy}`;
  }
}
