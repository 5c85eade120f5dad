import { watchForever, watchKeyspaceForever } from '../../client/index.ts';
import type { KeyspaceWatchEvent, WatchEvent } from '../../client/types.ts';
import { encodeWatchCursor, parseWatchCursor } from '../../client/keyspace-watch.ts';
import { type Command, UsageError, arg, flag, intOption, noMoreArgs, short, stringOption } from '../command.ts';
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

export const ksWatch: Command = {
  name: 'ks watch',
  args: 'KEYSPACE [KEY]',
  summary: "Print changes to a keyspace's key (or, with --prefix, under a prefix, over every shard) as they are decided",
  details: [
    'One line per change: `put KEY = VALUE (shard S revision R)`; with --json one JSON event per line, as the',
    'API sends them. Revisions are per shard. Connections the server ends are resumed from the cursor of the',
    'last complete revision of each shard, so nothing is lost or repeated; --cursor (or, with --progress, the',
    'cursor printed with each progress line) resumes a watch that was stopped. Ctrl-C stops.',
  ].join('\n'),
  options: {
    prefix: { type: 'string', description: "Every key under this prefix ('' for all) instead of one KEY" },
    cursor: { type: 'string', description: 'Resume from this cursor SHARD:REVISION,... (default: only changes from now on)' },
    count: { type: 'int', description: 'Stop after N changes' },
    progress: { type: 'boolean', description: 'Print progress events too, with the cursor to resume from' },
  },
  async run(ctx) {
    const keyspace = arg(ctx, 0, 'KEYSPACE');
    const key = ctx.args[1];
    const prefix = stringOption(ctx, 'prefix');
    noMoreArgs(ctx, 2);
    if ((key === undefined) === (prefix === undefined)) throw new UsageError('give KEY or --prefix (one of them)');
    const count = intOption(ctx, 'count');
    if (count !== undefined && count < 1) throw new UsageError('--count must be 1 or more');
    const cursor = stringOption(ctx, 'cursor');
    if (cursor !== undefined && parseWatchCursor(cursor) === null) throw new UsageError(`--cursor takes SHARD:REVISION,... (as a progress line prints it), not '${cursor}'`);
    const progress = flag(ctx, 'progress');
    const stop = new AbortController();
    const interrupt = (): void => stop.abort();
    ctx.io.signal?.addEventListener('abort', interrupt, { once: true });
    if (ctx.io.signal?.aborted) stop.abort();
    let changes = 0;
    // The cursor after the events printed so far (progress lines show it: a stopped watch resumes from there).
    const positions = parseWatchCursor(cursor ?? '') ?? new Map<number, number>();
    try {
      const events = watchKeyspaceForever(ctx.client, keyspace, { ...(key !== undefined ? { key } : { prefix: prefix! }), ...(cursor !== undefined ? { fromRevision: cursor } : {}), signal: stop.signal });
      for await (const e of events) {
        if (e.type !== 'compacted') positions.set(e.shard, Math.max(positions.get(e.shard) ?? 0, e.revision + 1));
        if (e.type === 'progress' && !progress) continue;
        ctx.io.stdout(`${ctx.json ? JSON.stringify(e) : describeKs(e, encodeWatchCursor(positions))}\n`);
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

function describeKs(e: KeyspaceWatchEvent, cursor: string): string {
  switch (e.type) {
    case 'put':
      return `put ${e.key} = ${short(e.value, 200)} (shard ${e.shard} revision ${e.revision})`;
    case 'delete':
      return `delete ${e.key} (shard ${e.shard} revision ${e.revision})`;
    case 'progress':
      return `progress: shard ${e.shard} current through revision ${e.revision} (cursor ${cursor})`;
    case 'compacted':
      return `compacted: shard ${e.shard} no longer has revisions before ${e.first_revision}; read the current state and watch again`;
  }
}
