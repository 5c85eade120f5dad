import type { LeaseInfo } from '../../client/types.ts';
import { type Command, UsageError, arg, noMoreArgs, stringOption, table } from '../command.ts';
import { STREAM, streamOf } from './options.ts';

const IDEMPOTENCY = { type: 'string' as const, description: 'Apply at most once: a retry with the same key gets the first answer' };

function leaseTable(rows: readonly Pick<LeaseInfo, 'id' | 'ttl_ms'>[], extra?: (l: LeaseInfo) => unknown[]): string {
  if (!extra) return table(['LEASE', 'TTL_MS'], rows.map((l) => [l.id, l.ttl_ms]));
  return table(['LEASE', 'TTL_MS', 'REMAINING_MS', 'KEYS'], (rows as LeaseInfo[]).map((l) => [l.id, l.ttl_ms, ...extra(l)]));
}

export const leaseGrant: Command = {
  name: 'lease grant',
  args: 'TTL_MS',
  summary: 'Grant a lease of TTL_MS milliseconds (1000 to 3600000); prints its id',
  details: 'Keep it alive with `lease keepalive ID` at least every TTL_MS less the drift allowance (docs/coordination.md); keys put with it die with it.',
  options: { stream: STREAM, 'idempotency-key': IDEMPOTENCY },
  async run(ctx) {
    const ttl = arg(ctx, 0, 'TTL_MS');
    noMoreArgs(ctx, 1);
    if (!/^[0-9]{1,10}$/.test(ttl)) throw new UsageError(`TTL_MS must be a number of milliseconds, not '${ttl}'`);
    const idempotencyKey = stringOption(ctx, 'idempotency-key');
    const res = await ctx.client.leaseGrant(streamOf(ctx), Number(ttl), idempotencyKey ? { idempotencyKey } : {});
    return { data: res, text: leaseTable([res]) };
  },
};

export const leaseKeepAlive: Command = {
  name: 'lease keepalive',
  args: 'ID',
  summary: "Keep a lease alive once: its TTL starts again (rely on it until you sent this + TTL - the drift allowance)",
  options: { stream: STREAM },
  async run(ctx) {
    const id = arg(ctx, 0, 'ID');
    noMoreArgs(ctx, 1);
    const res = await ctx.client.leaseKeepAlive(streamOf(ctx), id);
    return { data: res, text: leaseTable([res]) };
  },
};

export const leaseGet: Command = {
  name: 'lease get',
  args: 'ID',
  summary: "Show a lease: its TTL, the leader's estimate of the time left, and its keys",
  options: { stream: STREAM },
  async run(ctx) {
    const id = arg(ctx, 0, 'ID');
    noMoreArgs(ctx, 1);
    const res = await ctx.client.leaseGet(streamOf(ctx), id);
    return { data: res, text: leaseTable([res], (l) => [l.remaining_ms, l.keys.join(', ') || '-']) };
  },
};

export const leaseRevoke: Command = {
  name: 'lease revoke',
  args: 'ID',
  summary: 'End a lease now, deleting the keys attached to it; prints them',
  options: { stream: STREAM, 'idempotency-key': IDEMPOTENCY },
  async run(ctx) {
    const id = arg(ctx, 0, 'ID');
    noMoreArgs(ctx, 1);
    const idempotencyKey = stringOption(ctx, 'idempotency-key');
    const res = await ctx.client.leaseRevoke(streamOf(ctx), id, idempotencyKey ? { idempotencyKey } : {});
    return { data: res, text: `revoked ${id} at revision ${res.revision}; keys deleted: ${res.keys.length === 0 ? 'none' : res.keys.join(', ')}` };
  },
};
