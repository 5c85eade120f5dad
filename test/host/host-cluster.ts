import type { Message, ReplicaId } from '../../src/core/index.ts';
import { type StreamConfig, parseStreamDefinition } from '../../src/host/config.ts';
import { MemoryStorage } from '../../src/host/memory-storage.ts';
import { ClockedHost, type LogEvent } from '../../src/host/clocked-host.ts';
import { unwrapBatch, wireBatch } from '../../src/host/wire.ts';

/**
 * The replicas of one stream as ClockedHosts in one Node process, under a
 * clock the caller moves (test/host/clocked-host.test.ts; bench/profile.ts
 * times the host's own work per write with it): each
 * has one alarm (moved earlier, never later, as ReplicaObject does), messages
 * go through a JSON round trip as over RPC, and a replica can be made
 * unreachable. What the Durable Object adds (SQLite, real alarms, real RPC)
 * is covered in workerd; this is about how the host turns time into ticks.
 */
/** A 3-replica stream on fast timings (ticks of 10 ms, heartbeats every 50 ms, elections after 300 ms), priorities 3/2/1: replica 1 leads once settled. */
export const THREE_REPLICAS = {
  name: 's',
  tick_ms: 10,
  heartbeat_interval_ms: 50,
  election_timeout_ms: 300,
  replicas: [
    { id: 1, region: 'wnam', priority: 3 },
    { id: 2, region: 'weur', priority: 2 },
    { id: 3, region: 'apac', priority: 1 },
  ],
};

export class HostCluster {
  now = 1_000_000;
  readonly hosts = new Map<ReplicaId, ClockedHost>();
  readonly alarms = new Map<ReplicaId, number | null>();
  readonly down = new Set<ReplicaId>();
  readonly storages = new Map<ReplicaId, MemoryStorage>();
  /** Every structured log event of every replica, in order. */
  readonly logs: LogEvent[] = [];
  private readonly inFlight = new Set<Promise<unknown>>();
  readonly stream: StreamConfig;
  /**
   * Called before a replica takes a batch and before the sender takes its
   * replies: where, in a Durable Object, the runtime's own work runs between
   * two calls (bench/profile.ts flushes the CPU caches here).
   */
  between: () => void = () => {};

  /** `gather`: give the hosts a `defer` (a microtask, awaited by `settle`), so that writes made together are proposed together (write gathering). */
  constructor(definition: unknown, options: { readonly gather?: boolean } = {}) {
    this.stream = parseStreamDefinition(definition);
    const defer = options.gather
      ? (fn: () => void): void => {
          const p = Promise.resolve().then(fn);
          this.inFlight.add(p);
          void p.finally(() => this.inFlight.delete(p));
        }
      : undefined;
    for (const r of this.stream.replicas) {
      const id = r.id;
      this.alarms.set(id, null);
      this.storages.set(id, new MemoryStorage());
      const host = new ClockedHost({
        stream: this.stream,
        replicaId: id,
        storage: this.storages.get(id)!,
        seed: id,
        now: () => this.now,
        log: (e) => this.logs.push(e),
        scheduleWake: (at) => {
          const cur = this.alarms.get(id) ?? null;
          if (cur === null || at < cur) this.alarms.set(id, at);
        },
        background: (p) => {
          this.inFlight.add(p);
          void p.finally(() => this.inFlight.delete(p));
        },
        ...(defer ? { defer } : {}),
        transport: {
          send: async (to, messages) => {
            await Promise.resolve();
            if (this.down.has(to) || this.down.has(id)) return [];
            // Tagged batches both ways, as ReplicaObject sends them (wire.ts).
            this.between();
            const replies = this.hosts.get(to)!.deliver(id, unwrapBatch(JSON.parse(JSON.stringify(wireBatch(messages)))));
            const back = unwrapBatch(JSON.parse(JSON.stringify(wireBatch(replies)))) as Message[];
            this.between();
            return back;
          },
        },
      });
      this.hosts.set(id, host);
    }
  }

  /** Let every message in flight arrive, and what it causes. */
  async settle(): Promise<void> {
    for (let i = 0; i < 100 && this.inFlight.size > 0; i++) await Promise.all([...this.inFlight]);
  }

  /** Fire the alarms of `ids` (all replicas by default) that are due, in that order. */
  async fireDue(ids: readonly ReplicaId[] = [...this.hosts.keys()]): Promise<void> {
    for (const id of ids) {
      const at = this.alarms.get(id) ?? null;
      if (at === null || at > this.now || this.down.has(id)) continue;
      this.alarms.set(id, null);
      this.hosts.get(id)!.wake();
      await this.settle();
    }
  }

  /** Time passes in 5 ms steps with alarms on time; `alarmDelayMs` makes every alarm fire that much late. */
  async run(ms: number, alarmDelayMs = 0): Promise<void> {
    const end = this.now + ms;
    while (this.now < end) {
      this.now += 5;
      for (const [id, at] of this.alarms) {
        if (at !== null && at + alarmDelayMs <= this.now && !this.down.has(id)) {
          this.alarms.set(id, null);
          this.hosts.get(id)!.wake();
          await this.settle();
        }
      }
    }
  }

  leaders(): { id: ReplicaId; round: number }[] {
    return [...this.hosts.values()]
      .filter((h) => !this.down.has(h.id))
      .map((h) => h.view())
      .filter((v) => v.role === 'leader')
      .map((v) => ({ id: v.node_id, round: v.ballot.round }));
  }

  async write(at: ReplicaId, key: string): Promise<string> {
    const outcome = this.hosts.get(at)!.write({ kind: 'put', id: `${key}-${this.now}`, key, value: key }, 10_000);
    await this.settle();
    const race = await Promise.race([outcome, Promise.resolve(null)]);
    return race === null ? 'pending' : race.kind;
  }
}
