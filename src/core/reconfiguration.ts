import type { ReplicaId } from './ballot.ts';
import { type CompiledConfiguration, type Configuration, compileConfiguration, configurationKey } from './configuration.ts';
import { type Membership, aRole, isElectable, isVoter } from './membership.ts';

// Reconfiguration refusals: what makes a proposed configuration change unsafe,
// or unable to decide now, as pure functions of what the leader knows. The
// rules and why they are safe are in docs/operations.md ("Membership changes").

/** Why a change is refused: the operator's request is invalid, would block the stream, or must wait for another one. */
export interface ChangeRefusal {
  readonly code: 'invalid-change' | 'would-block' | 'change-in-progress';
  readonly message: string;
}

/** What the leader knows when it judges a change. */
export interface ChangeContext {
  /** The leader itself. */
  readonly self: ReplicaId;
  /** The configuration in effect, and its lookups. */
  readonly active: Configuration;
  readonly membership: Membership;
  /** The bootstrap configuration: a replica that was a logger there can only come back as one. */
  readonly bootstrap: Configuration;
  /** Minority work mode is on: only the survivors decide. */
  readonly minorityMode: boolean;
  /** The leader and every acceptor that answered within an election timeout. */
  readonly live: ReadonlySet<ReplicaId>;
  /** Live, and holding every decided slot (progress.ts). */
  caughtUp(id: ReplicaId): boolean;
  /** What a decision lacks among `live` under the quorums in force now (the configuration chain, or minority mode), or null. */
  explainBlocked(live: ReadonlySet<ReplicaId>): string | null;
}

/** One change at a time: refused while another is undecided (or queued), or while leadership is being handed over. */
export function changeInProgress(pending: boolean, handingOver: boolean): ChangeRefusal | null {
  if (pending) return { code: 'change-in-progress', message: 'another configuration change is not decided yet; one change at a time' };
  if (handingOver) return { code: 'change-in-progress', message: 'a leadership hand-over is in progress' };
  return null;
}

/** The proposed configuration with its lookups and quorums built, or why it cannot be used at all. */
export function compileChange(configuration: Configuration): CompiledConfiguration | ChangeRefusal {
  try {
    return compileConfiguration(configuration);
  } catch (e) {
    if (e instanceof RangeError) return { code: 'invalid-change', message: e.message.replace(/^(quorum|membership): /, '') };
    throw e;
  }
}

/**
 * What makes `next` unsafe or unable to decide now, or null. A new replica
 * joins as passive (a learner) and becomes a voter by a later change, once it
 * has caught up; a rebuilt one (a new incarnation) likewise; the leader is
 * never removed or demoted (it hands over first); a logger stays a logger; in
 * minority mode only the survivors vote; and the replicas answering now must
 * be able to decide and elect under the new configuration.
 */
export function refuseConfigurationChange(next: CompiledConfiguration, c: ChangeContext): ChangeRefusal | null {
  if (configurationKey(next.configuration) === configurationKey(c.active)) {
    return { code: 'invalid-change', message: 'the configuration would not change' };
  }
  const me = next.membership.get(c.self);
  if (!me || !isElectable(me)) {
    return { code: 'invalid-change', message: `replica ${c.self} leads and would no longer be an electable voter: hand leadership over first (switchover or step-down)` };
  }
  for (const m of next.membership.members) {
    const old = c.membership.get(m.id);
    if (!old) {
      if (c.bootstrap.members.some((b) => b.id === m.id && b.role === 'logger')) {
        return { code: 'invalid-change', message: `replica ${m.id} was a logger (it keeps no state machine) and can only come back as one: add a new replica instead` };
      }
      if (m.role !== 'passive') {
        return { code: 'invalid-change', message: `replica ${m.id} is new: it joins as passive (a learner) and becomes ${aRole(m.role)} by a later change, once it has caught up` };
      }
      continue;
    }
    if ((m.incarnation ?? 1) !== (old.incarnation ?? 1)) {
      if ((m.incarnation ?? 1) < (old.incarnation ?? 1)) {
        return { code: 'invalid-change', message: `replica ${m.id} is in incarnation ${old.incarnation ?? 1}; a rebuild only moves to a later one` };
      }
      if (m.role !== 'passive') {
        return { code: 'invalid-change', message: `replica ${m.id} starts a new incarnation (a rebuild): it joins as passive and becomes ${aRole(m.role)} once it has caught up` };
      }
    }
    if ((old.role === 'logger') !== (m.role === 'logger')) {
      return { code: 'invalid-change', message: `replica ${m.id} cannot change between ${aRole('logger')} and ${aRole(old.role === 'logger' ? m.role : old.role)}: a logger keeps no state machine; remove it and add a new replica instead` };
    }
    if (isVoter(m) && !isVoter(old) && c.minorityMode) {
      return { code: 'invalid-change', message: `in minority mode only the survivors vote: make replica ${m.id} ${aRole(m.role)} after returning to normal mode` };
    }
    if (isVoter(m) && !isVoter(old) && !c.caughtUp(m.id)) {
      return { code: 'would-block', message: `replica ${m.id} has not caught up with the decided log (or is not answering); it becomes a voter once it has` };
    }
  }
  // In minority mode the survivors decide (typically to rebuild or remove the lost replicas): that is what must work now.
  if (c.minorityMode) {
    const blocked = c.explainBlocked(c.live);
    return blocked === null ? null : { code: 'would-block', message: blocked };
  }
  const missing = next.quorum.explainPhase2(c.live);
  if (missing !== null) return { code: 'would-block', message: `the replicas answering now could not decide under the new configuration: ${missing}` };
  if (!next.quorum.isPhase1Quorum(c.live)) return { code: 'would-block', message: 'the replicas answering now could not elect a leader under the new configuration' };
  return null;
}
