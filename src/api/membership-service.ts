import type { ReplicaId } from '../core/index.ts';
import type { DcfConfiguration as Configuration, DcfMember as Member } from '../host/dcf.ts';
import { configurationKey } from '../core/index.ts';
import { describeConfigurationPolicy } from '../host/config.ts';
import { isRpcError } from '../host/replica-object.ts';
import type { AddMemberOptions, MemberChange, MemberRole, MembersResult } from '../client/types.ts';
import { ApiError } from './errors.ts';
import { authorize } from './grants.ts';
import { pickLeader, viewOf } from './operations-service.ts';
import type { Target } from './service.ts';
import type { StreamClient } from './stream-client.ts';

/**
 * Online membership changes (DCF add/remove member, change role, priority,
 * group, weight, rebuild), one code path behind the HTTP routes
 * (membership.ts) and the EdgePaxosAdmin entrypoint (admin-rpc.ts). Each is
 * one configuration change decided through the log; the core refuses what is
 * unsafe or could not decide, and these functions add what an operator
 * expects around it: a new replica joins as a learner and is promoted once it
 * has caught up, and the leader hands over before it is removed or demoted.
 * Each checks the caller's right itself (admin; read for the list).
 */

/** How long a membership change waits (for a learner to catch up, a hand-over, the decision), in milliseconds. */
export const CHANGE_WAIT_MS = { min: 0, max: 120_000, default: 30_000 } as const;

/**
 * A change's answer, and whether it is still `pending`: the replica had not
 * caught up within the wait, so it stays a learner for now (the message says
 * what to do next; HTTP answers 202).
 */
export interface ChangeOutcome {
  readonly result: MembersResult;
  readonly pending: boolean;
}

/** The members of the configuration in effect, with the leader. */
export async function listMembers(t: Target): Promise<MembersResult> {
  authorize(t.principal, { stream: t.client.stream.name, access: 'read' });
  const client = t.client;
  const { leader } = await current(client);
  const { index, configuration } = client.configuration();
  return describe(index, configuration, leader, client);
}

/** Add a replica: it joins as a learner and becomes `member.role` once caught up. */
export async function addMember(t: Target, member: AddMemberOptions): Promise<ChangeOutcome> {
  const client = admin(t);
  const waitMs = member.waitMs ?? CHANGE_WAIT_MS.default;
  const role = member.role ?? 'follower';
  const deadline = Date.now() + waitMs;
  const { configuration } = await current(client);
  if (configuration.members.some((m) => m.id === member.id)) {
    throw new ApiError(409, 'member_exists', `replica ${member.id} is already a member of stream '${client.stream.name}'`);
  }
  const joining: Member = { id: member.id, role: 'passive', priority: member.priority ?? 0, weight: member.weight ?? 1, group: member.group ?? 0, region: member.region as Member['region'] };
  await change(client, (ms) => [...ms, joining], deadline + 10_000);
  if (role === 'passive') return { result: { ...(await summary(client)), member: member.id, role: 'passive' }, pending: false };
  // A learner becomes a voter once it holds the decided log; until then the core refuses (would-block).
  const promoted = await changeWhenCaughtUp(client, (ms) => ms.map((m) => (m.id === member.id ? { ...m, role } : m)), deadline);
  if (!promoted) {
    return {
      result: {
        ...(await summary(client)),
        member: member.id,
        role: 'passive',
        message: `replica ${member.id} joined as a learner but had not caught up within ${waitMs} ms; promote it with PATCH /v1/streams/${client.stream.name}/members/${member.id} {"role":"${role}"}`,
      },
      pending: true,
    };
  }
  return { result: { ...(await summary(client)), member: member.id, role }, pending: false };
}

/** Change a member's role, priority, weight, group or region (a leader hands over before it is demoted). */
export async function updateMember(t: Target, memberId: number, changes: MemberChange): Promise<MembersResult> {
  const client = admin(t);
  const { waitMs = CHANGE_WAIT_MS.default, ...given } = changes;
  // Only the fields named change (an RPC caller may pass a field as undefined).
  const fields = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) as Omit<MemberChange, 'waitMs'>;
  const deadline = Date.now() + waitMs;
  const id = await memberIdOf(client, memberId);
  const edit = (ms: Member[]): Member[] => ms.map((m) => (m.id === id ? { ...m, ...(fields as Partial<Member>) } : m));
  if (fields.role !== undefined && fields.role !== 'follower') await handOverIfLeader(client, id, deadline);
  const becomesVoter = fields.role !== undefined && fields.role !== 'passive';
  const done = becomesVoter ? await changeWhenCaughtUp(client, edit, deadline) : (await change(client, edit, deadline), true);
  if (!done) throw new ApiError(409, 'not_caught_up', `replica ${id} had not caught up with the log within ${waitMs} ms; it becomes a voter once it has`);
  return { ...(await summary(client)), member: id };
}

/** Remove a member (a leader hands over first). */
export async function removeMember(t: Target, memberId: number, waitMs: number = CHANGE_WAIT_MS.default): Promise<MembersResult> {
  const client = admin(t);
  const deadline = Date.now() + waitMs;
  const id = await memberIdOf(client, memberId);
  await handOverIfLeader(client, id, deadline);
  await change(client, (ms) => ms.filter((m) => m.id !== id), deadline);
  return { ...(await summary(client)), removed: id };
}

/**
 * Rebuild a replica in place: a new incarnation as a learner, wiped into the
 * stream's current epoch and caught up by the leader, then its role back.
 * Repeating an interrupted rebuild resumes it.
 */
export async function rebuild(t: Target, replicaId: number, waitMs: number = CHANGE_WAIT_MS.default): Promise<ChangeOutcome> {
  const client = admin(t);
  const deadline = Date.now() + waitMs;
  const views = await client.views(1000);
  // A replica fenced by a minority force-start comes back in the stream's current epoch.
  const epoch = Math.max(0, ...views.map((v) => v.view?.epoch ?? 0));
  const memberId = await memberIdOf(client, replicaId);
  const view = viewOf(views, memberId);
  if (!view) throw new ApiError(503, 'unavailable', `replica ${memberId} does not answer; it is rebuilt where it runs`);
  const { configuration } = await current(client);
  const before = configuration.members.find((m) => m.id === memberId)!;
  await handOverIfLeader(client, memberId, deadline);
  // 1. The configuration names a new incarnation, as a learner: nothing the old one stored counts any more.
  // Normally one past what it runs; after an interrupted rebuild the configuration may already name it.
  const named = before.incarnation ?? 1;
  const incarnation = named > view.incarnation ? named : view.incarnation + 1;
  await change(client, (ms) => ms.map((m) => (m.id === memberId ? { ...m, role: 'passive', incarnation } : m)), deadline + 10_000);
  // 2. Once every other voter knows that change is decided (one that did not could still need the old
  //    incarnation's vote to elect anyone), wipe it into the new incarnation; the leader sends a snapshot and the log.
  await untilEveryVoterKnows(client, memberId, deadline + 10_000);
  await rebuildAt(client, memberId, epoch, incarnation);
  // 3. Once caught up, it takes its role back (in minority mode only the survivors vote: later, in normal mode).
  if (before.role === 'passive') return { result: { ...(await summary(client)), rebuilt: memberId, incarnation, role: 'passive' }, pending: false };
  const minority = views.some((v) => v.view?.work_mode === 'minority');
  if (minority) {
    return {
      result: {
        ...(await summary(client)),
        rebuilt: memberId,
        incarnation,
        role: 'passive',
        message: `replica ${memberId} is a learner until the stream returns to normal mode; then PATCH it to {"role":"${before.role}"}`,
      },
      pending: false,
    };
  }
  const back = await changeWhenCaughtUp(client, (ms) => ms.map((m) => (m.id === memberId ? { ...m, role: before.role } : m)), deadline);
  const result = { ...(await summary(client)), rebuilt: memberId, incarnation, role: back ? before.role : 'passive' };
  if (back) return { result, pending: false };
  return { result: { ...result, message: `replica ${memberId} was rebuilt but had not caught up within ${waitMs} ms; PATCH it to {"role":"${before.role}"} later` }, pending: true };
}

/** The stream's client, once the caller is known to hold an admin right on it. */
function admin(t: Target): StreamClient {
  authorize(t.principal, { stream: t.client.stream.name, access: 'admin' });
  return t.client;
}

/** Wait until every voter but `except` reports the configuration this isolate knows (or a later one) in effect. */
async function untilEveryVoterKnows(client: StreamClient, except: ReplicaId, deadline: number): Promise<void> {
  for (;;) {
    const { index, configuration } = client.configuration();
    const views = await client.views(1000);
    // A fenced voter never learns anything again (it waits for its own rebuild): it cannot hold anyone back.
    const behind = configuration.members.filter((m) => {
      const v = viewOf(views, m.id);
      return m.id !== except && m.role !== 'passive' && !v?.fenced && (v?.configuration_index ?? -1) < index;
    });
    if (behind.length === 0) return;
    if (Date.now() >= deadline) {
      throw new ApiError(503, 'unavailable', `replicas ${behind.map((m) => m.id).join(', ')} have not confirmed the rebuild's configuration yet; repeat the rebuild once they answer (it resumes where it stopped)`);
    }
    await sleep(client.stream.heartbeat_interval_ms);
  }
}

/** Wipe replica `id` into `epoch` (and `incarnation`); the replica refuses unless that is safe. */
async function rebuildAt(client: StreamClient, id: ReplicaId, epoch: number, incarnation: number): Promise<void> {
  const res = await client
    .stub(id)
    .rebuild(client.identity(id), epoch, incarnation)
    .catch(() => null);
  if (!res) throw new ApiError(503, 'unavailable', `replica ${id} did not answer`);
  if (isRpcError(res)) throw new ApiError(503, res.code, res.message);
  if (!res.ok) throw new ApiError(409, 'not_rebuildable', res.message);
}

/** The leader and the configuration in effect there, or 503. */
async function current(client: StreamClient): Promise<{ leader: ReplicaId; configuration: Configuration }> {
  const views = await client.views(1000);
  const leader = pickLeader(views);
  const view = leader === null ? null : viewOf(views, leader);
  if (leader === null || !view) throw new ApiError(503, 'unavailable', 'the stream has no leader right now; try again after the election');
  client.learn(view.configuration_index, view.configuration);
  return { leader, configuration: view.configuration };
}

async function memberIdOf(client: StreamClient, id: number): Promise<ReplicaId> {
  const { configuration } = await current(client);
  if (!configuration.members.some((m) => m.id === id)) {
    throw new ApiError(404, 'member_not_found', `stream '${client.stream.name}' has no member '${id}'`);
  }
  return id;
}

/**
 * Propose `edit` of the leader's configuration and wait until it is decided.
 * A leader change in between is followed (the change is re-read from the new
 * leader, so an edit already applied is not applied twice).
 */
async function change(client: StreamClient, edit: (members: Member[]) => Member[], deadline: number): Promise<void> {
  for (;;) {
    const { leader, configuration } = await current(client);
    const next: Configuration = { members: edit([...configuration.members]), policy: configuration.policy };
    if (configurationKey(next) === configurationKey(configuration)) return; // already in effect (a retry after an unknown outcome)
    const res = await client
      .stub(leader)
      .reconfigure(client.identity(leader), next, Math.max(1, deadline - Date.now()))
      .catch(() => null);
    if (res && !isRpcError(res)) {
      if (res.kind === 'applied') {
        await current(client); // learn the new configuration
        return;
      }
      if (res.kind === 'refused' && res.result.code !== 'not-leader') {
        const status = res.result.code === 'invalid-change' ? 422 : 409;
        throw new ApiError(status, res.result.code.replace(/-/g, '_'), res.result.message);
      }
    }
    // Not the leader any more, dropped, unknown or unreachable: look again (the change may have been decided).
    if (Date.now() >= deadline) {
      throw new ApiError(503, 'outcome_unknown', 'the configuration change was not confirmed in time; GET .../members shows whether it took effect');
    }
    await sleep(client.stream.heartbeat_interval_ms);
  }
}

/** `change`, retried while the core says the replica has not caught up yet; false if it had not by the deadline. */
async function changeWhenCaughtUp(client: StreamClient, edit: (members: Member[]) => Member[], deadline: number): Promise<boolean> {
  for (;;) {
    try {
      await change(client, edit, deadline + 10_000);
      return true;
    } catch (e) {
      if (!(e instanceof ApiError) || e.code !== 'would_block' || !/has not caught up/.test(e.message)) throw e;
      if (Date.now() >= deadline) return false;
      await sleep(client.stream.heartbeat_interval_ms);
    }
  }
}

/** The leader is never removed or demoted in place: it hands over to the best other replica first. */
async function handOverIfLeader(client: StreamClient, id: ReplicaId, deadline: number): Promise<void> {
  const { leader } = await current(client);
  if (leader !== id) return;
  const res = await client
    .stub(leader)
    .operate(client.identity(leader), { kind: 'step-down', timeoutMs: Math.max(100, deadline - Date.now()) })
    .catch(() => null);
  if (!res || isRpcError(res)) throw new ApiError(503, 'unavailable', `replica ${leader} (the leader) did not answer`);
  if (!res.ok) throw new ApiError(409, 'no_target', `replica ${id} leads and cannot hand over: ${res.message}`);
  for (;;) {
    const views = await client.views(1000);
    const now = pickLeader(views);
    if (now !== null && now !== id) return;
    if (Date.now() >= deadline) throw new ApiError(504, 'switchover_timeout', `replica ${id} leads and did not hand over in time; nothing was changed`);
    await sleep(client.stream.heartbeat_interval_ms);
  }
}

async function summary(client: StreamClient): Promise<MembersResult> {
  const { leader } = await current(client);
  const { index, configuration } = client.configuration();
  return describe(index, configuration, leader, client);
}

function describe(index: number, configuration: Configuration, leader: ReplicaId, client: StreamClient): MembersResult {
  return {
    stream: client.stream.name,
    leader_id: leader,
    configuration_index: index,
    policy: describeConfigurationPolicy(configuration),
    members: configuration.members.map((m) => ({
      node_id: m.id,
      region: m.region ?? null,
      role: m.role as MemberRole,
      priority: m.priority,
      weight: m.weight,
      group: m.group,
      /** Which life of the replica: 1 until it is rebuilt in place. */
      incarnation: m.incarnation ?? 1,
    })),
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
