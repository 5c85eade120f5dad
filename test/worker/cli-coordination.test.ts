import { exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/cli.ts';
import { EdgePaxosClient } from '../../src/client/index.ts';
import { evenMap, shardOfKey } from '../../src/kv/index.ts';
import { stableLeader } from './helpers.ts';
import { TEST_TOKENS } from './test-config.ts';

// The coordination commands of the CLI (txn, watch, lease, lock, elect), in-process against the
// real Worker as cli.test.ts runs the others: the terminal's code, with the Worker's fetch, files
// in memory, a program runner that records what `lock -- COMMAND` ran, and an interrupt to send.

const S = 'cli';
const files = new Map<string, string>();
const paxos = new EdgePaxosClient({ url: 'https://edgepaxos.test', token: TEST_TOKENS.writer, fetch: (input, init) => exports.default.fetch(input, init) });

interface Run {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

interface Extras {
  /** Runs `lock -- COMMAND`'s program. */
  readonly exec?: (argv: readonly string[], env: Readonly<Record<string, string>>) => Promise<number>;
  /** Called with all of stdout so far, each time something is printed; `interrupt` is Ctrl-C. */
  readonly onOutput?: (out: string, interrupt: () => void) => void;
}

async function cli(argv: readonly string[], extras: Extras = {}): Promise<Run> {
  let out = '';
  let err = '';
  const interrupt = new AbortController();
  const code = await runCli(argv, {
    fetch: (input, init) => exports.default.fetch(input, init),
    env: { EDGEPAXOS_URL: 'https://edgepaxos.test', EDGEPAXOS_TOKEN: TEST_TOKENS.writer },
    stdout: (t) => {
      out += t;
      extras.onOutput?.(out, () => interrupt.abort());
    },
    stderr: (t) => (err += t),
    readFile: async (path) => {
      const data = files.get(path);
      if (data === undefined) throw new Error(`ENOENT: no such file '${path}'`);
      return data;
    },
    writeFile: async (path, data) => void files.set(path, data),
    signal: interrupt.signal,
    ...(extras.exec ? { exec: extras.exec } : {}),
  });
  return { code, out, err };
}

function tableOf(text: string): Record<string, string>[] {
  const [header, ...body] = text
    .trimEnd()
    .split('\n')
    .filter((l) => !/^(SUCCEEDED|FAILED)/.test(l))
    .map((l) => l.split(/ {2,}/));
  return body.map((r) => Object.fromEntries(header!.map((h, i) => [h, r[i] ?? ''])));
}

describe('cli: coordination commands against a running cluster', () => {
  it('cli: txn runs a transaction from a file, printing the branch, its revision and each result; --json gives the API answer', async () => {
    await stableLeader(S);
    files.set('create.json', JSON.stringify({ compare: [{ key: 'cfg/a', target: 'revision', op: '==', value: 0 }], success: [{ put: { key: 'cfg/a', value: '1' } }, { put: { key: 'cfg/b', value: '2' } }], failure: [{ get: { key: 'cfg/a' } }] }));
    const first = await cli(['txn', 'create.json', '-s', S]);
    expect(first.code, first.err).toBe(0);
    const revision = Number(/^SUCCEEDED at revision (\d+)\n/.exec(first.out)?.[1]);
    expect(revision).toBeGreaterThan(0);
    expect(tableOf(first.out)).toEqual([
      { '#': '1', OP: 'put', KEY: 'cfg/a', RESULT: `revision ${revision}` },
      { '#': '2', OP: 'put', KEY: 'cfg/b', RESULT: `revision ${revision}` },
    ]);
    // Again: the key exists now, so the failure branch reads it.
    const again = await cli(['txn', 'create.json', '-s', S]);
    expect(again.out).toMatch(/^FAILED \(the failure branch applied\) at revision \d+\n/);
    expect(tableOf(again.out)).toEqual([{ '#': '1', OP: 'get', KEY: 'cfg/a', RESULT: `1 (revision ${revision}, created ${revision})` }]);
    const json = await cli(['--json', 'txn', 'create.json', '-s', S]);
    expect(JSON.parse(json.out)).toEqual({ succeeded: false, revision: expect.any(Number), results: [{ key: 'cfg/a', value: '1', revision, create_revision: revision }] });
    files.set('broken.json', '{"compare": [');
    expect(await cli(['txn', 'broken.json', '-s', S])).toMatchObject({ code: 2, err: expect.stringMatching(/^edgepaxos: usage: broken.json is not a transaction/) });
    files.set('bad.json', JSON.stringify({ success: [{ put: { key: 'x' } }] }));
    expect(await cli(['txn', 'bad.json', '-s', S])).toMatchObject({ code: 1, err: expect.stringMatching(/^edgepaxos: invalid_request: /) });
  });

  it('cli: lease grant, get, keepalive and revoke manage a lease; the revoke deletes its keys, and the lease is then not found', async () => {
    const granted = await cli(['--json', 'lease', 'grant', '5000', '-s', S]);
    expect(granted.code, granted.err).toBe(0);
    const { id, ttl_ms } = JSON.parse(granted.out);
    expect(ttl_ms).toBe(5000);
    files.set('leased.json', JSON.stringify({ success: [{ put: { key: 'eph/one', value: 'x', lease: id } }] }));
    expect((await cli(['txn', 'leased.json', '-s', S])).code).toBe(0);
    const shown = await cli(['lease', 'get', id, '-s', S]);
    expect(tableOf(shown.out)).toEqual([{ LEASE: id, TTL_MS: '5000', REMAINING_MS: expect.stringMatching(/^\d+$/), KEYS: 'eph/one' }]);
    expect(tableOf((await cli(['lease', 'keepalive', id, '-s', S])).out)).toEqual([{ LEASE: id, TTL_MS: '5000' }]);
    const revoked = await cli(['lease', 'revoke', id, '-s', S]);
    expect(revoked.out).toMatch(new RegExp(`^revoked ${id} at revision \\d+; keys deleted: eph/one\\n$`));
    expect(await paxos.get(S, 'eph/one')).toBeNull();
    expect(await cli(['lease', 'keepalive', id, '-s', S])).toMatchObject({ code: 1, err: expect.stringMatching(/^edgepaxos: lease_not_found: /) });
    expect(await cli(['lease', 'grant', 'soon', '-s', S])).toMatchObject({ code: 2 });
  });

  it('cli: watch prints every change under a prefix in revision order (replayed, then live) and stops after --count; --json prints the events', async () => {
    const first = await paxos.put(S, 'w/a', 'one');
    // Replay from the first write, then live: the watch gets w/a, and the two changes made once it printed.
    let wrote = false;
    const watched = await cli(['watch', '--prefix', 'w/', '--from-revision', String(first.revision), '--count', '3', '-s', S], {
      onOutput: (out) => {
        if (wrote || !out.includes('put w/a')) return;
        wrote = true;
        void paxos.txn(S, { success: [{ put: { key: 'w/b', value: 'two' } }, { put: { key: 'other', value: 'unwatched' } }] }).then(() => paxos.delete(S, 'w/a'));
      },
    });
    expect(watched.code, watched.err).toBe(0);
    const lines = watched.out.trimEnd().split('\n');
    expect(lines[0]).toBe(`put w/a = one (revision ${first.revision})`);
    expect(lines[1]).toMatch(/^put w\/b = two \(revision (\d+)\)$/);
    expect(lines[2]).toMatch(/^delete w\/a \(revision (\d+)\)$/);
    expect(lines).toHaveLength(3);
    const json = await cli(['--json', 'watch', 'w/b', '--from-revision', String(first.revision), '--count', '1', '-s', S]);
    expect(json.out.trimEnd().split('\n').map((l) => JSON.parse(l))).toEqual([{ type: 'put', key: 'w/b', value: 'two', revision: expect.any(Number), create_revision: expect.any(Number) }]);
    expect(await cli(['watch', '-s', S])).toMatchObject({ code: 2, err: expect.stringMatching(/give KEY or --prefix/) });
  });

  it('cli: ks watch prints every shard\'s changes under a prefix with their shard, and --cursor from a progress line resumes without losing or repeating', async () => {
    for (const shard of [0, 1, 2, 3]) await stableLeader(`users_s000${shard}`);
    const map = evenMap(4);
    const keys: string[] = [];
    for (let i = 0; keys.length < 3; i++) if (!keys.some((k) => shardOfKey(map, k) === shardOfKey(map, `cw/${i}`))) keys.push(`cw/${i}`);
    const written: { key: string; shard: number; revision: number }[] = [];
    let writing: Promise<void> | null = null;
    const first = await cli(['ks', 'watch', 'users', '--prefix', 'cw/', '--progress', '--count', '2'], {
      onOutput: (out) => {
        // Once every shard's watch has started (its first progress line), write two keys on two shards.
        if (writing || new Set(out.match(/progress: shard \d/g) ?? []).size < 4) return;
        writing = (async () => {
          for (const key of keys.slice(0, 2)) written.push({ key, ...(await paxos.ksPut('users', key, key)) });
        })();
      },
    });
    expect(first.code, first.err).toBe(0);
    await writing; // the watch may print a put before its writer has the answer
    const lines = first.out.trimEnd().split('\n');
    const puts = lines.filter((l) => l.startsWith('put '));
    expect(puts.sort()).toEqual(written.map((w) => `put ${w.key} = ${w.key} (shard ${w.shard} revision ${w.revision})`).sort());
    // The cursor of the last progress line before the puts: every shard named.
    const cursor = /\(cursor ([0-9:,]+)\)$/.exec(lines.filter((l) => l.startsWith('progress: ')).at(-1)!)![1]!;
    expect(cursor.split(',')).toHaveLength(4);
    // Resumed from there: the two puts again (they came after it), then a third, each once.
    const third = await paxos.ksPut('users', keys[2]!, keys[2]!);
    const resumed = await cli(['--json', 'ks', 'watch', 'users', '--prefix', 'cw/', '--cursor', cursor, '--count', '3']);
    expect(resumed.code, resumed.err).toBe(0);
    const events = resumed.out.trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(events.map((e) => `${e.key}@${e.shard}:${e.revision}`).sort()).toEqual([...written, { key: keys[2]!, ...third }].map((w) => `${w.key}@${w.shard}:${w.revision}`).sort());
    expect(await cli(['ks', 'watch', 'users', '--cursor', 'nope', '--prefix', ''])).toMatchObject({ code: 2, err: expect.stringMatching(/--cursor takes SHARD:REVISION/) });
    expect(await cli(['ks', 'watch', 'users'])).toMatchObject({ code: 2, err: expect.stringMatching(/give KEY or --prefix/) });
  });

  it('cli: lock holds the lock while its command runs, with the fencing token in its environment; two holders never overlap, tokens increase, and a waiter keeps its lease alive while it waits', async () => {
    const turns: { token: number; start: number; end: number; keyHeld: boolean }[] = [];
    let clock = 0;
    const exec = async (argv: readonly string[], env: Readonly<Record<string, string>>): Promise<number> => {
      const start = ++clock;
      // While the command runs its key is in the store, created at the fencing token.
      const item = await paxos.txn(S, { success: [{ get: { key: env.EDGEPAXOS_LOCK_KEY! } }] });
      const seen = item.results[0] as { create_revision?: number };
      await new Promise((r) => setTimeout(r, 1_300)); // longer than the TTL: the waiter's lease must be kept alive while it waits
      turns.push({ token: Number(env.EDGEPAXOS_FENCING_TOKEN), start, end: ++clock, keyHeld: seen.create_revision === Number(env.EDGEPAXOS_FENCING_TOKEN) });
      return argv[0] === 'fail' ? 3 : 0;
    };
    const [a, b] = await Promise.all([cli(['lock', 'jobs', '--ttl-ms', '1000', '-s', S, '--', 'ok'], { exec }), cli(['lock', 'jobs', '--ttl-ms', '1000', '-s', S, '--', 'fail'], { exec })]);
    expect(a).toEqual({ code: 0, out: '', err: '' });
    expect(b).toEqual({ code: 3, out: '', err: '' }); // the command's exit status passes through
    expect(turns).toHaveLength(2);
    const [first, second] = [...turns].sort((x, y) => x.start - y.start);
    expect(first!.keyHeld && second!.keyHeld).toBe(true);
    expect(second!.start).toBeGreaterThan(first!.end);
    expect(second!.token).toBeGreaterThan(first!.token);
    // Both released: nobody is in line any more.
    expect((await paxos.list(S, { prefix: 'jobs/' })).items).toEqual([]);
    // --json: what was held, and the command's status.
    const json = await cli(['--json', 'lock', 'jobs', '-s', S, '--', 'ok'], { exec });
    expect(JSON.parse(json.out)).toEqual({ lock: 'jobs', key: expect.stringMatching(/^jobs\//), revision: expect.any(Number), exit_code: 0 });
  });

  it('cli: lock without a command holds the lock until interrupted, then releases it', async () => {
    let key = '';
    const held = await cli(['lock', 'manual', '-s', S], {
      onOutput: (out, interrupt) => {
        const m = /^holding lock manual: key (\S+), fencing token (\d+)/.exec(out);
        if (!m || key) return;
        key = m[1]!;
        void paxos.get(S, key).then(interrupt, interrupt);
      },
    });
    expect(held.code, held.err).toBe(0);
    expect(held.out).toMatch(/\nreleased lock manual \(fencing token \d+\)\n$/);
    expect(await paxos.get(S, key)).toBeNull();
  });

  it('cli: elect campaign leads until interrupted while elect leader and elect observe see it; elect resign gives up a leadership', async () => {
    const observed: string[] = [];
    const observer = cli(['elect', 'observe', 'db', '--count', '3', '-s', S], { onOutput: (out) => observed.splice(0, observed.length, ...out.trimEnd().split('\n')) });
    const campaign = await cli(['elect', 'campaign', 'db', 'node-a:5432', '-s', S], {
      onOutput: (out, interrupt) => {
        if (!out.startsWith('leader of db:')) return;
        void cli(['elect', 'leader', 'db', '-s', S]).then((r) => {
          observed.push(`[leader] ${r.out}`);
          interrupt();
        });
      },
    });
    expect(campaign.code, campaign.err).toBe(0);
    expect(campaign.out).toMatch(/^leader of db: key db\/\S+, fencing token (\d+) \(Ctrl-C gives it up\)\nresigned the leadership of db \(revision \d+\)\n$/);
    const leaderTable = observed.find((l) => l.startsWith('[leader]'));
    expect(leaderTable).toMatch(/KEY +VALUE +REVISION +PROCLAIMED\n.*node-a:5432/);
    // A second leadership, given up by elect resign with the key and revision its campaign answered.
    const lease = await paxos.leaseGrant(S, 5000);
    const other = await paxos.campaign(S, 'db', { lease: lease.id, value: 'node-b:5432' });
    const resigned = await cli(['elect', 'resign', 'db', other.key, String(other.revision), '-s', S]);
    expect(resigned.out).toBe(`resigned ${other.key} (revision ${resigned.out.match(/revision (\d+)/)![1]})\n`);
    expect(await cli(['elect', 'leader', 'db', '-s', S])).toMatchObject({ code: 1, err: expect.stringMatching(/^edgepaxos: not_found: election 'db' has no leader/) });
    await paxos.leaseRevoke(S, lease.id);
    // The observer saw: no leader, node-a, no leader (then stopped at --count 3; node-b may come after).
    const run = await observer;
    expect(run.code, run.err).toBe(0);
    const lines = run.out.trimEnd().split('\n');
    expect(lines[0]).toBe('no leader');
    expect(lines[1]).toMatch(/^leader db\/\S+ = node-a:5432 \(revision \d+, proclaimed at \d+\)$/);
    expect(lines[2]).toBe('no leader');
  });
});
