import type { KvChange, KvListener } from '../kv/index.ts';

/**
 * A replica's watches: the history of changes it applied (in memory,
 * bounded) and the watchers it pushes them to. Filled at apply time by the
 * key-value state machine (`KvListener`), so events come in revision order,
 * each change once, the changes of one command (a transaction, a
 * delete_prefix, a lease's end) together under its slot. Nothing polls: a
 * change reaches every watcher the moment it is applied here.
 *
 * The history covers the revisions from `firstRevision` on: since this life
 * of the replica started (a restarted replica replays the log after its
 * snapshot, so it knows the changes from there), or since the snapshot it last
 * installed, and at most `eventsMax` changes / `bytesMax` of keys and values
 * (the oldest revisions go first). A watch from an earlier revision is told
 * `compacted` with the first revision it could have.
 *
 * Pure of any runtime: a watcher is a `WatchSink` (the Durable Object host
 * wraps a ReadableStream around one; the simulator collects events).
 */

/** What a watch follows: one key, or every key under a prefix ('' for all). */
export type WatchFilter = { readonly key: string } | { readonly prefix: string };

/**
 * A watch event as it travels (one SSE `data:` line of JSON each). `moved`: a grow's copy of the key into
 * this shard or drop of it from here (KvChange), not a write; a keyspace watch leaves these out.
 */
export type WatchEvent =
  | { readonly type: 'put'; readonly key: string; readonly value: string; readonly revision: number; readonly create_revision: number; readonly moved?: true }
  | { readonly type: 'delete'; readonly key: string; readonly revision: number; readonly moved?: true }
  /** Every event at or below `revision` that this watch covers was sent; none follows. */
  | { readonly type: 'progress'; readonly revision: number }
  /** The revisions asked for are no longer known here: the stream ends; read the current state and watch on from it. */
  | { readonly type: 'compacted'; readonly first_revision: number };

/** Where a watcher's events go. `send` gets each revision's events at once (then progress and the end as they come). */
export interface WatchSink {
  send(events: readonly WatchEvent[], complete: number | null): void;
  /** No more events (compacted, closed by the replica, or the replica's state was replaced). */
  close(): void;
}

export interface WatchLimits {
  /** Changes kept in the history at most. */
  readonly eventsMax: number;
  /** UTF-16 code units of keys and values kept at most. */
  readonly bytesMax: number;
}

export const DEFAULT_WATCH_LIMITS: WatchLimits = Object.freeze({ eventsMax: 10_000, bytesMax: 16 * 1024 * 1024 });

interface Revision {
  readonly revision: number;
  readonly changes: readonly KvChange[];
  readonly bytes: number;
}

/** One open watch. */
export class Watcher {
  readonly filter: WatchFilter;
  /** The next revision this watcher has not been sent yet. */
  next: number;
  readonly sink: WatchSink;
  closed = false;

  constructor(filter: WatchFilter, next: number, sink: WatchSink) {
    this.filter = filter;
    this.next = next;
    this.sink = sink;
  }

  covers(key: string): boolean {
    return 'key' in this.filter ? key === this.filter.key : key.startsWith(this.filter.prefix);
  }
}

export type WatchOpen = { readonly kind: 'ok'; readonly watcher: Watcher } | { readonly kind: 'compacted'; readonly firstRevision: number };

export class WatchHub implements KvListener {
  private readonly limits: WatchLimits;
  private history: Revision[] = [];
  private events = 0;
  private bytes = 0;
  /** Every change at or after this revision is in the history. */
  private first: number;
  /** The last revision this replica applied, as far as the hub was told. */
  private applied: number;
  private readonly watchers = new Set<Watcher>();

  constructor(appliedThrough: number, limits: WatchLimits = DEFAULT_WATCH_LIMITS) {
    this.limits = limits;
    this.first = appliedThrough + 1;
    this.applied = appliedThrough;
  }

  get firstRevision(): number {
    return this.first;
  }

  get watcherCount(): number {
    return this.watchers.size;
  }

  /** Open a watch from `fromRevision` (absent: from the next change on), replaying what the history holds, then a progress event. */
  open(filter: WatchFilter, fromRevision: number | undefined, sink: WatchSink, appliedThrough: number): WatchOpen {
    this.advance(appliedThrough);
    const from = fromRevision ?? this.applied + 1;
    if (from < this.first) return { kind: 'compacted', firstRevision: this.first };
    const w = new Watcher(filter, from, sink);
    for (const r of this.history) if (r.revision >= from) this.deliver(w, r);
    w.next = Math.max(w.next, this.applied + 1);
    this.watchers.add(w);
    this.progress(w);
    return { kind: 'ok', watcher: w };
  }

  /** Stop a watch (its stream was cancelled or timed out); `final`: send a last progress event first. */
  close(w: Watcher, final: boolean): void {
    if (w.closed) return;
    if (final) this.progress(w);
    w.closed = true;
    this.watchers.delete(w);
    w.sink.close();
  }

  /** Tell watcher `w` (or every watcher) how far it is current. */
  progress(w?: Watcher): void {
    for (const x of w ? [w] : this.watchers) {
      if (x.closed) continue;
      const revision = Math.max(this.applied, x.next - 1);
      x.sink.send([{ type: 'progress', revision }], revision);
    }
  }

  /** The replica applied through `appliedThrough` (slots without changes move progress too). */
  advance(appliedThrough: number): void {
    if (appliedThrough > this.applied) this.applied = appliedThrough;
  }

  changed(revision: number, changes: readonly KvChange[]): void {
    let bytes = 0;
    for (const c of changes) bytes += c.key.length + (c.type === 'put' ? c.value.length : 0);
    const r: Revision = { revision, changes, bytes };
    this.history.push(r);
    this.events += changes.length;
    this.bytes += bytes;
    this.applied = Math.max(this.applied, revision);
    this.trim();
    for (const w of this.watchers) if (w.next <= revision) this.deliver(w, r);
  }

  /**
   * The state was replaced by a snapshot through `appliedThrough` (a restart's
   * recovery, or one installed from the leader): what came before is not
   * known here any more. A watcher still owed an earlier revision cannot get
   * it: it is told `compacted` and closed.
   */
  restored(appliedThrough: number): void {
    this.history = [];
    this.events = 0;
    this.bytes = 0;
    this.first = appliedThrough + 1;
    this.applied = appliedThrough;
    for (const w of [...this.watchers]) {
      if (w.next > appliedThrough) continue;
      w.sink.send([{ type: 'compacted', first_revision: this.first }], null);
      this.close(w, false);
    }
  }

  /** Close every watcher (the replica stops: its host is replaced or destroyed). */
  closeAll(): void {
    for (const w of [...this.watchers]) this.close(w, false);
  }

  private deliver(w: Watcher, r: Revision): void {
    const events: WatchEvent[] = [];
    for (const c of r.changes) {
      if (!w.covers(c.key)) continue;
      const moved = c.moved ? { moved: true as const } : {};
      events.push(c.type === 'put' ? { type: 'put', key: c.key, value: c.value, revision: c.revision, create_revision: c.createRevision, ...moved } : { type: 'delete', key: c.key, revision: c.revision, ...moved });
    }
    w.next = r.revision + 1;
    if (events.length > 0) w.sink.send(events, r.revision);
  }

  private trim(): void {
    while (this.history.length > 1 && (this.events > this.limits.eventsMax || this.bytes > this.limits.bytesMax)) {
      const dropped = this.history.shift()!;
      this.events -= dropped.changes.length;
      this.bytes -= dropped.bytes;
      this.first = dropped.revision + 1;
    }
  }
}
