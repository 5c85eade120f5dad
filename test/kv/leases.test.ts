import { describe, expect, it } from 'vitest';
import type { Command, Entry } from '../../src/core/index.ts';
import { type KvChange, type KvResult, KvStateMachine, LeaseKeeper, leaseIdOf } from '../../src/kv/index.ts';

function next(sm: KvStateMachine, c: Command): KvResult {
  return sm.apply(sm.appliedThrough + 1, c);
}

/** Apply `c` and tell the keeper, as the runner does. */
function applied(sm: KvStateMachine, keeper: LeaseKeeper, c: Command, now: number): KvResult {
  const slot = sm.appliedThrough + 1;
  const result = sm.apply(slot, c);
  keeper.applied({ slot, ballot: { round: 1, replicaId: 1 }, command: c } as Entry, result, now);
  return result;
}

describe('kv: leases in the replicated state', () => {
  it('grants a lease whose id is its slot, attaches keys to it, and deletes them in key order when it is revoked', () => {
    const sm = new KvStateMachine();
    const changes: [number, KvChange[]][] = [];
    sm.listen({ changed: (r, cs) => changes.push([r, [...cs]]), restored: () => {} });
    expect(next(sm, { kind: 'lease-grant', id: 'g', ttlMs: 5000 })).toEqual({ kind: 'lease', lease: leaseIdOf(1), ttlMs: 5000 });
    const lease = leaseIdOf(1);
    expect(lease).toBe('0000000000000001');
    next(sm, { kind: 'put', id: 'b', key: 'b', value: '1', lease });
    next(sm, { kind: 'put', id: 'a', key: 'a', value: '1', lease });
    next(sm, { kind: 'put', id: 'c', key: 'c', value: '1' });
    expect(sm.lease(lease)).toEqual({ id: lease, ttlMs: 5000, refreshedAt: 1, keys: ['a', 'b'] });
    expect(sm.get('a')?.lease).toBe(lease);
    changes.length = 0;
    expect(next(sm, { kind: 'lease-revoke', id: 'r', lease })).toEqual({ kind: 'lease-ended', lease, how: 'revoked', keys: ['a', 'b'], revision: 5 });
    expect(changes).toEqual([[5, [{ type: 'delete', key: 'a', revision: 5 }, { type: 'delete', key: 'b', revision: 5 }]]]);
    expect(sm.lease(lease)).toBeUndefined();
    expect(sm.get('c')).toBeDefined();
    expect(next(sm, { kind: 'lease-keepalive', id: 'k', lease })).toEqual({ kind: 'rejected', code: 'lease_not_found', lease });
  });

  it('moves a key between leases on put, detaches it on a put without a lease, and keeps it with ignore_lease', () => {
    const sm = new KvStateMachine();
    next(sm, { kind: 'lease-grant', id: 'g1', ttlMs: 5000 });
    next(sm, { kind: 'lease-grant', id: 'g2', ttlMs: 5000 });
    const [l1, l2] = [leaseIdOf(1), leaseIdOf(2)];
    next(sm, { kind: 'put', id: 'p', key: 'k', value: '1', lease: l1 });
    next(sm, { kind: 'put', id: 'p', key: 'k', value: '2', lease: l2 });
    expect([sm.lease(l1)?.keys, sm.lease(l2)?.keys]).toEqual([[], ['k']]);
    next(sm, { kind: 'txn', id: 't', compare: [], success: [{ put: { key: 'k', value: '3', ignoreLease: true } }], failure: [] });
    expect(sm.get('k')).toMatchObject({ value: '3', lease: l2 });
    next(sm, { kind: 'put', id: 'p', key: 'k', value: '4' });
    expect(sm.get('k')?.lease).toBeUndefined();
    expect(sm.lease(l2)?.keys).toEqual([]);
    next(sm, { kind: 'put', id: 'p', key: 'k', value: '5', lease: l2 });
    next(sm, { kind: 'delete', id: 'd', key: 'k' });
    expect(sm.lease(l2)?.keys).toEqual([]);
  });

  it('an expiry applies only if no keep-alive was decided since the leader proposed it', () => {
    const sm = new KvStateMachine();
    next(sm, { kind: 'lease-grant', id: 'g', ttlMs: 1000 });
    const lease = leaseIdOf(1);
    next(sm, { kind: 'put', id: 'p', key: 'held', value: 'x', lease });
    expect(next(sm, { kind: 'lease-keepalive', id: 'k', lease })).toEqual({ kind: 'lease', lease, ttlMs: 1000 });
    expect(next(sm, { kind: 'lease-expire', id: 'e1', lease, refreshedAt: 1 })).toEqual({ kind: 'lease-kept', lease });
    expect(sm.get('held')).toBeDefined();
    expect(next(sm, { kind: 'lease-expire', id: 'e2', lease, refreshedAt: 3 })).toEqual({ kind: 'lease-ended', lease, how: 'expired', keys: ['held'], revision: 5 });
    expect(sm.get('held')).toBeUndefined();
    expect(next(sm, { kind: 'lease-expire', id: 'e3', lease, refreshedAt: 3 })).toEqual({ kind: 'lease-kept', lease });
  });

  it('refuses a put on an unknown lease, and a keep-alive or revoke with a key outside the caller\'s prefixes', () => {
    const sm = new KvStateMachine();
    expect(next(sm, { kind: 'put', id: 'p', key: 'a', value: '1', lease: leaseIdOf(99) })).toEqual({ kind: 'rejected', code: 'lease_not_found', lease: leaseIdOf(99) });
    next(sm, { kind: 'lease-grant', id: 'g', ttlMs: 1000 });
    const lease = leaseIdOf(2);
    next(sm, { kind: 'put', id: 'p', key: 'team-b/x', value: '1', lease });
    expect(next(sm, { kind: 'lease-revoke', id: 'r', lease, keyPrefixes: ['team-a/'] })).toEqual({ kind: 'rejected', code: 'forbidden', lease, key: 'team-b/x' });
    expect(next(sm, { kind: 'lease-keepalive', id: 'k', lease, keyPrefixes: ['team-a/'] })).toMatchObject({ code: 'forbidden' });
    expect(next(sm, { kind: 'lease-revoke', id: 'r2', lease, keyPrefixes: ['team-a/', 'team-b/'] })).toMatchObject({ kind: 'lease-ended', keys: ['team-b/x'] });
  });

  it('snapshots leases and create revisions, and restores a version-1 snapshot (no leases, create revision = revision)', () => {
    const sm = new KvStateMachine();
    next(sm, { kind: 'lease-grant', id: 'g', ttlMs: 2000 });
    next(sm, { kind: 'put', id: 'p', key: 'a', value: '1', lease: leaseIdOf(1) });
    next(sm, { kind: 'put', id: 'p', key: 'a', value: '2', lease: leaseIdOf(1) });
    const copy = new KvStateMachine();
    const restores: number[] = [];
    copy.listen({ changed: () => {}, restored: (at) => restores.push(at) });
    copy.restore(sm.snapshot());
    expect(copy.snapshot()).toBe(sm.snapshot());
    expect(copy.lease(leaseIdOf(1))).toEqual({ id: leaseIdOf(1), ttlMs: 2000, refreshedAt: 1, keys: ['a'] });
    expect(copy.get('a')).toEqual({ key: 'a', value: '2', revision: 3, createRevision: 2, lease: leaseIdOf(1) });
    expect(restores).toEqual([3]);
    const old = new KvStateMachine();
    old.restore(JSON.stringify({ v: 1, appliedIndex: 9, items: [['k', 'v', 7]], sessions: [] }));
    expect(old.get('k')).toEqual({ key: 'k', value: 'v', revision: 7, createRevision: 7 });
    expect(old.leases()).toEqual([]);
    expect(old.appliedThrough).toBe(9);
  });

  it('shows a lock queue by create revision: the owner, a key, and the key just before it', () => {
    const sm = new KvStateMachine();
    next(sm, { kind: 'put', id: '1', key: 'lock/c', value: '' });
    next(sm, { kind: 'put', id: '2', key: 'lock/a', value: '' });
    next(sm, { kind: 'put', id: '3', key: 'lock/b', value: '' });
    next(sm, { kind: 'put', id: '4', key: 'lock/c', value: 'touched' }); // an update keeps its place
    next(sm, { kind: 'put', id: '5', key: 'lockx', value: '' });
    const view = sm.lockView('lock/', 'lock/b');
    expect(view.owner?.key).toBe('lock/c');
    expect(view.mine?.createRevision).toBe(3);
    expect(view.predecessor?.key).toBe('lock/a');
    expect(view.revision).toBe(5);
    expect(sm.lockView('lock/', 'lock/c').predecessor).toBeNull();
    expect(sm.lockView('lock/', 'lock/zz').mine).toBeNull();
    expect(sm.lockView('none/', null)).toEqual({ owner: null, mine: null, predecessor: null, revision: 5 });
  });
});

describe('kv: the leader\'s lease keeper', () => {
  const TICK_MS = 10;

  it('proposes an expiry only once the TTL has passed on the leader\'s clock since the grant was applied (rounded up, plus a tick)', () => {
    const sm = new KvStateMachine();
    const keeper = new LeaseKeeper(sm, TICK_MS, 5, 'r1');
    keeper.leadership(true);
    applied(sm, keeper, { kind: 'lease-grant', id: 'g', ttlMs: 95 }, 100);
    expect(keeper.ttlTicks(95)).toBe(11);
    expect(keeper.ticksUntilDue(100)).toBe(11);
    expect(keeper.due(110)).toEqual([]);
    expect(keeper.due(111)).toEqual([{ kind: 'lease-expire', id: 'r1-expire-1', lease: leaseIdOf(1), refreshedAt: 1 }]);
    // Not again while the proposal may still be decided, but again after the repropose window.
    expect(keeper.due(112)).toEqual([]);
    expect(keeper.due(116)).toHaveLength(1);
  });

  it('a keep-alive applied while leading restarts the TTL from when it was applied', () => {
    const sm = new KvStateMachine();
    const keeper = new LeaseKeeper(sm, TICK_MS, 5, 'r1');
    keeper.leadership(true);
    applied(sm, keeper, { kind: 'lease-grant', id: 'g', ttlMs: 100 }, 0);
    applied(sm, keeper, { kind: 'lease-keepalive', id: 'k', lease: leaseIdOf(1) }, 8);
    expect(keeper.due(11)).toEqual([]);
    expect(keeper.due(19)).toEqual([{ kind: 'lease-expire', id: 'r1-expire-1', lease: leaseIdOf(1), refreshedAt: 2 }]);
    expect(keeper.remainingMs(leaseIdOf(1), 19)).toBe(0);
  });

  it('a new leader restarts every lease\'s full TTL before expiring any, whatever the old leader had counted', () => {
    const sm = new KvStateMachine();
    const follower = new LeaseKeeper(sm, TICK_MS, 5, 'r2');
    applied(sm, follower, { kind: 'lease-grant', id: 'g', ttlMs: 100 }, 0);
    // As a follower it keeps no deadlines and proposes nothing, however long it waits.
    expect(follower.due(1000)).toEqual([]);
    expect(follower.ticksUntilDue(1000)).toBeNull();
    follower.leadership(true); // elected at tick 1000
    expect(follower.due(1000)).toEqual([]);
    expect(follower.ticksUntilDue(1000)).toBe(11);
    expect(follower.remainingMs(leaseIdOf(1), 1000)).toBe(100);
    expect(follower.due(1010)).toEqual([]);
    expect(follower.due(1011)).toHaveLength(1);
    follower.leadership(false);
    expect(follower.due(2000)).toEqual([]);
  });

  it('forgets a lease that ended, and proposes nothing for it', () => {
    const sm = new KvStateMachine();
    const keeper = new LeaseKeeper(sm, TICK_MS, 5, 'r1');
    keeper.leadership(true);
    applied(sm, keeper, { kind: 'lease-grant', id: 'g', ttlMs: 100 }, 0);
    applied(sm, keeper, { kind: 'lease-revoke', id: 'r', lease: leaseIdOf(1) }, 1);
    expect(keeper.due(100)).toEqual([]);
    expect(keeper.ticksUntilDue(100)).toBeNull();
  });
});
