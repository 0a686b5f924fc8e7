import { InvalidArgumentError } from 'commander';

/** Commander argument parsers that name the flag and the bad value. */
export function parseNumberOption(name: string, opts: { min?: number; max?: number; integer?: boolean } = {}) {
  return (raw: string): number => {
    const v = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(v)) throw new InvalidArgumentError(`${name} must be a number, got "${raw}"`);
    if (opts.integer && !Number.isInteger(v)) throw new InvalidArgumentError(`${name} must be an integer, got "${raw}"`);
    if (opts.min !== undefined && v < opts.min) throw new InvalidArgumentError(`${name} must be >= ${opts.min}, got ${v}`);
    if (opts.max !== undefined && v > opts.max) throw new InvalidArgumentError(`${name} must be <= ${opts.max}, got ${v}`);
    return v;
  };
}

export const parsePort = parseNumberOption('port', { min: 0, max: 65535, integer: true });
export const parseSeed = parseNumberOption('seed', { min: 0, max: 0xffffffff, integer: true });
export const parseTimeScale = parseNumberOption('time-scale', { min: 0.0001, max: 100 });
