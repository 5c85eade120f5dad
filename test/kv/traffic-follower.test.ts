import { describe, expect, it } from 'vitest';
import { type Configuration, type Entry, type Member, SeededRng } from '../../src/core/index.ts';
import { type ConfigCommand } from '../../src/core/index.ts';
import { DEFAULT_FOLLOW, TrafficFollower, preferRegion, preferredRegion } from '../../src/kv/index.ts';

const member = (id: number, region: string, priority: number, role: Member['role'] = 'electable'): Member => ({ id, role, priority, weight: 1, group: 0, region });

/** Three replicas led from wnam (priorities as `leaders: spread` gives shard 0), a logger in me. */
function spreadConfig(): Configuration {
  return { members: [member(1, 'wnam', 30), member(2, 'weur', 20), member(3, 'apac', 10), member(4, 'me', 0, 'logger')], policy: {} };
}

/** A follower whose configuration changes when its config commands are "decided" (applied). */
function harness(opts: Partial<{ cooldownTicks: number; windowWrites: number }> = {}) {
  let configuration = spreadConfig();
  const f = new TrafficFollower({ ...DEFAULT_FOLLOW, cooldownTicks: 0, ...opts }, () => configuration, 'r1.test');
  let slot = 0;
  let now = 0;
  const moves: string[] = [];
  f.leadership(true);
  const write = (origin: string | undefined): void => {
    const e: Entry = { slot: ++slot, ballot: { round: 1, replicaId: 1 }, command: { kind: 'put', id: `p${slot}`, key: 'k', value: 'v', ...(origin ? { origin } : {}) } };
    f.applied(e, null, (now += 1));
    for (const c of f.due(now)) {
      const change = c as ConfigCommand;
      expect(change.kind).toBe('config');
      configuration = change.configuration;
      moves.push(preferredRegion(configuration)!);
      f.applied({ slot: ++slot, ballot: { round: 1, replicaId: 1 }, command: change }, null, now);
    }
  };
  return { f, write, moves, configuration: () => configuration, tick: (n: number) => (now += n) };
}

describe('traffic follower (leaders: follow)', () => {
  it('preferRegion puts the electable replicas of the region first and keeps the other regions in their order', () => {
    const next = preferRegion(spreadConfig(), 'apac')!;
    expect(next.members.map((m) => [m.id, m.priority])).toEqual([
      [1, 20],
      [2, 10],
      [3, 30],
      [4, 0],
    ]);
    expect(preferredRegion(next)).toBe('apac');
    expect(preferRegion(spreadConfig(), 'me')).toBeNull(); // only a logger there: it can never lead
    expect(preferRegion(spreadConfig(), 'oc')).toBeNull();
  });

  it('moves the preference to the region that writes nearly everything, after two windows, and only once', () => {
    const h = harness();
    const rng = new SeededRng(7);
    for (let i = 0; i < DEFAULT_FOLLOW.windowWrites * 2 - 1; i++) h.write(rng.nextU32() % 10 < 9 ? 'weur' : 'wnam');
    expect(h.moves).toEqual([]); // one window confirmed, the second not complete yet
    h.write('weur');
    expect(h.moves).toEqual(['weur']);
    for (let i = 0; i < DEFAULT_FOLLOW.windowWrites * 10; i++) h.write(rng.nextU32() % 10 < 9 ? 'weur' : 'wnam');
    expect(h.moves).toEqual(['weur']);
    expect(h.f.view().preferred).toBe('weur');
  });

  it('never moves under an even mix of two or three regions (hysteresis)', () => {
    for (const regions of [['wnam', 'weur'], ['wnam', 'weur', 'apac']]) {
      const h = harness();
      const rng = new SeededRng(regions.length * 101);
      for (let i = 0; i < DEFAULT_FOLLOW.windowWrites * 300; i++) h.write(regions[rng.nextU32() % regions.length]);
      expect(h.moves, `mix of ${regions.join(', ')}`).toEqual([]);
    }
  });

  it('under an even mix of two regions that are not preferred, moves once to one of them and stays', () => {
    const h = harness();
    const rng = new SeededRng(5);
    for (let i = 0; i < DEFAULT_FOLLOW.windowWrites * 300; i++) h.write(rng.nextU32() % 2 === 0 ? 'weur' : 'apac');
    expect(h.moves.length).toBe(1);
    expect(['weur', 'apac']).toContain(h.moves[0]);
  });

  it('needs the candidate to write at least half the window and twice the preferred region', () => {
    const h = harness();
    // 40% apac, 30% weur, 30% wnam: apac leads but has neither half the window nor twice wnam.
    for (let i = 0; i < DEFAULT_FOLLOW.windowWrites * 20; i++) h.write(['apac', 'apac', 'apac', 'apac', 'weur', 'weur', 'weur', 'wnam', 'wnam', 'wnam'][i % 10]);
    expect(h.moves).toEqual([]);
  });

  it('counts only writes that carry an origin, and only while leading', () => {
    const h = harness();
    for (let i = 0; i < DEFAULT_FOLLOW.windowWrites * 4; i++) h.write(undefined);
    expect(h.moves).toEqual([]);
    h.f.leadership(false);
    for (let i = 0; i < DEFAULT_FOLLOW.windowWrites * 4; i++) h.write('apac');
    expect(h.moves).toEqual([]);
    expect(h.f.view().counts).toEqual({});
  });

  it('waits out the cool-down after leadership begins and after a move', () => {
    const h = harness({ cooldownTicks: 1000 });
    for (let i = 0; i < DEFAULT_FOLLOW.windowWrites * 4; i++) h.write('apac');
    expect(h.moves).toEqual([]); // 256 ticks into a 1000-tick cool-down
    h.tick(1000);
    for (let i = 0; i < DEFAULT_FOLLOW.windowWrites * 2; i++) h.write('apac');
    expect(h.moves).toEqual(['apac']);
    for (let i = 0; i < DEFAULT_FOLLOW.windowWrites * 4; i++) h.write('weur');
    expect(h.moves).toEqual(['apac']); // cool-down after the move
    h.tick(1000);
    for (let i = 0; i < DEFAULT_FOLLOW.windowWrites * 2; i++) h.write('weur');
    expect(h.moves).toEqual(['apac', 'weur']);
  });

  it('ignores an origin where no replica can lead', () => {
    const h = harness();
    for (let i = 0; i < DEFAULT_FOLLOW.windowWrites * 4; i++) h.write('me');
    expect(h.moves).toEqual([]);
    expect(preferredRegion(h.configuration())).toBe('wnam');
  });
});
