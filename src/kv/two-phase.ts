import type { TxnOutcome } from '../core/command.ts';
import type { KvResult } from './kv-state-machine.ts';

/**
 * The coordinator's rule of two-phase commit, shared by the router and the
 * simulator: commit only when every participant voted yes (then the branch
 * every participant's compares choose together), abort on anything else — a
 * no vote, a refusal, or a participant that did not answer (null).
 */
export function outcomeOf(votes: readonly (KvResult | null)[]): TxnOutcome {
  let holds = true;
  for (const v of votes) {
    if (v === null || v.kind !== 'txn-vote' || v.vote !== 'yes') return 'abort';
    holds &&= v.holds;
  }
  return holds ? 'commit-success' : 'commit-failure';
}
