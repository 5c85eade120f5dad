import { getMetricsFromIterator } from 'prom2javascript';
import { type Command, noMoreArgs } from '../command.ts';

export const metrics: Command = {
  name: 'metrics',
  args: '',
  summary: 'Prometheus metrics of the streams the token may read and of the Worker (--json: parsed)',
  details: 'Without --json, the text as Prometheus scrapes it; with --json, each metric family with its samples (prom2javascript).',
  async run(ctx) {
    noMoreArgs(ctx, 0);
    const text = await ctx.client.metrics();
    return { data: await getMetricsFromIterator(text.split('\n')[Symbol.iterator]()), text: text.trimEnd() };
  },
};
