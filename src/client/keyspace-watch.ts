/**
 * Watches over a keyspace: the cursor that resumes one, the events of one
 * connection, and `watchKeyspaceForever`, which reconnects from the cursor.
 *
 * Revisions are per shard, so a keyspace watch's position is one revision
 * per shard: the cursor `SHARD:REVISION,...` (ascending shards), each
 * REVISION being the next revision of that shard the watch has not
 * delivered (a stream watch's from_revision). The Worker sends every
 * revision of a shard whole, its last event carrying the cursor after it as
 * its `id:`, so resuming from the last `id:` received loses and repeats
 * nothing; the events of one key all come from its shard, in its revision
 * order.
 *
 * No imports from the Worker: this runs in any JavaScript runtime, and the
 * Worker uses the same cursor code.
 */
import { isEdgePaxosError } from './error.ts';
import type { KeyspaceApi, KeyspaceWatchEvent, KeyspaceWatchOptions, WatchEvent } from './types.ts';
import { readSse, sleep } from './watch.ts';

/** Shards a cursor may name: a keyspace has at most 256. */
const CURSOR_SHARDS_MAX = 256;

/** The cursor of per-shard positions (shard -> the next revision to deliver), ascending shards. */
export function encodeWatchCursor(positions: ReadonlyMap<number, number>): string {
  return [...positions.entries()]
    .sort(([a], [b]) => a - b)
    .map(([shard, revision]) => `${shard}:${revision}`)
    .join(',');
}

/** The positions a cursor names, or null when it is not a cursor (each shard once, revisions 1 or more). */
export function parseWatchCursor(cursor: string): Map<number, number> | null {
  const positions = new Map<number, number>();
  if (cursor === '') return positions;
  const parts = cursor.split(',');
  if (parts.length > CURSOR_SHARDS_MAX) return null;
  for (const part of parts) {
    const m = /^([0-9]{1,3}):([0-9]{1,15})$/.exec(part);
    if (!m) return null;
    const shard = Number(m[1]);
    const revision = Number(m[2]);
    if (shard >= CURSOR_SHARDS_MAX || revision < 1 || positions.has(shard)) return null;
    positions.set(shard, revision);
  }
  return positions;
}

/**
 * The Worker's side of a keyspace watch, pure: the shards' events arrive one
 * at a time, each with the revision it completes (its SSE `id:`) or null;
 * a shard's events are held until its revision is complete, then released
 * together, each naming its shard, with the cursor after them. A
 * `compacted` event is released at once (the watch then ends).
 *
 * Across a grow (docs/scaling.md "A keyspace watch across a grow"):
 * - A grow's copy of a key into its new shard and drop of it from the old
 *   one (events marked `moved`) are left out: the keyspace's contents did not
 *   change. A revision of nothing else is released as a progress event, so
 *   the cursor still moves past it.
 * - A cursor names every shard the watch covers, and it is released only
 *   once every shard has a position: so a covered shard the cursor it resumes
 *   from does not name is a shard the previous connection did not cover (a
 *   grow's new shard), and it starts at its first revision (`late`).
 * - A late shard's revisions are held until every other shard has released
 *   one (at open, a replica sends its history from the cursor, then a progress
 *   event): a key's changes at its old shard, all before the hand-off, come
 *   out before its changes at the new one.
 */
export class WatchMerge {
  private readonly positions = new Map<number, number>();
  private readonly pending = new Map<number, KeyspaceWatchEvent[]>();
  private readonly covered: readonly number[];
  private readonly late: ReadonlySet<number>;
  /** The shards (not late) not heard from yet: late shards wait for them. */
  private readonly waiting: Set<number>;
  /** Late shards' complete revisions, while some shard is waited for. */
  private readonly held: { readonly shard: number; readonly events: KeyspaceWatchEvent[]; readonly complete: number }[] = [];

  /** `from`: the cursor resumed from; `covered`: the shards this connection watches (default: those `from` names); `late`: those of them started at their first revision. */
  constructor(from: ReadonlyMap<number, number>, covered: readonly number[] = [...from.keys()], late: ReadonlySet<number> = new Set()) {
    this.covered = covered;
    this.late = late;
    for (const shard of covered) {
      const at = from.get(shard);
      if (at !== undefined) this.positions.set(shard, at);
    }
    this.waiting = new Set(late.size > 0 ? covered.filter((s) => !late.has(s)) : []);
  }

  /** Take one event of `shard`; what to send now (events and the cursor for the last one's `id:`, null while some shard has no position yet), or null while nothing is ready. */
  take(shard: number, event: WatchEvent, complete: number | null): { readonly events: KeyspaceWatchEvent[]; readonly cursor: string | null; readonly end: boolean } | null {
    if (event.type === 'compacted') return { events: [{ ...event, shard }], cursor: null, end: true };
    const held = this.pending.get(shard) ?? [];
    if (!((event.type === 'put' || event.type === 'delete') && event.moved)) held.push({ ...event, shard });
    if (complete === null) {
      this.pending.set(shard, held);
      return null;
    }
    this.pending.delete(shard);
    const events = held.length > 0 ? held : [{ type: 'progress' as const, revision: complete, shard }];
    if (this.late.has(shard) && this.waiting.size > 0) {
      this.held.push({ shard, events, complete });
      return null;
    }
    this.positions.set(shard, complete + 1);
    const out = events;
    if (this.waiting.delete(shard) && this.waiting.size === 0) {
      for (const h of this.held.splice(0)) {
        out.push(...h.events);
        this.positions.set(h.shard, h.complete + 1);
      }
    }
    return { events: out, cursor: this.covered.every((s) => this.positions.has(s)) ? this.cursor : null, end: false };
  }

  /** Where the watch resumes: every complete revision released so far, per shard. */
  get cursor(): string {
    return encodeWatchCursor(this.positions);
  }
}

/** The events of one keyspace watch connection (what `ksWatch` returned), in order, until it ends (or `signal` aborts). */
export async function* keyspaceWatchEvents(stream: ReadableStream<Uint8Array>, signal?: AbortSignal): AsyncGenerator<KeyspaceWatchEvent> {
  for await (const e of readSse<KeyspaceWatchEvent>(stream, signal)) yield e.data;
}

export interface KeyspaceWatchForeverOptions extends KeyspaceWatchOptions {
  /** Stop watching (the generator returns). */
  readonly signal?: AbortSignal;
  /** Called before each reconnection, with the cursor it resumes from and why the previous connection ended. */
  readonly onReconnect?: (cursor: string | undefined, reason: unknown) => void;
}

/**
 * Every change under a key or prefix of a keyspace, for as long as the
 * caller reads (or until `signal` aborts): reconnects whenever a connection
 * ends (the Worker ends a keyspace watch when any shard's connection ends),
 * from the cursor of the last complete revision. Events of a revision are
 * passed on once its last event (the one with the cursor) arrived, so a
 * connection cut inside a revision repeats nothing. Progress events are
 * passed on; a `compacted` event (with its shard) is passed on and ends the
 * generator. Errors that retrying cannot fix (forbidden, invalid, no such
 * keyspace) are thrown; others are retried with a backoff of up to 5 s.
 */
export async function* watchKeyspaceForever(api: Pick<KeyspaceApi, 'ksWatch'>, keyspace: string, opts: KeyspaceWatchForeverOptions): AsyncGenerator<KeyspaceWatchEvent> {
  const { signal, onReconnect, ...watch } = opts;
  let cursor = watch.fromRevision;
  if (cursor !== undefined && parseWatchCursor(cursor) === null) throw new TypeError(`fromRevision: '${cursor}' is not a keyspace watch cursor (SHARD:REVISION,...)`);
  let backoffMs = 100;
  while (!signal?.aborted) {
    let reason: unknown = 'the server closed the connection';
    let delivered = false;
    // The next revision of each shard not yet passed on: a safety net against a server that repeats one.
    const next = parseWatchCursor(cursor ?? '') ?? new Map<number, number>();
    let pending: KeyspaceWatchEvent[] = [];
    try {
      const body = await api.ksWatch(keyspace, { ...watch, ...(cursor !== undefined ? { fromRevision: cursor } : {}) });
      for await (const { data, id } of readSse<KeyspaceWatchEvent>(body, signal)) {
        delivered = true;
        backoffMs = 100;
        if (data.type === 'compacted') {
          yield data;
          return;
        }
        pending.push(data);
        if (id === null) continue; // the revision is not complete yet
        const complete = pending;
        pending = [];
        cursor = id;
        for (const e of complete) {
          const seen = next.get(e.shard);
          if ((e.type === 'put' || e.type === 'delete') && seen !== undefined && e.revision < seen) continue;
          yield e;
        }
        for (const e of complete) if (e.type !== 'compacted') next.set(e.shard, Math.max(next.get(e.shard) ?? 0, e.revision + 1));
      }
    } catch (e) {
      if (signal?.aborted) return;
      if (isEdgePaxosError(e) && e.code === 'compacted') {
        yield { type: 'compacted', first_revision: Number(e.details.first_revision), shard: Number(e.details.shard) };
        return;
      }
      if (isEdgePaxosError(e) && e.status >= 400 && e.status < 500 && e.status !== 429) throw e;
      reason = e;
    }
    if (!delivered) {
      // Nothing came (an error, or a connection that ended at once): wait before trying again.
      await sleep(backoffMs, signal);
      backoffMs = Math.min(5000, backoffMs * 2);
    }
    if (signal?.aborted) return;
    onReconnect?.(cursor, reason);
  }
}
