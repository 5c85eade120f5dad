import { EdgePaxosError } from '../../client/index.ts';
import type { TxnRequest } from '../../client/types.ts';
import { type Command, type OptionSpec, UsageError, arg, flag, intOption, noMoreArgs, stringOption } from '../command.ts';

/**
 * The keyspace commands (`ks ...`): the router's operations (docs/scaling.md),
 * over the typed client, one line each like the stream commands.
 */
const STALE: OptionSpec = { type: 'boolean', description: 'Read from the nearest replica of the shard, possibly behind' };
const IDEMPOTENCY: OptionSpec = { type: 'string', description: 'Apply at most once: a retry with the same key gets the first answer' };

export const ksPut: Command = {
  name: 'ks put',
  args: 'KEYSPACE KEY VALUE',
  summary: "Write a value at the key's shard; prints the shard and its revision there",
  options: { 'if-revision': { type: 'int', description: "Compare-and-set on the key's shard revision (0: only if absent)" }, 'idempotency-key': IDEMPOTENCY },
  async run(ctx) {
    const keyspace = arg(ctx, 0, 'KEYSPACE');
    const key = arg(ctx, 1, 'KEY');
    const value = arg(ctx, 2, 'VALUE');
    noMoreArgs(ctx, 3);
    const ifRevision = intOption(ctx, 'if-revision');
    const idempotencyKey = stringOption(ctx, 'idempotency-key');
    const res = await ctx.client.ksPut(keyspace, key, value, { ...(ifRevision !== undefined ? { ifRevision } : {}), ...(idempotencyKey ? { idempotencyKey } : {}) });
    return { data: res, text: `OK shard ${res.shard} revision ${res.revision}` };
  },
};

export const ksGet: Command = {
  name: 'ks get',
  args: 'KEYSPACE KEY',
  summary: "Print a key's value (exit 1 with not_found when it is absent)",
  options: { stale: STALE },
  async run(ctx) {
    const keyspace = arg(ctx, 0, 'KEYSPACE');
    const key = arg(ctx, 1, 'KEY');
    noMoreArgs(ctx, 2);
    const item = await ctx.client.ksGet(keyspace, key, flag(ctx, 'stale') ? { consistency: 'stale' } : {});
    if (!item) throw new EdgePaxosError('not_found', `no key '${key}' in keyspace '${keyspace}'`, 404);
    return { data: item, text: item.value };
  },
};

export const ksDel: Command = {
  name: 'ks del',
  args: 'KEYSPACE KEY',
  summary: 'Delete a key at its shard; prints whether it existed',
  options: { 'idempotency-key': IDEMPOTENCY },
  async run(ctx) {
    const keyspace = arg(ctx, 0, 'KEYSPACE');
    const key = arg(ctx, 1, 'KEY');
    noMoreArgs(ctx, 2);
    const idempotencyKey = stringOption(ctx, 'idempotency-key');
    const res = await ctx.client.ksDelete(keyspace, key, idempotencyKey ? { idempotencyKey } : {});
    return { data: res, text: `${res.deleted ? 'deleted' : 'absent'} (shard ${res.shard} revision ${res.revision})` };
  },
};

export const ksLs: Command = {
  name: 'ks ls',
  args: 'KEYSPACE [PREFIX]',
  summary: 'List keys under a prefix over every shard, in key order (one page)',
  options: { limit: { type: 'int', description: 'At most N keys (1-1000, default 100)' }, stale: STALE },
  async run(ctx) {
    const keyspace = arg(ctx, 0, 'KEYSPACE');
    const prefix = ctx.args[1] ?? '';
    noMoreArgs(ctx, 2);
    const limit = intOption(ctx, 'limit');
    const page = await ctx.client.ksList(keyspace, { prefix, ...(limit !== undefined ? { limit } : {}), ...(flag(ctx, 'stale') ? { consistency: 'stale' as const } : {}) });
    return { data: page, text: page.items.map((i) => `${i.key}\t${i.value}\t(shard ${i.shard} revision ${i.revision})`).join('\n') };
  },
};

export const ksTxn: Command = {
  name: 'ks txn',
  args: 'KEYSPACE JSON',
  summary: 'Run a transaction (the JSON body of POST /v1/keyspaces/{ks}/txn) over any keys of the keyspace',
  options: { 'idempotency-key': IDEMPOTENCY },
  async run(ctx) {
    const keyspace = arg(ctx, 0, 'KEYSPACE');
    const body = arg(ctx, 1, 'JSON');
    noMoreArgs(ctx, 2);
    let request: TxnRequest;
    try {
      request = JSON.parse(body) as TxnRequest;
    } catch {
      throw new UsageError('JSON: not valid JSON');
    }
    const idempotencyKey = stringOption(ctx, 'idempotency-key');
    const res = await ctx.client.ksTxn(keyspace, request, idempotencyKey ? { idempotencyKey } : {});
    return { data: res, text: `${res.succeeded ? 'succeeded' : 'failed (the failure branch applied)'} on shards ${res.shards.join(', ')}${res.txid ? ` (txid ${res.txid})` : ''}` };
  },
};

export const ksStatus: Command = {
  name: 'ks status',
  args: 'KEYSPACE',
  summary: "Every shard's stream, leader and commit index",
  async run(ctx) {
    const keyspace = arg(ctx, 0, 'KEYSPACE');
    noMoreArgs(ctx, 1);
    const s = await ctx.client.ksStatus(keyspace);
    const lines = s.shards.map((x) => `${x.shard}\t${x.stream}\tleader ${x.leader_id ?? '-'} (${x.leader_region ?? '-'})\tcommit ${x.commit_index ?? '-'}\t${x.healthy ? 'healthy' : 'no leader'}`);
    return { data: s, text: [`${s.name}: map version ${s.map_version}`, ...lines].join('\n') };
  },
};

export const ksGrow: Command = {
  name: 'ks grow',
  args: 'KEYSPACE',
  summary: 'Add shards to a keyspace created at run time while it serves (admin); the same count resumes an unfinished grow',
  options: { shards: { type: 'int', description: 'The new shard count (more than now, at most 256)' } },
  async run(ctx) {
    const keyspace = arg(ctx, 0, 'KEYSPACE');
    noMoreArgs(ctx, 1);
    const shards = intOption(ctx, 'shards');
    if (shards === undefined) throw new UsageError('--shards: the new shard count is required');
    const r = await ctx.client.growKeyspace(keyspace, shards);
    const left = r.moves.filter((m) => !m.done).length;
    return { data: r, text: r.state === 'grown' ? `${r.name}: ${r.shards} shards, map version ${r.map_version}` : `${r.name}: growing to ${r.shards} shards, ${left} range(s) still moving: repeat the command` };
  },
};
