/**
 * Planted bugs: the simulator's own mutation score. Each mutant is a small,
 * plausible mistake written as search/replace patches against the source;
 * `npm run mutate` applies each to a copy of the repository (never to src/)
 * and runs the random campaign against it. Every one must be caught by the
 * campaign itself within its seed budget. A patch whose text is not found
 * exactly once fails loudly: the code moved, so the mutant must be updated.
 */

/** One search/replace edit of one file, relative to the repository root. */
export interface Patch {
  readonly file: string;
  readonly search: string;
  readonly replace: string;
}

export interface Mutant {
  readonly name: string;
  /** The mechanism it breaks. */
  readonly area: string;
  /** The mistake, in one sentence. */
  readonly bug: string;
  readonly patches: readonly Patch[];
  /** Seeds the campaign gets (from seed 1) to catch it; default DEFAULT_MUTANT_SEEDS. */
  readonly seeds?: number;
  /**
   * The campaign it runs against: the plain one (default), the coordination campaign
   * (`npm run sim -- --coordination`), the keyspace campaign (`npm run sim:keyspace`, sim/keyspace-sim.ts)
   * or the `leaders: follow` campaign (`npm run sim:follow`, sim/follow-sim.ts).
   */
  readonly campaign?: 'kv' | 'coordination' | 'keyspace' | 'follow';
}

/** The budget for the coordination campaign's planted bugs (its seeds cost several plain ones). */
export const COORDINATION_MUTANT_SEEDS = 60;

/** Planted bugs of cross-shard transactions, caught by the keyspace campaign (`npm run sim:keyspace`). */
export const KEYSPACE_MUTANTS: readonly Mutant[] = [
  {
    name: 'ks-commit-without-all-yes',
    area: 'cross-shard transactions',
    bug: 'the coordinator commits although a participant voted no',
    campaign: 'keyspace',
    seeds: 100,
    patches: [
      {
        file: 'src/kv/two-phase.ts',
        search: "    if (v === null || v.kind !== 'txn-vote' || v.vote !== 'yes') return 'abort';",
        replace: "    if (v === null) return 'abort';\n    if (v.kind !== 'txn-vote' || v.vote !== 'yes') continue;",
      },
    ],
  },
  {
    name: 'ks-resolve-applied-twice',
    area: 'cross-shard transactions',
    bug: 'a participant keeps a transaction prepared after resolving it, so a later resolve applies it again',
    campaign: 'keyspace',
    seeds: 100,
    patches: [{ file: 'src/kv/kv-state-machine.ts', search: '    this.prepared.delete(txid);\n', replace: '' }],
  },
  {
    name: 'ks-read-ignores-intent',
    area: 'cross-shard transactions',
    bug: 'a keyspace read answers a key that a prepared transaction writes, without settling the intent',
    campaign: 'keyspace',
    seeds: 100,
    patches: [{ file: 'src/kv/kv-state-machine.ts', search: "    if (writer) return { kind: 'intent', key, intent: this.intentView(writer) };\n", replace: '' }],
  },
  {
    name: 'ks-handoff-ignores-intents',
    area: 'growing a keyspace',
    bug: "a shard hands off a moving range while a transaction's intent holds one of its keys, so the transaction resolves into the frozen copy",
    campaign: 'keyspace',
    seeds: 100,
    patches: [{ file: 'src/kv/kv-state-machine.ts', search: '          if (!this.owns(key) || inRanges(ranges, keyHash(key))) continue;', replace: '          continue;' }],
  },
  {
    name: 'ks-grow-serves-before-copy',
    area: 'growing a keyspace',
    bug: 'a new shard serves a range as soon as it is assigned, before the copy from its source is installed',
    campaign: 'keyspace',
    seeds: 100,
    patches: [
      { file: 'src/kv/kv-state-machine.ts', search: '    return incoming !== undefined && inRanges(incoming, keyHash(key));', replace: '    return false;' },
      { file: 'src/kv/kv-state-machine.ts', search: '    return inRanges(this.ownership.ranges, h) && !inRanges(this.ownership.incoming ?? [], h);', replace: '    return inRanges(this.ownership.ranges, h);' },
    ],
  },
  {
    name: 'ks-install-after-ready',
    area: 'growing a keyspace',
    bug: "a new shard installs a copied chunk after it started serving the range, so a late grow driver overwrites newer writes with the source's frozen values",
    campaign: 'keyspace',
    seeds: 100,
    patches: [{ file: 'src/kv/kv-state-machine.ts', search: '!items.every(([k]) => this.incomingHas(k))', replace: "!items.every(([k]) => this.incomingHas(k) || inRanges(own.ranges, keyHash(k)))" }],
  },
];

/** The budget of `npm test`'s random campaign (test/sim/campaign-helpers.ts DEFAULT_SEED_BUDGET). */
export const DEFAULT_MUTANT_SEEDS = 400;

const REPLICA = 'src/core/replica.ts';
const LEASE_KEEPER = 'src/kv/lease-keeper.ts';
const KV = 'src/kv/kv-state-machine.ts';

export const PAXOS_MUTANTS: readonly Mutant[] = [
  {
    name: 'forget-promise-on-restart',
    area: 'elections',
    bug: 'an acceptor forgets its promise when it restarts',
    patches: [{ file: REPLICA, search: '    this.promisedBallot = durable.promised;', replace: '    this.promisedBallot = ZERO_BALLOT;' }],
  },
  {
    name: 'promise-without-persist',
    area: 'elections',
    bug: 'an acceptor answers a prepare before its promise is persisted',
    patches: [
      {
        file: REPLICA,
        search: "      this.promise(m.ballot);\n      this.leaderId = null; // we no longer accept the old leader's proposals",
        replace: "      this.promisedBallot = m.ballot;\n      this.leaderId = null; // we no longer accept the old leader's proposals",
      },
    ],
  },
  {
    name: 'stale-promise-counted',
    area: 'elections',
    bug: 'a candidate counts a promise made to an earlier ballot of its own',
    patches: [
      {
        file: REPLICA,
        search: "    if (this.role !== 'candidate' || !ballotEquals(m.ballot, this.ownBallot)) return; // stale or late",
        replace: "    if (this.role !== 'candidate') return;",
      },
    ],
  },
  {
    name: 'candidate-reuses-round',
    area: 'elections',
    bug: 'a candidate campaigns at the highest round it has seen instead of above it',
    patches: [
      {
        file: REPLICA,
        search: '    const round = Math.max(this.promisedBallot.round, this.maxRoundSeen, this.preVoteBallot.round - 1) + 1;',
        replace: '    const round = Math.max(this.promisedBallot.round, this.maxRoundSeen, this.preVoteBallot.round - 1, 1);',
      },
    ],
  },
  {
    name: 'never-hand-over',
    area: 'elections',
    bug: 'a leader never hands over to a higher-priority replica (fail-back)',
    patches: [{ file: 'src/core/transfer.ts', search: '  if (!policy.enabled || policy.suppressed) return null;', replace: '  return null;' }],
  },
  {
    name: 'skip-reproposal',
    area: 'phase 1 recovery',
    bug: 'a new leader fills undecided slots with no-ops instead of re-proposing accepted values',
    patches: [{ file: REPLICA, search: '      const command: Command = chosen ? chosen.command : NOOP;', replace: '      const command: Command = chosen?.decided ? chosen.command : NOOP;' }],
  },
  {
    name: 'lowest-ballot-wins',
    area: 'phase 1 recovery',
    bug: 'a new leader re-proposes the value accepted at the lowest ballot instead of the highest',
    patches: [
      {
        file: REPLICA,
        search: '(e.decided || compareBallots(e.ballot, cur.ballot) > 0)',
        replace: '(e.decided || compareBallots(e.ballot, cur.ballot) < 0)',
      },
    ],
  },
  {
    name: 'accept-compares-rounds',
    area: 'acceptance',
    bug: 'an acceptor compares ballot rounds only, so it accepts from a leader of its promised round with a lower replica id',
    patches: [
      {
        file: REPLICA,
        search: '    this.observeRound(ballot.round);\n    if (ballotGreater(this.promisedBallot, ballot)) {',
        replace: '    this.observeRound(ballot.round);\n    if (this.promisedBallot.round > ballot.round) {',
      },
    ],
  },
  {
    name: 'learn-decided-blindly',
    area: 'acceptance',
    bug: "a follower takes slots as decided through the leader's decided prefix without checking it holds the leader's value",
    patches: [{ file: 'src/core/replication.ts', search: '    if (!ballotEquals(e.ballot, ballot)) break;\n', replace: '' }],
  },
  {
    name: 'ignore-phase2-policy',
    area: 'acceptance',
    bug: 'a leader decides with a plain weighted majority, ignoring required groups and flexible phase-2 sizes',
    patches: [
      {
        file: 'src/core/configuration-chain.ts',
        search: '    if (this.override) return this.overrideSatisfied(acks);\n',
        replace: '    if (this.override) return this.overrideSatisfied(acks);\n    return this.activeConfig.config.quorum.isPhase1Quorum(acks);\n',
      },
    ],
  },
  {
    name: 'read-without-confirmation',
    area: 'reads',
    bug: 'a leader serves read-index reads at once, without confirming with a quorum that it still leads',
    patches: [
      {
        file: 'src/core/read-index.ts',
        search: '  request(readId: string, decidedThrough: number, openingSlot: number): boolean {\n',
        replace: '  request(readId: string, decidedThrough: number, openingSlot: number): boolean {\n    this.confirmed.push({ readId, decidedThrough });\n    if (openingSlot >= 0) return false;\n',
      },
    ],
  },
  {
    name: 'read-older-broadcast',
    area: 'reads',
    bug: 'a read is confirmed by answers to the heartbeat broadcast sent before it was asked',
    patches: [
      {
        file: 'src/core/read-index.ts',
        search: '    this.pending.push({ readId, decidedThrough, seq: this.seqBroadcast + 1 });',
        replace: '    this.pending.push({ readId, decidedThrough, seq: this.seqBroadcast });',
      },
    ],
  },
  {
    name: 'read-nonce-restarts',
    area: 'quiet restarts',
    bug: "a restarted replica's read nonce starts again at 0, so answers to its previous life (same ballot after a quiet restart) confirm its reads (issue 11, bug 2)",
    patches: [
      {
        file: REPLICA,
        search: '    this.reads = new ReadIndex(durable.readSeqReserved ?? 0);',
        replace: '    this.reads = new ReadIndex(0);',
      },
    ],
  },
  {
    name: 'quiet-restore-skips-promise',
    area: 'quiet restarts',
    bug: 'a replica restarts quiet (a leader leads again at its old ballot) although it promised a higher ballot since it went quiet',
    patches: [
      {
        file: 'src/core/quiet.ts',
        search: "  if (!ballotEquals(q.ballot, s.promised)) return { kind: 'refused', why: `went quiet at ${formatBallot(q.ballot)}, has promised ${formatBallot(s.promised)} since` };\n",
        replace: '',
      },
    ],
  },
  {
    name: 'ignore-compacted-promises',
    area: 'snapshots',
    bug: 'a candidate leads although an acceptor compacted decided slots it does not have (it fills them with no-ops)',
    patches: [{ file: REPLICA, search: '    if (m.compactedThrough >= this.prepareFromSlot) {', replace: '    if (false) {' }],
  },
  {
    name: 'snapshot-over-newer-state',
    area: 'snapshots',
    bug: 'an acceptor installs a snapshot older than what it already decided, rolling its state machine back',
    patches: [{ file: REPLICA, search: '    if (m.slot > this.log.decidedThrough) {', replace: '    if (m.slot > this.log.compactedThrough) {' }],
  },
  {
    name: 'elect-with-newest-configuration-only',
    area: 'membership',
    bug: 'pre-vote and phase 1 count only the newest configuration a candidate knows, not every configuration that may govern an undecided slot',
    patches: [
      {
        file: 'src/core/configuration-chain.ts',
        search: '    if (this.override) return this.overrideSatisfied(voters);\n',
        replace: '    if (this.override) return this.overrideSatisfied(voters);\n    return this.links().at(-1)!.config.quorum.isPhase1Quorum(voters);\n',
      },
    ],
  },
  {
    name: 'answers-from-old-incarnation',
    area: 'membership',
    bug: "a leader counts answers from a rebuilt replica's previous incarnation",
    patches: [
      {
        file: REPLICA,
        search: '    if (ANSWERS.has(m.type) && (m.fromIncarnation ?? 1) !== this.configs.incarnationOf(m.from)) return; // from a life of that replica we no longer count\n',
        replace: '',
      },
    ],
  },
  {
    name: 'minority-vote-num-any',
    area: 'minority mode',
    bug: 'minority mode accepts a vote_num that is not a strict majority of the survivors (issue 11, bug 1)',
    patches: [{ file: 'src/core/replica-options.ts', search: '  if (2 * o.voteNum <= voters.length) {', replace: '  if (false) {' }],
  },
  {
    name: 'ignore-epochs',
    area: 'minority mode',
    bug: 'replicas act on messages of any epoch: nothing fences a history forked off by a minority force-start',
    patches: [{ file: REPLICA, search: '    const theirs = m.epoch ?? 0;', replace: '    const theirs = this.epoch;' }],
  },
  {
    name: 'travelling-forever',
    area: 'flow control',
    bug: 'catch-up treats an unacknowledged accept batch as still on its way however overdue it is, so a lost batch is never sent again',
    patches: [
      {
        file: 'src/core/travelling-batches.ts',
        search: '    if (!oldest || oldest.firstSlot > ackedThrough + 1 || nowTicks - oldest.tick >= freshTicks) return ackedThrough;',
        replace: '    if (!oldest || oldest.firstSlot > ackedThrough + 1) return ackedThrough;',
      },
    ],
  },
  {
    name: 'new-leader-keeps-no-ttl',
    area: 'leases',
    bug: 'a new leader does not restart the TTL of the leases it finds: it expires at once every lease it has no deadline for',
    campaign: 'coordination',
    seeds: COORDINATION_MUTANT_SEEDS,
    patches: [{ file: LEASE_KEEPER, search: '        deadline = now + this.ttlTicks(lease.ttlMs);\n        this.deadlines.set(lease.id, deadline);', replace: '        deadline = now;\n        this.deadlines.set(lease.id, deadline);' }],
  },
  {
    name: 'deadlines-outlive-leadership',
    area: 'leases',
    bug: "a replica that leads again keeps the deadlines of its earlier leadership, missing the keep-alives another leader applied meanwhile",
    campaign: 'coordination',
    seeds: COORDINATION_MUTANT_SEEDS,
    patches: [{ file: LEASE_KEEPER, search: '    this.leading = leading;\n    this.deadlines.clear();', replace: '    this.leading = leading;' }],
  },
  {
    name: 'keepalive-keeps-grant-deadline',
    area: 'leases',
    bug: "the leader's deadline counts from the grant only: a keep-alive does not restart the TTL",
    campaign: 'coordination',
    seeds: COORDINATION_MUTANT_SEEDS,
    patches: [{ file: LEASE_KEEPER, search: "(e.command.kind === 'lease-grant' || e.command.kind === 'lease-keepalive')", replace: "e.command.kind === 'lease-grant'" }],
  },
  {
    name: 'expiry-ignores-keepalive',
    area: 'leases',
    bug: 'an expiry applies even if a keep-alive was decided after the leader proposed it (it ignores refreshedAt)',
    campaign: 'coordination',
    seeds: COORDINATION_MUTANT_SEEDS,
    patches: [{ file: KV, search: '        if (!l || l.refreshedAt !== command.refreshedAt) return', replace: '        if (!l) return' }],
  },
  {
    name: 'txn-applied-partially',
    area: 'transactions',
    bug: 'a transaction commits only the first key it writes; the rest of its writes are lost',
    campaign: 'coordination',
    seeds: COORDINATION_MUTANT_SEEDS,
    patches: [
      {
        file: KV,
        search: '        changes.push(this.write(slot, key, after.value, after.lease));\n      }\n    }',
        replace: '        changes.push(this.write(slot, key, after.value, after.lease));\n      }\n      break;\n    }',
      },
    ],
  },
  {
    name: 'watch-skips-event',
    area: 'watches',
    bug: 'a watch is sent only the first change of a revision that changed several keys (a transaction, a delete_prefix, a lease end)',
    campaign: 'coordination',
    seeds: COORDINATION_MUTANT_SEEDS,
    patches: [{ file: 'src/host/watch-hub.ts', search: '    for (const c of r.changes) {\n      if (!w.covers(c.key)) continue;', replace: '    for (const c of r.changes.slice(0, 1)) {\n      if (!w.covers(c.key)) continue;' }],
  },
  {
    name: 'thrifty-picks-too-few',
    area: 'thrifty replication',
    bug: 'the nearest quorum leaves out one follower it needs, so each new batch waits for its hedge or a retransmission',
    patches: [
      {
        file: 'src/core/thrifty.ts',
        search: '    const to = [...new Set([...chosen, ...extra])].sort((a, b) => a - b);',
        replace: '    const to = [...new Set([...chosen, ...extra])].sort((a, b) => a - b).slice(1);',
      },
    ],
  },
  {
    name: 'thrifty-forgets-trailing',
    area: 'thrifty replication',
    bug: 'heartbeats no longer carry the catch-up of a trailing follower, which falls behind by up to a catch-up window',
    patches: [{ file: REPLICA, search: '      if (pr && this.trailing(to, pr)) this.replication.catchUp(to, pr);\n', replace: '' }],
  },
];

/** Every planted bug: the Paxos campaign's and the keyspace campaign's. */
/** Planted bugs of `leaders: follow`, caught by its campaign (`npm run sim:follow`). */
export const FOLLOW_MUTANTS: readonly Mutant[] = [
  {
    name: 'follow-without-hysteresis',
    area: 'leaders: follow',
    bug: 'the traffic follower moves to whichever region wrote most in a window, however slightly (no half-window share, no ratio over the preferred region)',
    campaign: 'follow',
    seeds: 20,
    patches: [
      {
        file: 'src/kv/traffic-follower.ts',
        search: '    const clear = top !== null && !tied && top !== preferred && 2 * topCount >= this.opts.windowWrites && topCount >= this.opts.ratio * preferredCount;',
        replace: '    const clear = top !== null && !tied && top !== preferred;',
      },
    ],
  },
  {
    name: 'follow-to-any-region',
    area: 'leaders: follow',
    bug: 'the traffic follower prefers the region after the one that wrote most (an off-by-one in the region it picks)',
    campaign: 'follow',
    seeds: 20,
    patches: [
      {
        file: 'src/kv/traffic-follower.ts',
        search: '    const next = clear ? preferRegion(configuration, top!) : null;',
        replace: "    const others = configuration.members.filter((m) => m.role === 'electable' && m.region !== top).map((m) => m.region!);\n    const next = clear ? preferRegion(configuration, others[0] ?? top!) : null;",
      },
    ],
  },
];

export const MUTANTS: readonly Mutant[] = [...PAXOS_MUTANTS, ...KEYSPACE_MUTANTS, ...FOLLOW_MUTANTS];

/**
 * Apply `mutant`'s patches to the files `read` returns; returns the patched
 * contents by file. Throws, naming the mutant and file, if a search text is
 * not found exactly once.
 */
export function applyMutant(mutant: Mutant, read: (file: string) => string): Map<string, string> {
  const out = new Map<string, string>();
  for (const p of mutant.patches) {
    const text = out.get(p.file) ?? read(p.file);
    const at = text.indexOf(p.search);
    if (at < 0) throw new Error(`mutant ${mutant.name}: its text is not in ${p.file} any more (the code changed: update the patch in sim/mutants.ts):\n${p.search}`);
    if (text.indexOf(p.search, at + 1) >= 0) throw new Error(`mutant ${mutant.name}: its text occurs more than once in ${p.file}; make the search text unique:\n${p.search}`);
    out.set(p.file, text.slice(0, at) + p.replace + text.slice(at + p.search.length));
  }
  return out;
}
