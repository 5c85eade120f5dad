import type { Configuration, Member, MemberRole, ReplicaStatus } from '../core/index.ts';

// DCF's names, at the API's edge. Inside, the core has one word per concept
// (docs/design.md, "Glossary"); the HTTP API, the configuration and the
// status page speak DCF's. The one place they differ in a value is the member
// role DCF calls FOLLOWER: the core calls it `electable`, because `follower`
// is the runtime role of a replica that follows a leader.

/** A member role as the API and the configuration name it (DCF's FOLLOWER, LOGGER, PASSIVE). */
export type DcfMemberRole = 'follower' | 'logger' | 'passive';

/** A member as the API names it. */
export interface DcfMember extends Omit<Member, 'role'> {
  readonly role: DcfMemberRole;
}

/** A configuration as the API names it. */
export interface DcfConfiguration {
  readonly members: readonly DcfMember[];
  readonly policy: Configuration['policy'];
}

export function toDcfRole(role: MemberRole): DcfMemberRole {
  return role === 'electable' ? 'follower' : role;
}

/**
 * The core's role for an API role. Also reads what the core stored and sent
 * before it had its own word (`follower`), so it maps any of the two
 * vocabularies to the core's.
 */
export function fromDcfRole(role: DcfMemberRole | MemberRole): MemberRole {
  return role === 'follower' ? 'electable' : role;
}

export function toDcfConfiguration(c: Configuration): DcfConfiguration {
  return { members: c.members.map((m) => ({ ...m, role: toDcfRole(m.role) })), policy: c.policy };
}

/** The core's configuration for one in the API's names (or in the core's own, which it returns as is). */
export function fromDcfConfiguration(c: DcfConfiguration | Configuration): Configuration {
  if (!c.members.some((m) => m.role === 'follower')) return c as Configuration;
  return { members: c.members.map((m) => ({ ...m, role: fromDcfRole(m.role) })), policy: c.policy };
}

/**
 * A replica's role on the status page, DCF style: `leader`, `candidate` or
 * `pre-candidate` while leading or campaigning; otherwise its member role
 * (`follower`, `logger`, `passive`), `non-member`, or `fenced`.
 */
export function dcfRole(st: Pick<ReplicaStatus, 'fenced' | 'role' | 'memberRole'>): string {
  if (st.fenced) return 'fenced';
  if (st.role !== 'follower') return st.role;
  return st.memberRole === 'none' ? 'non-member' : toDcfRole(st.memberRole);
}
