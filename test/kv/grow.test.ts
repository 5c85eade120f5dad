import { describe, expect, it } from 'vitest';
import { WatchMerge, parseWatchCursor } from '../../src/client/keyspace-watch.ts';
import type { KeyspaceWatchEvent } from '../../src/client/types.ts';
import type { Command } from '../../src/core/index.ts';
import { WatchHub, type WatchEvent } from '../../src/host/watch-hub.ts';
import { HASH_SPACE, KvStateMachine, type RangeMove, type ShardMap, evenMap, grownMap, mapProblem, rangesOf, shardOfKey } from '../../src/kv/index.ts';

function next(sm: KvStateMachine, c: Command) {
  return sm.apply(sm.appliedThrough + 1, c);
}

let ids = 0;
const id = (): string => `g${++ids}`;

const assign = (map: ShardMap, shard: number, moving: readonly RangeMove[] = []): Command => {
  const incoming = moving.filter((m) => m.target === shard).map((m) => ({ from: m.from, to: m.to }));
  return { kind: 'shard-assign', id: id(), keyspace: 'ks', shard, version: map.version, ranges: rangesOf(map, shard), ...(incoming.length > 0 ? { incoming } : {}) };
};

/** Keyspace `ks` on one shard (version 1) with some keys, grown to two: the map, the move, the source and a fresh target. */
function oneToTwo() {
  const v1 = evenMap(1);
  const source = new KvStateMachine();
  next(source, assign(v1, 0));
  const { map: v2, moves } = grownMap(v1, 2);
  const keys = Array.from({ length: 20 }, (_, i) => `key-${i}`);
  for (const k of keys) next(source, { kind: 'put', id: id(), key: k, value: `v-${k}`, mapVersion: 1 });
  const moving = keys.filter((k) => shardOfKey(v2, k) === 1);
  const staying = keys.filter((k) => shardOfKey(v2, k) === 0);
  const target = new KvStateMachine();
  return { v1, v2, move: moves[0]!, moves, source, target, moving, staying };
}

/** The copy, as keyspace-grow.ts runs it: export chunks from the source, install them at the target. */
function copy(source: KvStateMachine, target: KvStateMachine, move: RangeMove, version: number): void {
  let after: string | null = null;
  for (;;) {
    const page = next(source, { kind: 'shard-export', id: id(), version, from: move.from, to: move.to, after });
    if (page.kind !== 'shard-export') throw new Error(JSON.stringify(page));
    if (page.items.length > 0) next(target, { kind: 'shard-install', id: id(), version, items: page.items.map((i) => [i.key, i.value] as const), revisionFloor: page.revision });
    if (!page.more) return;
    after = page.items[page.items.length - 1]!.key;
  }
}

describe('partition: a grown map', () => {
  it('gives each new shard the upper half of the widest range, so every moved range lies inside one old shard', () => {
    for (const [from, to] of [
      [1, 2],
      [2, 4],
      [1, 4],
      [3, 7],
      [4, 256],
    ] as const) {
      const before = evenMap(from);
      const { map, moves } = grownMap(before, to);
      expect(mapProblem(map)).toBeNull();
      expect(map.version).toBe(2);
      expect(new Set(map.ranges.map((r) => r.shard)).size).toBe(to);
      expect(moves.map((m) => m.target).sort((a, b) => a - b)).toEqual(Array.from({ length: to - from }, (_, i) => from + i));
      for (const m of moves) {
        // One source owned all of it: no chains of moves.
        const owner = before.ranges.find((r) => r.from <= m.from && m.to <= r.to);
        expect(owner?.shard).toBe(m.source);
      }
    }
    expect(grownMap(evenMap(2), 4).moves).toEqual([
      { from: HASH_SPACE / 4, to: HASH_SPACE / 2, source: 0, target: 2 },
      { from: (3 * HASH_SPACE) / 4, to: HASH_SPACE, source: 1, target: 3 },
    ]);
    expect(() => grownMap(evenMap(4), 4)).toThrow(RangeError);
  });
});

describe('kv: a grow moves a range from its shard to a new one', () => {
  it('hands off only when no intent holds a moving key; then the source refuses those keys and keeps them frozen', () => {
    const { v2, moves, source, moving, staying } = oneToTwo();
    const k = moving[0]!;
    const vote = next(source, { kind: 'txn-prepare', id: id(), txid: 't1', coordinator: 'ks_s0000', deadlineMs: 1, mapVersion: 1, compare: [], success: [{ put: { key: k, value: 'txn' } }], failure: [] });
    expect(vote).toMatchObject({ kind: 'txn-vote', vote: 'yes' });
    expect(next(source, assign(v2, 0, moves))).toMatchObject({ kind: 'rejected', code: 'locked', key: k, intent: { txid: 't1' } });
    expect(source.shard?.version).toBe(1);
    // An intent on a key that stays does not hold the hand-off back.
    next(source, { kind: 'txn-resolve', id: id(), txid: 't1', outcome: 'commit-success' });
    next(source, { kind: 'txn-prepare', id: id(), txid: 't2', coordinator: 'ks_s0000', deadlineMs: 1, mapVersion: 1, compare: [], success: [{ put: { key: staying[0]!, value: 'txn' } }], failure: [] });
    expect(next(source, assign(v2, 0, moves))).toEqual({ kind: 'shard-assigned', version: 2, applied: true });
    expect(next(source, { kind: 'put', id: id(), key: k, value: 'late', mapVersion: 2 })).toMatchObject({ kind: 'rejected', code: 'wrong_shard', version: 2 });
    expect(next(source, { kind: 'put', id: id(), key: k, value: 'stale', mapVersion: 1 })).toMatchObject({ kind: 'rejected', code: 'wrong_shard', version: 2 });
    expect(source.shardGet(k, 2)).toMatchObject({ kind: 'wrong_shard' });
    expect(source.get(k)?.value).toBe('txn'); // frozen, not gone
    expect(source.shardGet(staying[1]!, 2)).toMatchObject({ kind: 'ok' });
  });

  it('copies the frozen keys to the new shard, which serves nothing of the range until ready, then drops them at the source', () => {
    const { v2, moves, move, source, target, moving } = oneToTwo();
    next(source, assign(v2, 0, moves));
    next(target, assign(v2, 1, moves));
    const k = moving[0]!;
    expect(target.shardGet(k, 2)).toEqual({ kind: 'moving', key: k });
    expect(target.shardList('', 10, undefined, 2)).toMatchObject({ kind: 'moving' });
    expect(next(target, { kind: 'put', id: id(), key: k, value: 'early', mapVersion: 2 })).toMatchObject({ kind: 'rejected', code: 'moving' });
    expect(next(target, { kind: 'txn-prepare', id: id(), txid: 't', coordinator: 'ks_s0000', deadlineMs: 1, mapVersion: 2, compare: [], success: [{ put: { key: k, value: 'x' } }], failure: [] })).toMatchObject({
      kind: 'rejected',
      code: 'moving',
    });
    // The export reads only handed-off keys: a range the source still serves is refused.
    expect(next(source, { kind: 'shard-export', id: id(), version: 2, from: 0, to: move.from, after: null })).toMatchObject({ kind: 'rejected', code: 'wrong_shard' });
    copy(source, target, move, 2);
    expect(target.shardGet(k, 2)).toEqual({ kind: 'moving', key: k });
    expect(next(target, { kind: 'shard-ready', id: id(), version: 2, from: move.from, to: move.to })).toEqual({ kind: 'shard-ready', applied: true });
    for (const key of moving) expect(target.shardGet(key, 2)).toMatchObject({ kind: 'ok', value: { value: `v-${key}` } });
    // A late install (a second driver) changes nothing once the range is served.
    next(target, { kind: 'put', id: id(), key: k, value: 'new', mapVersion: 2 });
    expect(next(target, { kind: 'shard-install', id: id(), version: 2, items: [[k, 'old']], revisionFloor: 1 })).toEqual({ kind: 'shard-installed', applied: false, keys: 0 });
    expect(target.get(k)?.value).toBe('new');
    expect(next(source, { kind: 'shard-drop', id: id(), version: 2, from: move.from, to: move.to })).toEqual({ kind: 'shard-dropped', keys: moving.length });
    for (const key of moving) expect(source.get(key)).toBeUndefined();
    expect(next(source, { kind: 'shard-drop', id: id(), version: 2, from: move.from, to: move.to })).toEqual({ kind: 'shard-dropped', keys: 0 });
  });

  it("raises the new shard's revisions above every revision the source gave, so a compare-and-set with an old one fails", () => {
    const { v2, moves, move, source, target, moving } = oneToTwo();
    // The source's log is much longer than the target's will be.
    for (let i = 0; i < 200; i++) next(source, { kind: 'noop' });
    const k = moving[0]!;
    const put = next(source, { kind: 'put', id: id(), key: k, value: 'at-source', mapVersion: 1 });
    const oldRevision = put.kind === 'put' && put.ok ? put.revision : -1;
    next(source, assign(v2, 0, moves));
    next(target, assign(v2, 1, moves));
    copy(source, target, move, 2);
    next(target, { kind: 'shard-ready', id: id(), version: 2, from: move.from, to: move.to });
    const moved = target.get(k)!;
    expect(moved.value).toBe('at-source');
    expect(moved.revision).toBeGreaterThan(source.revision - 1);
    expect(moved.createRevision).toBe(moved.revision);
    // Enough writes at the target to reach the old revision as a slot: the revision never comes back.
    let last = 0;
    for (let i = 0; i < 250; i++) {
      const r = next(target, { kind: 'put', id: id(), key: k, value: `w${i}`, ifRevision: oldRevision, mapVersion: 2 });
      expect(r).toMatchObject({ kind: 'put', ok: false });
      const w = next(target, { kind: 'put', id: id(), key: k, value: `w${i}`, mapVersion: 2 });
      if (w.kind === 'put' && w.ok) {
        expect(w.revision).toBeGreaterThan(last);
        last = w.revision;
      }
    }
    expect(last).toBe(target.revision);
  });

  it('keeps incoming ranges and the revision base across a snapshot', () => {
    const { v2, moves, move, source, target, moving } = oneToTwo();
    for (let i = 0; i < 50; i++) next(source, { kind: 'noop' });
    next(source, assign(v2, 0, moves));
    next(target, assign(v2, 1, moves));
    copy(source, target, move, 2);
    const restored = new KvStateMachine();
    restored.restore(target.snapshot());
    expect(restored.revision).toBe(target.revision);
    expect(restored.shardGet(moving[0]!, 2)).toMatchObject({ kind: 'moving' });
    next(restored, { kind: 'shard-ready', id: id(), version: 2, from: move.from, to: move.to });
    const w = next(restored, { kind: 'put', id: id(), key: moving[0]!, value: 'x', mapVersion: 2 });
    expect(w).toMatchObject({ kind: 'put', ok: true, revision: target.revision + 2 });
  });
});

describe('kv: a keyspace watch across a grow', () => {
  /** The hubs of the source and the new shard, fed at apply time as a replica's are. */
  function watched(sm: KvStateMachine): WatchHub {
    const hub = new WatchHub(sm.appliedThrough);
    sm.listen({ changed: (revision, changes) => hub.changed(revision, changes), restored: (at) => hub.restored(at) });
    return hub;
  }
  function collect(hub: WatchHub, from?: number) {
    const got: { events: readonly WatchEvent[]; complete: number | null }[] = [];
    const opened = hub.open({ prefix: '' }, from, { send: (events, complete) => void got.push({ events, complete }), close: () => undefined }, hub.firstRevision - 1);
    expect(opened.kind).toBe('ok');
    return got;
  }

  it("marks the grow's copy and drop as moved in each shard's own watch, and the keyspace merge leaves them out", () => {
    const { v2, moves, move, source, target, moving } = oneToTwo();
    const sourceHub = watched(source);
    const targetHub = watched(target);
    const atSource = collect(sourceHub);
    const atTarget = collect(targetHub, 1);
    next(source, assign(v2, 0, moves));
    next(target, assign(v2, 1, moves));
    copy(source, target, move, 2);
    next(target, { kind: 'shard-ready', id: id(), version: 2, from: move.from, to: move.to });
    const k = moving[0]!;
    const write = next(target, { kind: 'put', id: id(), key: k, value: 'after-the-grow', mapVersion: 2 });
    next(source, { kind: 'shard-drop', id: id(), version: 2, from: move.from, to: move.to });

    // Each shard's own watch shows the moves, marked: a put per moved key at the new shard, a delete at the source.
    const changesAt = (got: typeof atSource) => got.flatMap((g) => g.events).filter((e) => e.type === 'put' || e.type === 'delete');
    expect(changesAt(atTarget).filter((e) => e.type === 'put' && e.moved).map((e) => (e.type === 'put' ? e.key : '')).sort()).toEqual([...moving].sort());
    expect(changesAt(atSource).filter((e) => e.type === 'delete' && e.moved)).toHaveLength(moving.length);
    expect(changesAt(atSource).filter((e) => !('moved' in e))).toEqual([]);
    expect(changesAt(atTarget).filter((e) => !('moved' in e))).toEqual([{ type: 'put', key: k, value: 'after-the-grow', revision: write.kind === 'put' && write.ok ? write.revision : -1, create_revision: expect.any(Number) }]);

    // The merge of both (the new shard late: started at its first revision) passes on the write alone; the
    // revisions of nothing but moves become progress, so the cursor still moves past them.
    const merge = new WatchMerge(new Map([[0, sourceHub.firstRevision]]), [0, 1], new Set([1]));
    const out: KeyspaceWatchEvent[] = [];
    let cursor: string | null = null;
    const feed = (shard: number, got: typeof atSource) => {
      for (const g of got) {
        g.events.forEach((e, i) => {
          const r = merge.take(shard, e, i === g.events.length - 1 ? g.complete : null);
          if (r) {
            out.push(...r.events);
            if (r.cursor !== null) cursor = r.cursor;
          }
        });
      }
    };
    // The new shard's events come first here, yet wait for the source's first revision.
    feed(1, atTarget);
    expect(out).toEqual([]);
    feed(0, atSource);
    expect(out.filter((e) => e.type === 'put' || e.type === 'delete')).toEqual([expect.objectContaining({ type: 'put', key: k, value: 'after-the-grow', shard: 1 })]);
    expect(out.some((e) => (e.type === 'put' || e.type === 'delete') && e.moved)).toBe(false);
    expect(parseWatchCursor(cursor!)).toEqual(new Map([[0, source.revision + 1], [1, target.revision + 1]]));
  });

  it('releases no cursor until every shard the watch covers has a position, so a resumed cursor names them all', () => {
    const merge = new WatchMerge(new Map(), [0, 1, 2]);
    expect(merge.take(0, { type: 'progress', revision: 5 }, 5)).toEqual({ events: [{ type: 'progress', revision: 5, shard: 0 }], cursor: null, end: false });
    expect(merge.take(2, { type: 'put', key: 'a', value: '1', revision: 9, create_revision: 9 }, 9)?.cursor).toBeNull();
    expect(merge.take(1, { type: 'progress', revision: 3 }, 3)?.cursor).toBe('0:6,1:4,2:10');
  });
});
