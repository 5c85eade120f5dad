import type { Command } from './command.ts';

/**
 * What an application supplies (hashicorp/raft's FSM shape): decided commands
 * are applied in slot order, exactly once per replica lifetime or after a
 * `restore`; the same sequence must produce the same state on every replica.
 */
export interface StateMachine<Result> {
  /** Apply the command decided at `slot`; the result goes to the proposer, if it waits. */
  apply(slot: number, command: Command): Result;
  /** The last slot applied (0 before any). */
  readonly appliedThrough: number;
  /** A self-contained serialisation of the whole state, including `appliedThrough`. */
  snapshot(): string;
  /** Replace the whole state with one taken by `snapshot`. */
  restore(snapshot: string): void;
  /**
   * How many records a snapshot would hold now (for a key-value store: keys,
   * idempotency sessions, leases): what taking one costs. A host may snapshot
   * less often than its interval once this outgrows it (ready-runner.ts).
   */
  readonly records: number;
}
