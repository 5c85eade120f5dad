import { watchForever } from '../../client/index.ts';
import type { WatchEvent } from '../../client/types.ts';
import { type Command, UsageError, flag, intOption, noMoreArgs, short, stringOption } from '../command.ts';
import { STREAM, streamOf } from './options.ts';

export const watch: Command = {
  name: 'watch',
  args: '[KEY]',
  summary: 'Print changes to a key (or, with --prefix, under a prefix) as they are decided, until interrupted or --count',
  details: [
    'One line per change: `put KEY = VALUE (revision R)` or `delete KEY (revision R)`; with --json one JSON',
    'event per line, as the API sends them. Connections the server ends (every 5 minutes) are resumed',
    'from the next revision, so nothing is lost or repeated. Ctrl-C stops.',
  ].join('\n'),
  options: {
    stream: STREAM,
    prefix: { type: 'string', description: "Every key under this prefix ('' for all) instead of one KEY" },
    'from-revision': { type: 'int', description: 'Replay the changes from revision N first (default: only changes from now on)' },
    count: { type: 'int', description: 'Stop after N changes' },
    progress: { type: 'boolean', description: 'Print progress events too (how far the watch is current while nothing changes)' },
  },
  async run(ctx) {
    const key = ctx.args[0];
    const prefix = stringOption(ctx, 'prefix');
    noMoreArgs(ctx, 1);
    if ((key === undefined) === (prefix === undefined)) throw new UsageError('give KEY or --prefix (one of them)');
    const count = intOption(ctx, 'count');
    if (count !== undefined && count < 1) throw new UsageError('--count must be 1 or more');
    const from = intOption(ctx, 'from-revision');
    if (from !== undefined && from < 1) throw new UsageError('--from-revision must be 1 or more');
    const progress = flag(ctx, 'progress');
    // The watch ends when the user interrupts, or once --count changes came.
    const stop = new AbortController();
    const interrupt = (): void => stop.abort();
    ctx.io.signal?.addEventListener('abort', interrupt, { once: true });
    if (ctx.io.signal?.aborted) stop.abort();
    let changes = 0;
    try {
      for await (const e of watchForever(ctx.client, streamOf(ctx), { ...(key !== undefined ? { key } : { prefix: prefix! }), ...(from !== undefined ? { fromRevision: from } : {}), signal: stop.signal })) {
        if (e.type === 'progress' && !progress) continue;
        ctx.io.stdout(`${ctx.json ? JSON.stringify(e) : describe(e)}\n`);
        if (e.type === 'compacted') break;
        if (e.type === 'put' || e.type === 'delete') changes += 1;
        if (count !== undefined && changes >= count) break;
      }
    } finally {
      ctx.io.signal?.removeEventListener('abort', interrupt);
      stop.abort();
    }
    return { data: undefined, text: '' };
  },
};

function describe(e: WatchEvent): string {
  switch (e.type) {
    case 'put':
      return `put ${e.key} = ${short(e.value, 200)} (revision ${e.revision})`;
    case 'delete':
      return `delete ${e.key} (revision ${e.revision})`;
    case 'progress':
      return `progress: current through revision ${e.revision}`;
    case 'compacted':
      return `compacted: revisions before ${e.first_revision} are gone; read the current state and watch from its revision + 1`;
  }
}
