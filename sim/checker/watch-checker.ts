/**
 * Watch delivery, checked against what happened: every change a watch
 * covers appears in it once, in revision order, up to the last progress it
 * was sent (and a prefix of what follows after); no event for a change that
 * did not happen; after a progress event R, no event at or below R.
 *
 * Two sources of truth:
 * - `checkWatch`: the whole truth, the changes of every slot as the replicas
 *   applied them (the simulator's; they are the same on every replica, which
 *   the simulator checks too). Exact in both directions.
 * - `checkWatchAgainstWrites`: what clients know (the workerd tests): writes
 *   with a known revision certainly happened; writes whose outcome is unknown
 *   may have. Values are unique per write, so a put event names its write.
 *
 * Pure TypeScript (runs in workerd too).
 */
import type { KvChange } from '../../src/kv/index.ts';

/** What a watch was asked for and what it delivered, across reconnections (the client's view). */
export interface WatchRecord {
  readonly filter: { readonly key: string } | { readonly prefix: string };
  /** The first from_revision asked for (undefined: from the first progress event on). */
  readonly from: number | undefined;
  /** Every event, progress included, in delivery order. */
  readonly events: readonly WatchedEvent[];
}

export type WatchedEvent =
  | { readonly type: 'put'; readonly key: string; readonly value: string; readonly revision: number }
  | { readonly type: 'delete'; readonly key: string; readonly revision: number }
  | { readonly type: 'progress'; readonly revision: number }
  | { readonly type: 'compacted'; readonly first_revision: number };

export type WatchVerdict = { readonly ok: true; readonly delivered: number; readonly coveredThrough: number } | { readonly ok: false; readonly message: string };

function covers(filter: WatchRecord['filter'], key: string): boolean {
  return 'key' in filter ? key === filter.key : key.startsWith(filter.prefix);
}

function describe(e: WatchedEvent | KvChange): string {
  if (e.type === 'put') return `put ${e.key}=${JSON.stringify(e.value)}@${e.revision}`;
  if (e.type === 'delete') return `delete ${e.key}@${e.revision}`;
  if (e.type === 'progress') return `progress@${e.revision}`;
  return `compacted(first ${e.first_revision})`;
}

/** The revision a watch starts at: its from_revision, or the one after its first progress event. */
function startOf(record: WatchRecord): number | null {
  if (record.from !== undefined) return record.from;
  const first = record.events[0];
  return first?.type === 'progress' ? first.revision + 1 : null;
}

/**
 * Check a watch against the changes of every slot (`changesAt(r)`: the changes
 * applied at slot r, [] for a slot without any, undefined for a slot not
 * applied anywhere yet).
 */
export function checkWatch(record: WatchRecord, changesAt: (revision: number) => readonly KvChange[] | undefined): WatchVerdict {
  const start = startOf(record);
  if (start === null) {
    return record.events.length === 0 ? { ok: true, delivered: 0, coveredThrough: 0 } : { ok: false, message: `a watch without from_revision began with ${describe(record.events[0]!)}, not a progress event` };
  }
  // The expected events, revision by revision, produced as far as needed.
  const expected: KvChange[] = [];
  let producedThrough = start - 1;
  const produceThrough = (r: number): boolean => {
    while (producedThrough < r) {
      const cs = changesAt(producedThrough + 1);
      if (cs === undefined) return false;
      producedThrough += 1;
      for (const c of cs) if (covers(record.filter, c.key)) expected.push(c);
    }
    return true;
  };
  let next = 0;
  let progress = start - 1;
  let delivered = 0;
  for (const [i, e] of record.events.entries()) {
    if (e.type === 'compacted') {
      if (i !== record.events.length - 1) return { ok: false, message: `events followed ${describe(e)}` };
      break;
    }
    if (e.type === 'progress') {
      if (!produceThrough(e.revision)) return { ok: false, message: `progress@${e.revision} is beyond every slot applied anywhere` };
      const owed = expected.slice(next).filter((c) => c.revision <= e.revision);
      if (owed.length > 0) return { ok: false, message: `progress@${e.revision} (event ${i}) came before ${owed.map(describe).join(', ')}: missing from the watch` };
      progress = Math.max(progress, e.revision);
      continue;
    }
    if (e.revision <= progress) return { ok: false, message: `${describe(e)} (event ${i}) came after progress@${progress}` };
    if (!produceThrough(e.revision)) return { ok: false, message: `${describe(e)} (event ${i}) is for a slot not applied anywhere` };
    const want = expected[next];
    const same = want !== undefined && want.type === e.type && want.key === e.key && want.revision === e.revision && (want.type !== 'put' || (e.type === 'put' && want.value === e.value));
    if (!same) {
      const dup = expected.slice(0, next).some((c) => c.type === e.type && c.key === e.key && c.revision === e.revision);
      return { ok: false, message: `${describe(e)} (event ${i}): ${dup ? 'delivered twice' : want ? `expected ${describe(want)}` : 'no such change'}` };
    }
    next += 1;
    delivered += 1;
  }
  return { ok: true, delivered, coveredThrough: progress };
}

/** A change a client made, as far as it knows it. */
export interface ClientWrite {
  readonly type: 'put' | 'delete';
  readonly key: string;
  /** For a put: unique per write. */
  readonly value?: string;
  /** The revision it was decided at; undefined when its outcome is unknown (it may or may not have happened). */
  readonly revision?: number;
  /** For a delete with a known revision: whether it removed the key (a delete of an absent key is no change). */
  readonly deleted?: boolean;
}

/** Check a watch against the writes clients made (every change under the watch must be among them). */
export function checkWatchAgainstWrites(record: WatchRecord, writes: readonly ClientWrite[]): WatchVerdict {
  const start = startOf(record);
  if (start === null) return record.events.length === 0 ? { ok: true, delivered: 0, coveredThrough: 0 } : { ok: false, message: 'a live watch did not begin with a progress event' };
  const seen = new Set<string>();
  let last = 0;
  let progress = start - 1;
  let delivered = 0;
  for (const [i, e] of record.events.entries()) {
    if (e.type === 'compacted') break;
    if (e.type === 'progress') {
      progress = Math.max(progress, e.revision);
      continue;
    }
    if (e.revision <= progress) return { ok: false, message: `${describe(e)} (event ${i}) came after progress@${progress}` };
    if (e.revision < last) return { ok: false, message: `${describe(e)} (event ${i}) came after an event of revision ${last}` };
    last = e.revision;
    const id = `${e.type} ${e.key}@${e.revision}`;
    if (seen.has(id)) return { ok: false, message: `${describe(e)} (event ${i}) delivered twice` };
    seen.add(id);
    const match = writes.some(
      (w) => w.type === e.type && w.key === e.key && (w.revision === undefined || w.revision === e.revision) && (e.type !== 'put' || w.value === e.value) && (w.type === 'put' || w.revision === undefined || w.deleted !== false),
    );
    if (!match) return { ok: false, message: `${describe(e)} (event ${i}) matches no write` };
    delivered += 1;
  }
  for (const w of writes) {
    if (w.revision === undefined || w.revision < start || w.revision > progress || !covers(record.filter, w.key)) continue;
    if (w.type === 'delete' && w.deleted === false) continue;
    if (!seen.has(`${w.type} ${w.key}@${w.revision}`)) return { ok: false, message: `${w.type} ${w.key}@${w.revision} (acknowledged) is missing from the watch, which was current through ${progress}` };
  }
  return { ok: true, delivered, coveredThrough: progress };
}
