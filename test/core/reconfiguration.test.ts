import { describe, expect, it } from 'vitest';
import {
  type ChangeContext,
  type CompiledConfiguration,
  type Configuration,
  type Member,
  changeInProgress,
  compileChange,
  compileConfiguration,
  refuseConfigurationChange,
} from '../../src/core/index.ts';

// Configuration-change refusals as pure functions of what the leader knows.

const m = (id: number, extra: Partial<Member> = {}): Member => ({ id, role: 'electable', priority: 0, weight: 1, group: 0, ...extra });
const ACTIVE: Configuration = { members: [m(1), m(2), m(3), m(4, { role: 'passive' })], policy: {} };

function context(extra: Partial<ChangeContext> = {}): ChangeContext {
  const active = compileConfiguration(ACTIVE);
  return {
    self: 1,
    active: ACTIVE,
    membership: active.membership,
    bootstrap: { members: [m(1), m(2), m(3), m(9, { role: 'logger' })], policy: {} },
    minorityMode: false,
    live: new Set([1, 2, 3, 4]),
    caughtUp: () => true,
    explainBlocked: () => null,
    ...extra,
  };
}

function next(members: Member[]): CompiledConfiguration {
  return compileConfiguration({ members, policy: {} });
}

describe('reconfiguration refusals', () => {
  it('accepts a learner joining, and a caught-up learner becoming a voter', () => {
    expect(refuseConfigurationChange(next([...ACTIVE.members, m(5, { role: 'passive' })]), context())).toBeNull();
    expect(refuseConfigurationChange(next([m(1), m(2), m(3), m(4)]), context())).toBeNull();
  });

  it('refuses what is invalid whatever the cluster state', () => {
    const code = (members: Member[]): string | undefined => refuseConfigurationChange(next(members), context())?.code;
    expect(refuseConfigurationChange(next(ACTIVE.members as Member[]), context())?.message).toBe('the configuration would not change');
    expect(code([m(1, { role: 'passive' }), m(2), m(3), m(4, { role: 'passive' })])).toBe('invalid-change'); // demotes the leader
    expect(code([...ACTIVE.members, m(5)])).toBe('invalid-change'); // a new replica joins as a voter
    expect(code([...ACTIVE.members, m(9, { role: 'passive' })])).toBe('invalid-change'); // a bootstrap logger comes back as another role
    expect(code([m(1), m(2), m(3, { role: 'logger' }), m(4, { role: 'passive' })])).toBe('invalid-change'); // to or from logger
    expect(code([m(1), m(2), m(3, { incarnation: 2 }), m(4, { role: 'passive' })])).toBe('invalid-change'); // a rebuild joins as passive
  });

  it('refuses what would block the stream now: a lagging voter, or a configuration the live replicas cannot decide under', () => {
    expect(refuseConfigurationChange(next([m(1), m(2), m(3), m(4)]), context({ caughtUp: (id) => id !== 4 }))?.code).toBe('would-block');
    const r = refuseConfigurationChange(next([m(1), m(2), m(3), m(4, { role: 'passive' }), m(5, { role: 'passive' })]), context({ live: new Set([1]) }));
    expect(r).toMatchObject({ code: 'would-block' });
  });

  it('in minority mode only survivors vote, and the survivors’ quorum must be able to decide', () => {
    expect(refuseConfigurationChange(next([m(1), m(2), m(3), m(4)]), context({ minorityMode: true }))?.code).toBe('invalid-change');
    expect(refuseConfigurationChange(next([m(1), m(2), m(4, { role: 'passive' })]), context({ minorityMode: true, explainBlocked: () => 'minority mode: 2 of replicas 1, 2 must answer' }))).toEqual({
      code: 'would-block',
      message: 'minority mode: 2 of replicas 1, 2 must answer',
    });
  });

  it('one change at a time, none during a hand-over, and an unusable configuration is refused with its reason', () => {
    expect(changeInProgress(true, false)?.code).toBe('change-in-progress');
    expect(changeInProgress(false, true)?.message).toBe('a leadership hand-over is in progress');
    expect(changeInProgress(false, false)).toBeNull();
    expect(compileChange({ members: [m(1, { role: 'passive' })], policy: {} })).toMatchObject({ code: 'invalid-change' });
  });
});
