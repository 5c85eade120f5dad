import type { LeadershipResult } from '../../client/types.ts';
import { type Command, arg, intOption, noMoreArgs, replicaArg } from '../command.ts';

const TIMEOUT = { type: 'int', description: 'How long to wait for the hand-over, in milliseconds (default 10000)' } as const;

export const switchover: Command = {
  name: 'switchover',
  args: 'STREAM TARGET',
  summary: 'Hand leadership to replica TARGET once it has caught up (Patroni switchover)',
  options: { 'timeout-ms': TIMEOUT },
  async run(ctx) {
    const stream = arg(ctx, 0, 'STREAM');
    const target = replicaArg(ctx, 1, 'TARGET');
    noMoreArgs(ctx, 2);
    const timeoutMs = intOption(ctx, 'timeout-ms');
    const res = await ctx.client.switchover(stream, target, timeoutMs === undefined ? {} : { timeoutMs });
    return { data: res, text: res.changed === false ? `replica ${target} already leads stream ${stream}` : led(stream, res) };
  },
};

export const stepDown: Command = {
  name: 'step-down',
  args: 'STREAM',
  summary: 'The leader hands over to the best other replica',
  options: { 'timeout-ms': TIMEOUT },
  async run(ctx) {
    const stream = arg(ctx, 0, 'STREAM');
    noMoreArgs(ctx, 1);
    const timeoutMs = intOption(ctx, 'timeout-ms');
    const res = await ctx.client.stepDown(stream, timeoutMs === undefined ? {} : { timeoutMs });
    return { data: res, text: `${led(stream, res)}; replica ${res.previous_leader_id} stepped down` };
  },
};

export const failover: Command = {
  name: 'failover',
  args: 'STREAM CANDIDATE',
  summary: 'Make CANDIDATE campaign now, without a pre-vote (the leader is lost, or the run mode is manual)',
  async run(ctx) {
    const stream = arg(ctx, 0, 'STREAM');
    const candidate = replicaArg(ctx, 1, 'CANDIDATE');
    noMoreArgs(ctx, 2);
    const res = await ctx.client.failover(stream, candidate);
    const text = res.elected ? led(stream, res) : `replica ${candidate} campaigned but did not win; the leader is ${res.leader_id ?? 'unknown'}`;
    return { data: res, text };
  },
};

function led(stream: string, res: LeadershipResult): string {
  return `replica ${res.leader_id} leads stream ${stream} (took ${res.took_ms} ms)`;
}
