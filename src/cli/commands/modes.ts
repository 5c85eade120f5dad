import type { RunMode } from '../../client/types.ts';
import { type Command, type Context, UsageError, arg, intOption, listOption, noMoreArgs, replicaId } from '../command.ts';

function runMode(name: 'pause' | 'resume', mode: RunMode, summary: string): Command {
  return {
    name,
    args: 'STREAM',
    summary,
    async run(ctx) {
      const stream = arg(ctx, 0, 'STREAM');
      noMoreArgs(ctx, 1);
      const res = await ctx.client.setRunMode(stream, mode);
      return { data: res, text: `run mode of stream ${stream}: ${res.run_mode}${notReached(res.not_reached)}` };
    },
  };
}

/** Patroni's pause and resume are DCF's run mode: elections by the replicas themselves off, and on again. */
export const pause = runMode('pause', 'manual', 'Manual run mode: no replica starts an election by itself (failover promotes one)');
export const resume = runMode('resume', 'automatic', 'Automatic run mode again: replicas elect a leader by themselves');

export const minority: Command = {
  name: 'minority',
  args: 'STREAM',
  summary: 'Minority force-start: the surviving replicas decide alone with --vote-num of them',
  details: 'Only for a majority lost for good: read "Minority force-start" in docs/operations.md first. Refused while a leader can decide.',
  options: {
    replicas: { type: 'list', description: 'A surviving replica (repeat, or give a comma-separated list); required' },
    'vote-num': { type: 'int', description: 'How many survivors elect and decide: a strict majority of them; required' },
  },
  async run(ctx) {
    const stream = arg(ctx, 0, 'STREAM');
    noMoreArgs(ctx, 1);
    const replicas = survivors(ctx);
    const voteNum = intOption(ctx, 'vote-num');
    if (voteNum === undefined) throw new UsageError('--vote-num is required');
    const res = await ctx.client.setWorkMode(stream, { mode: 'minority', replicas, voteNum });
    return { data: res, text: `stream ${stream} works in MINORITY mode: replicas ${res.replicas?.join(',')} decide with ${res.vote_num}, epoch ${res.epoch}${notReached(res.not_reached)}` };
  },
};

export const normal: Command = {
  name: 'normal',
  args: 'STREAM',
  summary: 'Back to normal work mode: the configured quorums apply again',
  async run(ctx) {
    const stream = arg(ctx, 0, 'STREAM');
    noMoreArgs(ctx, 1);
    const res = await ctx.client.setWorkMode(stream, { mode: 'normal' });
    return { data: res, text: `stream ${stream} works in normal mode${notReached(res.not_reached)}` };
  },
};

function survivors(ctx: Context): number[] {
  const ids = listOption(ctx, 'replicas').flatMap((v) => v.split(',')).filter((v) => v !== '');
  if (ids.length === 0) throw new UsageError('--replicas is required');
  return ids.map((v) => replicaId(v, '--replicas'));
}

function notReached(ids: readonly number[]): string {
  return ids.length === 0 ? '' : `\nnot reached: replicas ${ids.join(', ')} (they keep their old mode: repeat the command)`;
}
