import { EdgePaxosError, isEdgePaxosError, watchForever } from '../../client/index.ts';
import type { ElectionLeader, LockResult } from '../../client/types.ts';
import { type Command, type Context, type OptionSpec, UsageError, arg, intOption, noMoreArgs, table } from '../command.ts';
import { STREAM, interrupted, pause, streamOf } from './options.ts';

const TTL_MS_DEFAULT = 10_000;
const HOLD_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  stream: STREAM,
  'ttl-ms': { type: 'int', description: `The TTL of the lease that holds it (default ${TTL_MS_DEFAULT}); kept alive every third of it while held` },
  'wait-ms': { type: 'int', description: 'Give up after waiting this long in line (default 60000, at most 300000)' },
};

/**
 * Keep `lease` alive every third of its TTL until stopped. `lost` resolves
 * (with why) if the cluster says the lease is gone: whatever it held may be
 * another's by now.
 */
function keepAlive(ctx: Context, stream: string, lease: string, ttlMs: number): { stop(): Promise<void>; lost: Promise<string> } {
  const stopped = new AbortController();
  let lose: (why: string) => void = () => {};
  const lost = new Promise<string>((done) => (lose = done));
  const loop = (async () => {
    while (!stopped.signal.aborted) {
      await pause(Math.max(100, Math.floor(ttlMs / 3)), stopped.signal);
      if (stopped.signal.aborted) return;
      try {
        await ctx.client.leaseKeepAlive(stream, lease);
      } catch (e) {
        if (isEdgePaxosError(e) && e.code === 'lease_not_found') {
          lose(`lease ${lease} ended (${e.message})`);
          return;
        }
        // Anything else (no leader for a moment, the network): try again at the next turn; the TTL leaves room for two.
      }
    }
  })();
  return {
    async stop() {
      stopped.abort();
      await loop;
    },
    lost,
  };
}

/**
 * Take `what` (a lock, or an election's leadership) with a fresh lease, hold
 * it while the command after `--` runs (or until interrupted), then give it
 * back and revoke the lease.
 */
async function hold(ctx: Context, kind: 'lock' | 'election', name: string, value: string): Promise<{ held: LockResult; exitCode: number | null; lost: string | null }> {
  const stream = streamOf(ctx);
  const ttlMs = intOption(ctx, 'ttl-ms') ?? TTL_MS_DEFAULT;
  const waitMs = intOption(ctx, 'wait-ms');
  if (ctx.rest.length > 0 && !ctx.io.exec) throw new UsageError('this CLI cannot run programs here');
  const lease = await ctx.client.leaseGrant(stream, ttlMs);
  // Kept alive from the start: waiting in line can take longer than the TTL, and a waiter whose lease ends leaves the line.
  const keeper = keepAlive(ctx, stream, lease.id, ttlMs);
  let held: LockResult;
  try {
    const wait = waitMs !== undefined ? { waitMs } : {};
    held = kind === 'lock' ? await ctx.client.lock(stream, name, { lease: lease.id, ...wait }) : await ctx.client.campaign(stream, name, { lease: lease.id, value, ...wait });
  } catch (e) {
    await keeper.stop();
    await ctx.client.leaseRevoke(stream, lease.id).catch(() => null);
    throw e;
  }
  let lost: string | null = null;
  void keeper.lost.then((why) => (lost = why));
  let exitCode: number | null = null;
  try {
    if (ctx.rest.length > 0) {
      const env: Record<string, string> =
        kind === 'lock'
          ? { EDGEPAXOS_LOCK_KEY: held.key, EDGEPAXOS_FENCING_TOKEN: String(held.revision), EDGEPAXOS_LEASE: lease.id }
          : { EDGEPAXOS_ELECTION_KEY: held.key, EDGEPAXOS_FENCING_TOKEN: String(held.revision), EDGEPAXOS_LEASE: lease.id };
      exitCode = await ctx.io.exec!(ctx.rest, env);
    } else {
      const about = { [kind === 'lock' ? 'lock' : 'election']: name, key: held.key, revision: held.revision, lease: lease.id };
      const what = kind === 'lock' ? `holding lock ${name}` : `leader of ${name}`;
      ctx.io.stdout(ctx.json ? `${JSON.stringify(about)}\n` : `${what}: key ${held.key}, fencing token ${held.revision} (Ctrl-C gives it up)\n`);
      await Promise.race([interrupted(ctx.io.signal), keeper.lost]);
    }
  } finally {
    await keeper.stop();
    // Give it back at once rather than when the lease would end; revoking deletes the key anyway.
    if (kind === 'lock') await ctx.client.unlock(stream, name, held.key, { revision: held.revision }).catch(() => null);
    else await ctx.client.resign(stream, name, held.key, held.revision).catch(() => null);
    await ctx.client.leaseRevoke(stream, lease.id).catch(() => null);
  }
  return { held, exitCode, lost };
}

export const lock: Command = {
  name: 'lock',
  args: 'NAME [-- COMMAND...]',
  summary: 'Hold a lock while COMMAND runs (or, without one, until Ctrl-C), like `etcdctl lock`; exits with its status',
  details: [
    'Waits in line for the lock, holds it with a lease kept alive, runs COMMAND with EDGEPAXOS_LOCK_KEY,',
    'EDGEPAXOS_FENCING_TOKEN (the lock revision: pass it to what you write, which refuses older tokens) and',
    'EDGEPAXOS_LEASE set, then releases it. If the lease ended while COMMAND ran (the CLI could not reach',
    'the cluster for a whole TTL), another holder may have had the lock since: that exits 1 with lock_lost.',
    'Example: edgepaxos lock backup -- sh -c \'run-backup --token "$EDGEPAXOS_FENCING_TOKEN"\'',
  ].join('\n'),
  options: HOLD_OPTIONS,
  async run(ctx) {
    const name = arg(ctx, 0, 'NAME');
    noMoreArgs(ctx, 1);
    const r = await hold(ctx, 'lock', name, '');
    if (r.lost !== null) throw new EdgePaxosError('lock_lost', `${r.lost} while the lock was held: another holder may have had it since`, 409);
    if (r.exitCode === null) return { data: undefined, text: `released lock ${name} (fencing token ${r.held.revision})` };
    const data = { lock: name, key: r.held.key, revision: r.held.revision, exit_code: r.exitCode };
    return { data, text: '', exitCode: r.exitCode };
  },
};

export const electCampaign: Command = {
  name: 'elect campaign',
  args: 'NAME VALUE [-- COMMAND...]',
  summary: "Become the leader of election NAME proclaiming VALUE (Patroni's leader key); lead while COMMAND runs, or until Ctrl-C",
  details: 'COMMAND gets EDGEPAXOS_ELECTION_KEY, EDGEPAXOS_FENCING_TOKEN (the leadership revision) and EDGEPAXOS_LEASE. The leader resigns at the end.',
  options: HOLD_OPTIONS,
  async run(ctx) {
    const name = arg(ctx, 0, 'NAME');
    const value = arg(ctx, 1, 'VALUE');
    noMoreArgs(ctx, 2);
    const r = await hold(ctx, 'election', name, value);
    if (r.lost !== null) throw new EdgePaxosError('lock_lost', `${r.lost} while leading: another may have led since`, 409);
    if (r.exitCode === null) return { data: undefined, text: `resigned the leadership of ${name} (revision ${r.held.revision})` };
    return { data: { election: name, key: r.held.key, revision: r.held.revision, exit_code: r.exitCode }, text: '', exitCode: r.exitCode };
  },
};

function leaderRow(l: ElectionLeader | null): string {
  return l === null ? 'no leader' : table(['KEY', 'VALUE', 'REVISION', 'PROCLAIMED'], [[l.key, l.value, l.revision, l.mod_revision]]);
}

export const electLeader: Command = {
  name: 'elect leader',
  args: 'NAME',
  summary: 'Show the current leader of election NAME (exit 1 with not_found when there is none)',
  options: { stream: STREAM },
  async run(ctx) {
    const name = arg(ctx, 0, 'NAME');
    noMoreArgs(ctx, 1);
    const l = await ctx.client.leader(streamOf(ctx), name);
    if (!l) throw new EdgePaxosError('not_found', `election '${name}' has no leader`, 404);
    return { data: l, text: leaderRow(l) };
  },
};

export const electObserve: Command = {
  name: 'elect observe',
  args: 'NAME',
  summary: 'Print the leader of election NAME now and every time it changes (a new leader, a proclaim, none), until Ctrl-C or --count',
  options: { stream: STREAM, count: { type: 'int', description: 'Stop after N leaders (the first one printed included)' } },
  async run(ctx) {
    const name = arg(ctx, 0, 'NAME');
    noMoreArgs(ctx, 1);
    const count = intOption(ctx, 'count');
    if (count !== undefined && count < 1) throw new UsageError('--count must be 1 or more');
    const stream = streamOf(ctx);
    const stop = new AbortController();
    const interrupt = (): void => stop.abort();
    ctx.io.signal?.addEventListener('abort', interrupt, { once: true });
    let printed = 0;
    let last = '';
    const show = async (): Promise<boolean> => {
      const l = await ctx.client.leader(stream, name);
      const id = l === null ? 'none' : `${l.key}@${l.mod_revision}`;
      if (id === last) return false;
      last = id;
      printed += 1;
      const line = ctx.json ? JSON.stringify(l) : l === null ? 'no leader' : `leader ${l.key} = ${l.value} (revision ${l.revision}, proclaimed at ${l.mod_revision})`;
      ctx.io.stdout(`${line}\n`);
      return count !== undefined && printed >= count;
    };
    try {
      // The decided index first, then the leader, then the election's keys watched from after that index: no change falls between.
      const status = await ctx.client.status(stream);
      if (await show()) return { data: undefined, text: '' };
      for await (const e of watchForever(ctx.client, stream, { prefix: `${name}/`, fromRevision: status.commit_index + 1, signal: stop.signal })) {
        if (e.type === 'compacted') break;
        if (e.type === 'progress') continue;
        if (await show()) break;
      }
    } finally {
      ctx.io.signal?.removeEventListener('abort', interrupt);
      stop.abort();
    }
    return { data: undefined, text: '' };
  },
};

export const electResign: Command = {
  name: 'elect resign',
  args: 'NAME KEY REVISION',
  summary: 'Give up a leadership of election NAME (the KEY and REVISION its campaign printed)',
  options: { stream: STREAM },
  async run(ctx) {
    const name = arg(ctx, 0, 'NAME');
    const key = arg(ctx, 1, 'KEY');
    const revision = arg(ctx, 2, 'REVISION');
    noMoreArgs(ctx, 3);
    if (!/^[1-9][0-9]{0,15}$/.test(revision)) throw new UsageError(`REVISION must be a revision, not '${revision}'`);
    const res = await ctx.client.resign(streamOf(ctx), name, key, Number(revision));
    return { data: res, text: res.resigned ? `resigned ${key} (revision ${res.revision})` : `${key} was not the leader any more (revision ${res.revision})` };
  },
};
