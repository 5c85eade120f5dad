import type { StreamStatus } from '../../client/types.ts';
import { type Command, arg, noMoreArgs, table } from '../command.ts';

/** `patronictl list CLUSTER`: one stream's replicas as a table, under a summary line. */
export const status: Command = {
  name: 'status',
  args: 'STREAM',
  summary: "A stream's replicas: role, region, priority, indices, lag, health",
  details: [
    'DECIDED is what a replica knows to be decided, APPLIED what its state machine executed (- for a',
    'logger), FIRST..LAST the log it keeps, LAG how far it trails the leader. HEALTHY: it answers and',
    'follows the leader; QUIET: idle until the next request. The leader is marked with *.',
  ].join('\n'),
  async run(ctx) {
    const stream = arg(ctx, 0, 'STREAM');
    noMoreArgs(ctx, 1);
    const st = await ctx.client.status(stream);
    return { data: st, text: renderStatus(st) };
  },
};

export function renderStatus(st: StreamStatus): string {
  const leader = st.nodes.find((n) => n.node_id === st.leader_id);
  const summary = [
    `stream ${st.stream}: ${st.leader_id === null ? 'no leader' : `leader ${st.leader_id}${leader?.region ? ` (${leader.region})` : ''}`}`,
    `term ${st.term}`,
    `decided ${st.commit_index}`,
    `run mode ${st.run_mode}`,
    `work mode ${st.work_mode}${st.work_mode === 'normal' ? '' : ` (vote_num ${st.vote_num} of ${st.minority_replicas?.join(',')})`}`,
    ...(st.epoch > 0 ? [`epoch ${st.epoch}`] : []),
  ].join(', ');
  const notes = [
    `policy: ${st.policy}`,
    ...(st.writes_blocked ? [`writes blocked: ${st.writes_blocked}`] : []),
    ...(st.transferring_to !== null ? [`handing over to ${st.transferring_to}`] : []),
    ...(st.configuration_change_pending ? ['a membership change is in progress'] : []),
  ];
  const rows = st.nodes.map((n) => [
    `${n.node_id}${n.node_id === st.leader_id ? '*' : ''}`,
    n.region,
    n.role,
    n.priority,
    n.term,
    n.commit_index,
    n.applied_index,
    n.first_index === null ? null : `${n.first_index}..${n.last_index}`,
    n.lag,
    n.healthy,
    n.quiescent,
    n.partitioned_from.length > 0 ? `cut off from ${n.partitioned_from.join(',')}` : '',
  ]);
  const header = ['ID', 'REGION', 'ROLE', 'PRIORITY', 'TERM', 'DECIDED', 'APPLIED', 'LOG', 'LAG', 'HEALTHY', 'QUIET', 'NOTE'];
  return [summary, ...notes, '', table(header, rows)].join('\n');
}
