import type { MemberRole, MembersResult } from '../../client/types.ts';
import { type Command, type Context, UsageError, arg, intOption, noMoreArgs, replicaArg, stringOption, table } from '../command.ts';

const WAIT = { type: 'int', description: 'How long to wait for the change, in milliseconds (default 30000)' } as const;
const ROLES: readonly MemberRole[] = ['follower', 'logger', 'passive'];

export const membersList: Command = {
  name: 'members list',
  args: 'STREAM',
  summary: 'The members of the configuration in effect',
  async run(ctx) {
    const stream = arg(ctx, 0, 'STREAM');
    noMoreArgs(ctx, 1);
    const res = await ctx.client.members(stream);
    return { data: res, text: renderMembers(res) };
  },
};

export const membersAdd: Command = {
  name: 'members add',
  args: 'STREAM ID',
  summary: 'Add a replica: it joins as a learner and becomes a voter once caught up',
  options: {
    region: { type: 'string', description: 'Where its Durable Object is created (wnam, enam, sam, weur, eeur, apac, oc, afr, me); required' },
    role: { type: 'string', description: 'follower (default) or passive (a read replica that never votes)' },
    priority: { type: 'int', description: 'Election preference (higher leads)' },
    weight: { type: 'int', description: 'Its weight in quorums (default 1)' },
    group: { type: 'int', description: 'Its policy-majority group' },
    'wait-ms': WAIT,
  },
  async run(ctx) {
    const stream = arg(ctx, 0, 'STREAM');
    const id = replicaArg(ctx, 1, 'ID');
    noMoreArgs(ctx, 2);
    const region = stringOption(ctx, 'region');
    if (!region) throw new UsageError('--region is required');
    const role = stringOption(ctx, 'role');
    if (role !== undefined && role !== 'follower' && role !== 'passive') throw new UsageError(`--role must be follower or passive, not '${role}'`);
    const res = await ctx.client.addMember(stream, {
      id,
      region,
      ...(role ? { role } : {}),
      ...numbers(ctx, ['priority', 'weight', 'group']),
      ...wait(ctx),
    });
    return { data: res, text: renderMembers(res) };
  },
};

export const membersUpdate: Command = {
  name: 'members update',
  args: 'STREAM ID',
  summary: "Change a member's role, priority, weight, group or region",
  options: {
    role: { type: 'string', description: `One of ${ROLES.join(', ')}` },
    priority: { type: 'int', description: 'Election preference (higher leads)' },
    weight: { type: 'int', description: 'Its weight in quorums' },
    group: { type: 'int', description: 'Its policy-majority group' },
    region: { type: 'string', description: 'Its region' },
    'wait-ms': WAIT,
  },
  async run(ctx) {
    const stream = arg(ctx, 0, 'STREAM');
    const id = replicaArg(ctx, 1, 'ID');
    noMoreArgs(ctx, 2);
    const role = stringOption(ctx, 'role');
    if (role !== undefined && !ROLES.includes(role as MemberRole)) throw new UsageError(`--role must be one of ${ROLES.join(', ')}, not '${role}'`);
    const region = stringOption(ctx, 'region');
    const change = { ...(role ? { role: role as MemberRole } : {}), ...(region ? { region } : {}), ...numbers(ctx, ['priority', 'weight', 'group']) };
    if (Object.keys(change).length === 0) throw new UsageError('name at least one of --role, --priority, --weight, --group, --region');
    const res = await ctx.client.updateMember(stream, id, { ...change, ...wait(ctx) });
    return { data: res, text: renderMembers(res) };
  },
};

export const membersRemove: Command = {
  name: 'members remove',
  args: 'STREAM ID',
  summary: 'Remove a member (a leader hands over first)',
  options: { 'wait-ms': WAIT },
  async run(ctx) {
    const stream = arg(ctx, 0, 'STREAM');
    const id = replicaArg(ctx, 1, 'ID');
    noMoreArgs(ctx, 2);
    const res = await ctx.client.removeMember(stream, id, wait(ctx));
    return { data: res, text: renderMembers(res) };
  },
};

export const rebuild: Command = {
  name: 'rebuild',
  args: 'STREAM ID',
  summary: "Rebuild a replica in place (DCF build, Patroni reinit): a blank copy caught up from the leader",
  options: { 'wait-ms': WAIT },
  async run(ctx) {
    const stream = arg(ctx, 0, 'STREAM');
    const id = replicaArg(ctx, 1, 'ID');
    noMoreArgs(ctx, 2);
    const res = await ctx.client.rebuild(stream, id, wait(ctx));
    return { data: res, text: renderMembers(res) };
  },
};

/** The configuration after a change, as a table, with what the change did and what is left to do. */
export function renderMembers(res: MembersResult): string {
  const head = `stream ${res.stream}: configuration at slot ${res.configuration_index}, leader ${res.leader_id}; ${res.policy}`;
  const did = [
    ...(res.removed !== undefined ? [`removed ${res.removed}`] : []),
    ...(res.rebuilt !== undefined ? [`rebuilt ${res.rebuilt} (incarnation ${res.incarnation}), now ${res.role}`] : []),
    ...(res.member !== undefined && res.rebuilt === undefined ? [`member ${res.member}${res.role ? ` is ${res.role}` : ' changed'}`] : []),
  ];
  const rows = res.members.map((m) => [`${m.node_id}${m.node_id === res.leader_id ? '*' : ''}`, m.region, m.role, m.priority, m.weight, m.group, m.incarnation]);
  return [head, ...did, ...(res.message ? [res.message] : []), '', table(['ID', 'REGION', 'ROLE', 'PRIORITY', 'WEIGHT', 'GROUP', 'INCARNATION'], rows)].join('\n');
}

function numbers(ctx: Context, names: readonly ('priority' | 'weight' | 'group')[]): Partial<Record<'priority' | 'weight' | 'group', number>> {
  const out: Partial<Record<'priority' | 'weight' | 'group', number>> = {};
  for (const n of names) {
    const v = intOption(ctx, n);
    if (v !== undefined) out[n] = v;
  }
  return out;
}

function wait(ctx: Context): { waitMs?: number } {
  const waitMs = intOption(ctx, 'wait-ms');
  return waitMs === undefined ? {} : { waitMs };
}
