import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type CompiledConfiguration,
  type Configuration,
  type Member,
  type ReplicaId,
  compileConfiguration,
  configurationKey,
  describeChange,
  majorityConfiguration,
} from '../../src/core/index.ts';

const m = (id: number, extra: Partial<Member> = {}): Member => ({ id, role: 'electable', priority: 0, weight: 1, group: 0, ...extra });

describe('configuration: what travels in the log', () => {
  it('compiles members and policy into the quorum the host would build, and refuses unusable ones with the reason', () => {
    const c = compileConfiguration({ members: [m(1, { region: 'weur' }), m(2, { region: 'wnam' }), m(3, { role: 'passive', region: 'weur' })], policy: { requireRegions: ['weur'] } });
    expect(c.quorum.voters).toEqual([1, 2]);
    expect(c.quorum.explainPhase2(new Set([2]))).toBe('acceptors with weight 1 of the 2 needed; no acceptor of region weur (replicas 1)');
    expect(() => compileConfiguration({ members: [m(1, { role: 'logger' }), m(2, { role: 'passive' })], policy: {} })).toThrow(/no member can lead|no voting member can lead/);
    expect(() => compileConfiguration({ members: [m(1), m(2, { group: 1 })], policy: { requireGroups: [3] } })).toThrow('quorum: group 3 has no voter, so nothing could ever be decided');
    expect(() => compileConfiguration({ members: [m(1), m(1)], policy: {} })).toThrow(/appears twice/);
  });

  it('equal configurations have equal keys whatever the order of members and policy lists', () => {
    const a: Configuration = { members: [m(1), m(2, { region: 'oc' })], policy: { requireGroups: [2, 1] } };
    const b: Configuration = { members: [m(2, { region: 'oc' }), m(1)], policy: { requireGroups: [1, 2] } };
    expect(configurationKey(a)).toBe(configurationKey(b));
    expect(configurationKey(a)).not.toBe(configurationKey({ ...a, members: [m(1), m(2, { region: 'oc', priority: 1 })] }));
    expect(describeChange(majorityConfiguration([1, 2, 3]), { members: [m(1), m(2, { priority: 4 }), m(4, { role: 'passive' })], policy: {} })).toBe(
      '2: priority 0 -> 4; add 4 as passive; remove 3',
    );
  });
});

// The quorum algebra behind membership changes. While a change is undecided,
// a decision needs a phase-2 quorum of every configuration that may govern the
// slot, and an election a phase-1 quorum of every configuration the candidate
// knows of. Whatever the two configurations (weights, roles, required groups,
// flexible sizes), such an election quorum meets such a decision quorum, and an
// election that knows only the old configuration meets the quorum that decided
// the change itself (decided under the old one) - which is how it learns of it.
describe('configuration: quorums across a change always intersect', () => {
  const ids = [1, 2, 3, 4, 5, 6];
  const member = fc.record({
    role: fc.constantFrom('electable', 'electable', 'logger', 'passive'),
    weight: fc.integer({ min: 1, max: 3 }),
    group: fc.integer({ min: 0, max: 2 }),
    present: fc.boolean(),
  });
  const configuration = fc
    .record({ members: fc.array(member, { minLength: 6, maxLength: 6 }), requireGroup: fc.option(fc.integer({ min: 0, max: 2 })), q2Shift: fc.integer({ min: -2, max: 2 }) })
    .map(({ members, requireGroup, q2Shift }): CompiledConfiguration | null => {
      const ms: Member[] = members.flatMap((x, i) => (x.present ? [{ id: ids[i]!, role: x.role as Member['role'], priority: 0, weight: x.weight, group: x.group }] : []));
      try {
        const plain = compileConfiguration({ members: ms, policy: {} });
        const total = plain.quorum.totalWeight;
        const q2 = Math.min(total, Math.max(1, Math.floor(total / 2) + 1 + q2Shift));
        const q1 = total - q2 + 1;
        return compileConfiguration({ members: ms, policy: { phase1Weight: q1, phase2Weight: q2, ...(requireGroup !== null ? { requireGroups: [requireGroup] } : {}) } });
      } catch (e) {
        if (e instanceof RangeError) return null; // a configuration the product refuses
        throw e;
      }
    });
  const subset = fc.subarray(ids);

  it('every election quorum of [old, new] meets every decision quorum of [old, new] and of [new] alone', () => {
    fc.assert(
      fc.property(configuration, configuration, subset, subset, (a, b, e, d) => {
        if (!a || !b) return;
        const elect = new Set<ReplicaId>(e);
        const decide = new Set<ReplicaId>(d);
        const electsBoth = a.quorum.isPhase1Quorum(elect) && b.quorum.isPhase1Quorum(elect);
        const decidesBoth = a.quorum.isPhase2Quorum(decide) && b.quorum.isPhase2Quorum(decide);
        const decidesNew = b.quorum.isPhase2Quorum(decide);
        const decidesOld = a.quorum.isPhase2Quorum(decide);
        const electsOld = a.quorum.isPhase1Quorum(elect);
        const meet = e.some((x) => decide.has(x));
        if (electsBoth && (decidesBoth || decidesNew)) expect(meet).toBe(true);
        // A candidate that knows only the old configuration meets whoever decided the change under it.
        if (electsOld && decidesOld) expect(meet).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('a new configuration alone may share no acceptor with the old one: that is why both are needed until the change is decided', () => {
    const old = compileConfiguration({ members: [m(1), m(2), m(3)], policy: {} });
    const heavier = compileConfiguration({ members: [m(1, { weight: 3 }), m(2), m(3)], policy: {} });
    expect(heavier.quorum.isPhase2Quorum(new Set([1]))).toBe(true);
    expect(old.quorum.isPhase1Quorum(new Set([2, 3]))).toBe(true); // disjoint from {1}
    expect(old.quorum.isPhase2Quorum(new Set([1]))).toBe(false); // so a decision while undecided needs both
  });
});
