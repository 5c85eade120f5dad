import type { ClusterStatus, StreamOverview } from '../../client/types.ts';
import { type Command, noMoreArgs, table } from '../command.ts';

/** `patronictl list` for every stream at once: one row per stream, from one request (GET /v1/status). */
export const list: Command = {
  name: 'list',
  args: '',
  summary: 'Every stream: its leader, region, term, decided index, lag and health',
  details: [
    'One row per stream the token may read. LEADER is the replica that leads (- while there is none),',
    'LAG the most slots any replica trails the leader by, HEALTHY the replicas that answer and follow it,',
    'QUIET the replicas idle (no timers until the next request). MODE is the run mode (automatic, manual)',
    'and the work mode when not normal (MINORITY).',
  ].join('\n'),
  async run(ctx) {
    noMoreArgs(ctx, 0);
    const all = await ctx.client.statusAll();
    return { data: all, text: render(all) };
  },
};

function render(all: ClusterStatus): string {
  const rows = all.streams.map((s) => row(s));
  const out = [table(['STREAM', 'KIND', 'LEADER', 'REGION', 'TERM', 'DECIDED', 'LAG', 'HEALTHY', 'QUIET', 'MODE', 'NOTE'], rows)];
  if (all.catalog_error) out.push(`streams created at run time are missing: ${all.catalog_error}`);
  return out.join('\n');
}

function row(s: StreamOverview): unknown[] {
  const st = s.status;
  if (!st) return [s.name, s.kind, null, null, null, null, null, null, null, null, s.error ? `${s.error.code}: ${s.error.message}` : s.state];
  const leader = st.nodes.find((n) => n.node_id === st.leader_id);
  const lags = st.nodes.map((n) => n.lag).filter((l): l is number => l !== null);
  const modes = [st.run_mode, ...(st.work_mode === 'normal' ? [] : [st.work_mode])].join(', ');
  return [
    s.name,
    s.kind,
    st.leader_id,
    leader?.region ?? null,
    st.term,
    st.commit_index,
    lags.length > 0 ? Math.max(...lags) : null,
    `${st.nodes.filter((n) => n.healthy).length}/${st.nodes.length}`,
    st.nodes.filter((n) => n.quiescent === true).length,
    modes,
    st.writes_blocked ?? (s.state === 'active' ? '' : s.state),
  ];
}
