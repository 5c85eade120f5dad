import type { ReplicaDefinition, StreamDefinition, StreamEntry } from '../../client/types.ts';
import { type Command, UsageError, arg, listOption, noMoreArgs, replicaId, stringOption, table } from '../command.ts';

export const streamsCreate: Command = {
  name: 'streams create',
  args: '[NAME]',
  summary: 'Create a stream at run time, from a definition file or from NAME and --replica',
  details: [
    'A definition is one entry of EDGEPAXOS_CONFIG\'s streams (docs/configuration.md), e.g.',
    '  edgepaxos streams create orders --replica 1:enam:2 --replica 2:weur:1 --replica 3:apac',
    '  edgepaxos streams create --file orders.json',
  ].join('\n'),
  options: {
    file: { type: 'string', description: 'A JSON file holding the definition' },
    replica: { type: 'list', description: 'ID:REGION[:PRIORITY], once per replica' },
  },
  async run(ctx) {
    const file = stringOption(ctx, 'file');
    let definition: StreamDefinition;
    if (file !== undefined) {
      noMoreArgs(ctx, 0);
      if (listOption(ctx, 'replica').length > 0) throw new UsageError('give --file or NAME with --replica, not both');
      try {
        definition = JSON.parse(await ctx.io.readFile(file)) as StreamDefinition;
      } catch (e) {
        if (e instanceof SyntaxError) throw new UsageError(`${file} is not JSON: ${e.message}`);
        throw e;
      }
    } else {
      const name = arg(ctx, 0, 'NAME (or --file)');
      noMoreArgs(ctx, 1);
      const replicas = listOption(ctx, 'replica').map(parseReplica);
      if (replicas.length === 0) throw new UsageError('name the replicas with --replica ID:REGION[:PRIORITY] (or give --file)');
      definition = { name, replicas };
    }
    const res = await ctx.client.createStream(definition);
    return { data: res, text: renderEntry(res) };
  },
};

export const streamsDelete: Command = {
  name: 'streams delete',
  args: 'NAME',
  summary: 'Delete a stream created at run time, wiping its replicas',
  async run(ctx) {
    const name = arg(ctx, 0, 'NAME');
    noMoreArgs(ctx, 1);
    const res = await ctx.client.deleteStream(name);
    const text =
      res.state === 'deleted'
        ? `stream ${name} (incarnation ${res.incarnation}) deleted`
        : `stream ${name} is being deleted; replicas ${res.not_reached.join(', ')} were not reached: repeat the command`;
    return { data: res, text };
  },
};

export const streamsGet: Command = {
  name: 'streams get',
  args: 'NAME',
  summary: "A stream's definition, every default filled in",
  async run(ctx) {
    const name = arg(ctx, 0, 'NAME');
    noMoreArgs(ctx, 1);
    const res = await ctx.client.stream(name);
    return { data: res, text: renderEntry(res) };
  },
};

function parseReplica(spec: string): ReplicaDefinition {
  const m = /^([0-9]+):([a-z]+)(?::([0-9]+))?$/.exec(spec);
  if (!m) throw new UsageError(`--replica takes ID:REGION[:PRIORITY], e.g. 1:weur:2, not '${spec}'`);
  const id = replicaId(m[1]!, '--replica ID');
  return { id, region: m[2]!, ...(m[3] !== undefined ? { priority: Number(m[3]) } : {}) };
}

function renderEntry(e: StreamEntry): string {
  const about = [`stream ${e.name} (${e.kind}${e.state ? `, ${e.state}` : ''}${e.incarnation ? `, incarnation ${e.incarnation}` : ''}${e.created_at ? `, created ${e.created_at}` : ''})`];
  const replicas = e.definition.replicas.map((r) => [r.id, r.region, r.role ?? 'follower', r.priority ?? 0]);
  const settings = Object.entries(e.definition)
    .filter(([k]) => k !== 'name' && k !== 'replicas')
    .map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
  return [...about, '', table(['ID', 'REGION', 'ROLE', 'PRIORITY'], replicas), '', ...settings].join('\n');
}

export const streamsList: Command = {
  name: 'streams list',
  args: '',
  summary: "Every stream (a keyspace's shards included, kind shard) with its replicas and the leader they report",
  async run(ctx) {
    noMoreArgs(ctx, 0);
    const res = await ctx.client.streams();
    const rows = res.streams.map((s) => [s.name, s.kind, s.keyspace !== undefined ? `${s.keyspace}[${s.shard}]` : null, s.state ?? 'active', s.replicas.join(','), s.leader_id, s.leader_region]);
    const out = [table(['STREAM', 'KIND', 'KEYSPACE', 'STATE', 'REPLICAS', 'LEADER', 'REGION'], rows)];
    if (res.catalog_error) out.push(`streams created at run time are missing: ${res.catalog_error}`);
    return { data: res, text: out.join('\n') };
  },
};
