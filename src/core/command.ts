import { type Configuration, configurationKey } from './configuration.ts';

/**
 * What a log slot holds. The consensus code treats every command but `noop` as
 * opaque; state machines give them meaning. Every client command carries an
 * `id` unique to one proposal attempt (hosts use it to find the waiting caller)
 * and may carry an `idempotencyKey` shared by all attempts of one client
 * request (state machines use it to apply the request once).
 */
export type Command = NoopCommand | PutCommand | DeleteCommand | OpaqueCommand | ConfigCommand;

/** Fills a hole a new leader found in the log; applies to nothing. */
export interface NoopCommand {
  readonly kind: 'noop';
}

/** Write `value` under `key`; with `ifRevision`, only if the key's revision equals it (0 = absent). */
export interface PutCommand {
  readonly kind: 'put';
  readonly id: string;
  readonly key: string;
  readonly value: string;
  readonly ifRevision?: number;
  readonly idempotencyKey?: string;
}

/** Remove `key`, whether or not it exists. */
export interface DeleteCommand {
  readonly kind: 'delete';
  readonly id: string;
  readonly key: string;
  readonly idempotencyKey?: string;
}

/** An application log record (DCF `dcf_write` style) that the KV machine does not interpret. */
export interface OpaqueCommand {
  readonly kind: 'opaque';
  readonly id: string;
  readonly data: string;
  readonly idempotencyKey?: string;
}

/**
 * A new stream configuration (membership change). It governs every slot after
 * its own once it is decided; until then a leader decides later slots only
 * with quorums of both the old and the new configuration.
 */
export interface ConfigCommand {
  readonly kind: 'config';
  readonly id: string;
  readonly configuration: Configuration;
}

export type ClientCommand = Exclude<Command, NoopCommand>;

export const NOOP: NoopCommand = Object.freeze({ kind: 'noop' });

export function isClientCommand(c: Command): c is ClientCommand {
  return c.kind !== 'noop';
}

/** Two commands are the same value when their canonical encodings are equal. */
export function commandKey(c: Command): string {
  switch (c.kind) {
    case 'noop':
      return 'noop';
    case 'put':
      return JSON.stringify(['put', c.id, c.key, c.value, c.ifRevision ?? null, c.idempotencyKey ?? null]);
    case 'delete':
      return JSON.stringify(['delete', c.id, c.key, c.idempotencyKey ?? null]);
    case 'opaque':
      return JSON.stringify(['opaque', c.id, c.data, c.idempotencyKey ?? null]);
    case 'config':
      return JSON.stringify(['config', c.id, configurationKey(c.configuration)]);
    default:
      return unreachable(c);
  }
}

export function unreachable(x: never): never {
  throw new Error(`unreachable: ${JSON.stringify(x)}`);
}
