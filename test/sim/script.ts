import { type ReplicaId, SeededRng } from '../../src/core/index.ts';
import type { PriorityOptions } from '../../src/core/index.ts';
import { SimCluster, type SimMember } from '../../sim/cluster.ts';

/**
 * Golden transcripts (test/sim/testdata/*.txt), in the manner of etcd-raft's
 * datadriven testdata: a small script drives a simulated cluster, and the
 * trace it produces (transitions and refusals with their reasons, operator
 * actions, faults) is compared with the expected output checked in under each
 * command. A file is a sequence of blocks:
 *
 *     # comments and blank lines between blocks are kept as they are
 *     <command> [arg=value ...]
 *     ----
 *     <expected output, one line per trace line or result>
 *
 * Regenerate after an intended change of behaviour or wording:
 *     UPDATE_GOLDEN=1 npx vitest run --project node test/sim/golden.test.ts
 * then read the diff: it is the change of behaviour.
 *
 * Commands (ids are replica ids; lists are comma-separated):
 * - `cluster replicas=3 seed=1 [priorities=3,2,1] [roles=electable,electable,logger] [quiet-after=T] [failback=on|off]`
 * - `run ticks=N` - time passes
 * - `run-until leader [max=N] [not=ID]` - until some replica (other than ID) leads
 * - `run-until quiet [max=N]` - until every replica is quiet
 * - `write key=K value=V [max=N]` - a client put through the leader, retried until applied or N ticks
 * - `cut from=A to=B` (one way), `isolate id=A`, `partition groups=1,2|3`, `heal`
 * - `crash id=A`, `restart id=A` (from its storage)
 * - `transfer from=A to=B`, `step-down id=A` - operator controls at replica A
 * - `force-minority survivors=A,B vote-num=N`, `normal-mode`
 * - `status` - one line per replica
 */
export interface Block {
  /** Lines before the command (comments, blank lines). */
  readonly preamble: string[];
  readonly command: string;
  readonly expected: string[];
}

export function parseScript(text: string): { blocks: Block[]; trailer: string[] } {
  const lines = text.split('\n');
  const blocks: Block[] = [];
  let preamble: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    if (line.startsWith('#') || line.trim() === '') {
      preamble.push(line);
      i++;
      continue;
    }
    const command = line;
    if (lines[i + 1] !== '----') throw new Error(`line ${i + 2}: expected '----' after the command '${command}'`);
    i += 2;
    const expected: string[] = [];
    while (i < lines.length && lines[i] !== '') expected.push(lines[i++]!);
    blocks.push({ preamble, command, expected });
    preamble = [];
  }
  return { blocks, trailer: preamble };
}

export function formatScript(blocks: readonly Block[], outputs: readonly string[][], trailer: readonly string[]): string {
  const out: string[] = [];
  blocks.forEach((b, i) => {
    out.push(...b.preamble, b.command, '----', ...outputs[i]!);
  });
  out.push(...trailer);
  return out.join('\n');
}

/** Runs a script's commands against one simulated cluster; each command's output is the trace it caused, then its result. */
export class ScriptRunner {
  private c: SimCluster | null = null;
  private captured: string[] = [];

  run(command: string): string[] {
    this.captured = [];
    const [name, ...rest] = command.trim().split(/\s+/);
    const args = new Map<string, string>();
    const words: string[] = [];
    for (const r of rest) {
      const eq = r.indexOf('=');
      if (eq < 0) words.push(r);
      else args.set(r.slice(0, eq), r.slice(eq + 1));
    }
    const result = this.execute(name!, args, words);
    return [...this.captured, ...result];
  }

  private get cluster(): SimCluster {
    if (!this.c) throw new Error('no cluster yet: start with `cluster`');
    return this.c;
  }

  private execute(name: string, args: Map<string, string>, words: string[]): string[] {
    const num = (k: string, d?: number): number => {
      const v = args.get(k);
      if (v === undefined) {
        if (d === undefined) throw new Error(`${name}: ${k}= is required`);
        return d;
      }
      const n = Number(v);
      if (!Number.isInteger(n)) throw new Error(`${name}: ${k}=${v} is not an integer`);
      return n;
    };
    const ids = (k: string): ReplicaId[] => (args.get(k) ?? '').split(',').filter((x) => x !== '').map(Number);
    switch (name) {
      case 'cluster': {
        const n = num('replicas');
        const priorities = ids('priorities');
        const roles = (args.get('roles') ?? '').split(',').filter((x) => x !== '') as SimMember['role'][];
        const members: SimMember[] = Array.from({ length: n }, (_, i) => ({ id: i + 1, role: roles[i] ?? 'electable', priority: priorities[i] ?? 0, weight: 1, group: 0 }));
        const priority: PriorityOptions = { enabled: true, failback: args.get('failback') !== 'off', minLeaderTenureTicks: 0 };
        this.c = new SimCluster({
          replicas: members,
          rng: new SeededRng(num('seed')),
          priority,
          ...(args.has('quiet-after') ? { quietAfterTicks: num('quiet-after') } : {}),
        });
        this.capture(this.c);
        return [];
      }
      case 'run':
        this.cluster.runTicks(num('ticks'));
        return [];
      case 'run-until': {
        const c = this.cluster;
        const max = num('max', 200);
        const what = words[0];
        const not = args.has('not') ? num('not') : null;
        const done =
          what === 'leader'
            ? (): boolean => c.leaderId() !== null && c.leaderId() !== not
            : what === 'quiet'
              ? (): boolean => c.upIds().every((id) => c.replica(id).core!.status().quiet)
              : null;
        if (!done) throw new Error(`run-until: unknown condition '${what}'`);
        const start = c.now;
        while (!done()) {
          if (c.now - start >= max) return [`not reached within ${max} ticks`];
          c.tick();
        }
        return [what === 'leader' ? `leader ${c.leaderId()} after ${c.now - start} ticks` : `quiet after ${c.now - start} ticks`];
      }
      case 'write': {
        const r = this.cluster.write(args.get('key') ?? 'k', args.get('value') ?? 'v', num('max', 300));
        return [r === null ? 'write: not applied in time' : `write: ${JSON.stringify(r)}`];
      }
      case 'cut':
        this.cluster.network.cutOneWay(num('from'), num('to'));
        this.cluster.trace(`network: ${num('from')} cannot reach ${num('to')}`);
        return [];
      case 'isolate':
        this.cluster.network.isolate(num('id'), this.cluster.ids);
        this.cluster.trace(`network: replica ${num('id')} isolated`);
        return [];
      case 'partition': {
        const groups = (args.get('groups') ?? '').split('|').map((g) => g.split(',').map(Number));
        this.cluster.network.partition(groups);
        this.cluster.trace(`network: partition ${groups.map((g) => g.join(',')).join(' | ')}`);
        return [];
      }
      case 'heal':
        this.cluster.network.heal();
        this.cluster.trace('network: healed');
        return [];
      case 'crash':
        this.cluster.crash(num('id'));
        return [];
      case 'restart':
        this.cluster.restart(num('id'));
        return [];
      case 'transfer': {
        const r = this.cluster.replica(num('from')).core!.transferLeadership(num('to'));
        this.cluster.flush();
        return [r.ok ? `transfer: started, to ${r.target}` : `transfer: ${r.code}: ${r.message}`];
      }
      case 'step-down': {
        const r = this.cluster.replica(num('id')).core!.stepDown();
        this.cluster.flush();
        return [r.ok ? `step-down: handing over to ${r.target}` : `step-down: ${r.code}: ${r.message}`];
      }
      case 'force-minority':
        try {
          return [`epoch ${this.cluster.forceMinority(ids('survivors'), num('vote-num'))}`];
        } catch (e) {
          if (e instanceof RangeError) return [`refused: ${e.message}`];
          throw e;
        }
      case 'normal-mode':
        this.cluster.normalMode();
        return [];
      case 'status': {
        const c = this.cluster;
        return c.ids.map((id) => {
          const st = c.replica(id).core?.status();
          if (!st) return `r${id}: down`;
          const flags = [st.quiet ? 'quiet' : '', st.fenced ? 'fenced' : '', st.epoch > 0 ? `epoch ${st.epoch}` : ''].filter((f) => f !== '');
          return `r${id}: ${st.role} ballot ${st.ballot.round}.${st.ballot.replicaId} leader ${st.leaderId ?? '-'} decided ${st.decidedThrough}${flags.length ? ` (${flags.join(', ')})` : ''}`;
        });
      }
      default:
        throw new Error(`unknown command '${name}'`);
    }
  }

  /** Every trace line from now on goes to the current command's output (the cluster keeps its own bounded copy). */
  private capture(c: SimCluster): void {
    const trace = c.trace.bind(c);
    c.trace = (line: string): void => {
      trace(line);
      this.captured.push(c.log.at(-1)!);
    };
    this.captured.push(...c.log); // what happened while it started
  }
}
