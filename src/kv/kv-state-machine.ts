import { type Command, unreachable } from '../core/command.ts';
import type { StateMachine } from '../core/state-machine.ts';

/** A key's current value; `revision` is the slot that last changed it. */
export interface KvItem {
  readonly key: string;
  readonly value: string;
  readonly revision: number;
}

/**
 * The outcome of applying a command. `revision` of a put or delete is the slot
 * the command was decided at; a failed compare reports the key's current
 * revision (0 when absent).
 */
export type KvResult =
  | { readonly kind: 'put'; readonly ok: true; readonly revision: number }
  | { readonly kind: 'put'; readonly ok: false; readonly code: 'revision_mismatch'; readonly currentRevision: number }
  | { readonly kind: 'delete'; readonly deleted: boolean; readonly revision: number }
  | { readonly kind: 'opaque'; readonly index: number }
  | { readonly kind: 'noop' }
  /** A configuration change took effect after this slot. */
  | { readonly kind: 'config'; readonly slot: number }
  /** The idempotency key was first used, at `firstSlot`, for a different request: nothing was applied. */
  | { readonly kind: 'rejected'; readonly code: 'idempotency_key_reused'; readonly firstSlot: number };

export interface KvOptions {
  /** Idempotency keys remembered at most; the oldest are forgotten first. */
  readonly sessionsMax: number;
  /** A remembered key is forgotten once the log is this many slots past it. */
  readonly sessionTtlSlots: number;
}

export const DEFAULT_KV_OPTIONS: KvOptions = Object.freeze({ sessionsMax: 100_000, sessionTtlSlots: 1_000_000 });

interface Session {
  readonly slot: number;
  readonly result: KvResult;
  /** What the request was (everything but its attempt id), to tell a retry from a reuse. */
  readonly request: string;
}

interface KvSnapshot {
  readonly v: 1;
  /** The last slot applied (named `appliedIndex` in the stored format: snapshots already stored keep being read). */
  readonly appliedIndex: number;
  readonly items: readonly [string, string, number][];
  readonly sessions: readonly [string, number, KvResult, string][];
}

/**
 * A key-value store with per-key revisions, compare-and-set, and client
 * sessions: a command with an idempotency key is applied once and every retry
 * gets the first result (a key reused for a different request is rejected). Session memory is bounded by count and by age in
 * slots, so expiry is the same on every replica (no clocks involved). Opaque
 * log records are remembered for their sessions and otherwise ignored.
 */
export class KvStateMachine implements StateMachine<KvResult> {
  private items = new Map<string, { value: string; revision: number }>();
  /** In slot order: the oldest session is first. */
  private sessions = new Map<string, Session>();
  private applied = 0;
  private readonly options: KvOptions;

  constructor(options: KvOptions = DEFAULT_KV_OPTIONS) {
    this.options = options;
    if (!(options.sessionsMax >= 1 && options.sessionTtlSlots >= 1)) {
      throw new RangeError('kv: sessionsMax and sessionTtlSlots must be at least 1');
    }
  }

  get appliedThrough(): number {
    return this.applied;
  }

  apply(slot: number, command: Command): KvResult {
    if (slot !== this.applied + 1) throw new Error(`kv: applying slot ${slot} after ${this.applied}`);
    this.applied = slot;
    this.expireSessions(slot);
    if (command.kind === 'noop') return { kind: 'noop' };
    if (command.kind === 'config') return { kind: 'config', slot };
    if (command.idempotencyKey !== undefined) {
      const seen = this.sessions.get(command.idempotencyKey);
      if (seen) {
        if (seen.request !== requestOf(command)) return { kind: 'rejected', code: 'idempotency_key_reused', firstSlot: seen.slot };
        return seen.result;
      }
    }
    const result = this.execute(slot, command);
    this.remember(slot, command, result);
    return result;
  }

  private remember(slot: number, command: Exclude<Command, { kind: 'noop' | 'config' }>, result: KvResult): void {
    if (command.idempotencyKey !== undefined) {
      this.sessions.set(command.idempotencyKey, { slot, result, request: requestOf(command) });
      if (this.sessions.size > this.options.sessionsMax) {
        const oldest = this.sessions.keys().next().value as string;
        this.sessions.delete(oldest);
      }
    }
  }

  private execute(slot: number, command: Exclude<Command, { kind: 'noop' | 'config' }>): KvResult {
    switch (command.kind) {
      case 'put': {
        const current = this.items.get(command.key);
        const currentRevision = current?.revision ?? 0;
        if (command.ifRevision !== undefined && command.ifRevision !== currentRevision) {
          return { kind: 'put', ok: false, code: 'revision_mismatch', currentRevision };
        }
        this.items.set(command.key, { value: command.value, revision: slot });
        return { kind: 'put', ok: true, revision: slot };
      }
      case 'delete': {
        const deleted = this.items.delete(command.key);
        return { kind: 'delete', deleted, revision: slot };
      }
      case 'opaque':
        return { kind: 'opaque', index: slot };
      default:
        return unreachable(command);
    }
  }

  private expireSessions(slot: number): void {
    for (const [key, s] of this.sessions) {
      if (slot - s.slot <= this.options.sessionTtlSlots) break;
      this.sessions.delete(key);
    }
  }

  get(key: string): KvItem | undefined {
    const item = this.items.get(key);
    return item ? { key, value: item.value, revision: item.revision } : undefined;
  }

  /** Keys starting with `prefix` (and greater than `after`, when given), in ascending key order, at most `limit` of them. */
  list(prefix: string, limit: number, after?: string): KvItem[] {
    const keys = [...this.items.keys()].filter((k) => k.startsWith(prefix) && (after === undefined || k > after)).sort();
    return keys.slice(0, Math.max(0, limit)).map((key) => this.get(key)!);
  }

  get size(): number {
    return this.items.size;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  snapshot(): string {
    const items = [...this.items.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]): [string, string, number] => [k, v.value, v.revision]);
    const sessions = [...this.sessions.entries()].map(([k, s]): [string, number, KvResult, string] => [k, s.slot, s.result, s.request]);
    const snap: KvSnapshot = { v: 1, appliedIndex: this.applied, items, sessions };
    return JSON.stringify(snap);
  }

  restore(snapshot: string): void {
    const snap = JSON.parse(snapshot) as KvSnapshot;
    if (snap.v !== 1) throw new Error(`kv: unknown snapshot version ${String(snap.v)}`);
    this.items = new Map(snap.items.map(([k, value, revision]) => [k, { value, revision }]));
    this.sessions = new Map(snap.sessions.map(([k, slot, result, request]) => [k, { slot, result, request }]));
    this.applied = snap.appliedIndex;
  }
}

/** A client request without its attempt id: retries of one request are equal, reuses of a key for another are not. */
function requestOf(c: Exclude<Command, { kind: 'noop' | 'config' }>): string {
  switch (c.kind) {
    case 'put':
      return JSON.stringify(['put', c.key, c.value, c.ifRevision ?? null]);
    case 'delete':
      return JSON.stringify(['delete', c.key]);
    case 'opaque':
      return JSON.stringify(['opaque', c.data]);
    default:
      return unreachable(c);
  }
}
