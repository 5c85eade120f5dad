import type { Context, OptionSpec } from '../command.ts';
import { stringOption } from '../command.ts';

/** The options the data and coordination commands share. */
export const STREAM: OptionSpec = { type: 'string', short: 's', description: 'The stream (default: default)' };

export function streamOf(ctx: Context): string {
  return stringOption(ctx, 'stream') ?? 'default';
}

/** Resolves after `ms`, or as soon as `signal` is aborted. */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((done) => {
    if (signal?.aborted) return done();
    const timer = setTimeout(finish, ms);
    function finish(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', finish);
      done();
    }
    signal?.addEventListener('abort', finish, { once: true });
  });
}

/** Resolves when `signal` is aborted (never, without one). */
export function interrupted(signal?: AbortSignal): Promise<void> {
  return new Promise((done) => {
    if (!signal) return;
    if (signal.aborted) return done();
    signal.addEventListener('abort', () => done(), { once: true });
  });
}
