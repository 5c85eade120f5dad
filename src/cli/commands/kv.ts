import { EdgePaxosError } from '../../client/index.ts';
import type { KvItem } from '../../client/types.ts';
import { type Command, type OptionSpec, UsageError, arg, flag, intOption, noMoreArgs, short, stringOption, table } from '../command.ts';

const STREAM: OptionSpec = { type: 'string', short: 's', description: 'The stream (default: default)' };
const STALE: OptionSpec = { type: 'boolean', description: 'Read from the nearest replica, possibly behind, instead of through the leader' };
const IDEMPOTENCY: OptionSpec = { type: 'string', description: 'Apply at most once: a retry with the same key gets the first answer' };

function streamOf(ctx: Parameters<Command['run']>[0]): string {
  return stringOption(ctx, 'stream') ?? 'default';
}

export const get: Command = {
  name: 'get',
  args: 'KEY',
  summary: "Print a key's value (exit 1 with not_found when it is absent)",
  options: { stream: STREAM, stale: STALE },
  async run(ctx) {
    const key = arg(ctx, 0, 'KEY');
    noMoreArgs(ctx, 1);
    const stream = streamOf(ctx);
    const item = await ctx.client.get(stream, key, flag(ctx, 'stale') ? { consistency: 'stale' } : {});
    // An absent key fails like the API's 404, so that scripts see the same code either way.
    if (!item) throw new EdgePaxosError('not_found', `no key '${key}' in stream '${stream}'`, 404);
    return { data: item, text: item.value };
  },
};

export const put: Command = {
  name: 'put',
  args: 'KEY VALUE',
  summary: 'Write a value (or the contents of --file); prints its revision',
  options: {
    stream: STREAM,
    'if-revision': { type: 'int', description: "Compare-and-set: write only if the key's revision is N (0: only if absent)" },
    file: { type: 'string', description: 'Read the value from this file' },
    'idempotency-key': IDEMPOTENCY,
  },
  async run(ctx) {
    const key = arg(ctx, 0, 'KEY');
    const file = stringOption(ctx, 'file');
    if (file === undefined && ctx.args[1] === undefined) throw new UsageError('missing VALUE (or --file)');
    if (file !== undefined && ctx.args[1] !== undefined) throw new UsageError('give VALUE or --file, not both');
    noMoreArgs(ctx, file === undefined ? 2 : 1);
    const value = file !== undefined ? await ctx.io.readFile(file) : ctx.args[1]!;
    const ifRevision = intOption(ctx, 'if-revision');
    const idempotencyKey = stringOption(ctx, 'idempotency-key');
    const res = await ctx.client.put(streamOf(ctx), key, value, { ...(ifRevision !== undefined ? { ifRevision } : {}), ...(idempotencyKey ? { idempotencyKey } : {}) });
    return { data: res, text: `OK revision ${res.revision}` };
  },
};

export const del: Command = {
  name: 'del',
  args: 'KEY',
  summary: 'Delete a key; prints whether it existed',
  options: { stream: STREAM, 'idempotency-key': IDEMPOTENCY },
  async run(ctx) {
    const key = arg(ctx, 0, 'KEY');
    noMoreArgs(ctx, 1);
    const idempotencyKey = stringOption(ctx, 'idempotency-key');
    const res = await ctx.client.delete(streamOf(ctx), key, idempotencyKey ? { idempotencyKey } : {});
    return { data: res, text: `${res.deleted ? 'deleted' : 'absent'} (revision ${res.revision})` };
  },
};

const LS_LIMIT_DEFAULT = 100;
const PAGE_MAX = 1000;

export const ls: Command = {
  name: 'ls',
  args: '[PREFIX]',
  summary: 'List keys under a prefix, in key order, with their revisions and values',
  options: {
    stream: STREAM,
    limit: { type: 'int', description: `At most N keys (default ${LS_LIMIT_DEFAULT}); pages of up to ${PAGE_MAX} are read until then` },
    stale: STALE,
  },
  async run(ctx) {
    const prefix = ctx.args[0] ?? '';
    noMoreArgs(ctx, 1);
    const limit = intOption(ctx, 'limit') ?? LS_LIMIT_DEFAULT;
    if (limit < 1) throw new UsageError('--limit must be 1 or more');
    const stream = streamOf(ctx);
    const items: KvItem[] = [];
    let cursor: string | undefined;
    do {
      const page = await ctx.client.list(stream, {
        prefix,
        limit: Math.min(PAGE_MAX, limit - items.length),
        ...(cursor ? { cursor } : {}),
        ...(flag(ctx, 'stale') ? { consistency: 'stale' as const } : {}),
      });
      items.push(...page.items);
      cursor = page.cursor;
    } while (cursor !== undefined && items.length < limit);
    const data = cursor === undefined ? { items } : { items, cursor };
    const text = table(['KEY', 'REVISION', 'VALUE'], items.map((i) => [i.key, i.revision, short(i.value)]));
    return { data, text: cursor === undefined ? text : `${text}\n(more keys follow: raise --limit)` };
  },
};
