import { timingProblem } from '../core/index.ts';
import type { StreamConfig } from './config.ts';

/** The settings every window derives from, as a stream configures them. */
export type TimingSettings = Pick<StreamConfig, 'tick_ms' | 'heartbeat_interval_ms' | 'election_timeout_ms'>;

/**
 * Every time window of a stream, named, derived from its three settings
 * (`tick_ms`, `heartbeat_interval_ms`, `election_timeout_ms`) in one place.
 * The election timeout is the unit of patience beyond the core: a peer or a
 * client waiting longer than a few of them would be waiting through
 * elections that should have ended.
 */
export interface TimingWindows {
  readonly tickMs: number;
  /** The core's timing in ticks (ReplicaTiming). */
  readonly heartbeatIntervalTicks: number;
  readonly electionTimeoutTicks: number;
  /** Unacknowledged accepts go again after two heartbeat intervals (at least two ticks). */
  readonly retransmitTicks: number;
  /** A peer RPC (a batch of Paxos messages) not answered within one election timeout is a lost message. */
  readonly peerRpcTimeoutMs: number;
  /** One write attempt at one replica: four election timeouts (an election, then the write's own round trips). */
  readonly writeAttemptMs: number;
  /** One read attempt at one replica (a read-index confirmation, or a stale read): two election timeouts. */
  readonly readAttemptMs: number;
  /** A client request, retried across replicas and leader changes, gives up after six election timeouts (at least 5 s). */
  readonly requestDeadlineMs: number;
  /** An operator's promotion waits this long for the replica to lead: ten election timeouts. */
  readonly promotionWaitMs: number;
  /** Deleting a stream waits this long for each replica to confirm it destroyed its storage: two election timeouts (at least 1 s). */
  readonly destroyWaitMs: number;
  /**
   * A lock or election waiter reads its queue again at least this often, even
   * if its watch said nothing (the replica it watches may have fallen behind):
   * three election timeouts, at least 1 s.
   */
  readonly lockRecheckMs: number;
}

/** The windows of a stream whose settings passed `timingSettingsProblems` (the configuration schema checks that). */
export function timingWindows(s: TimingSettings): TimingWindows {
  const { heartbeatIntervalTicks, electionTimeoutTicks } = timingTicks(s);
  const e = s.election_timeout_ms;
  return {
    tickMs: s.tick_ms,
    heartbeatIntervalTicks,
    electionTimeoutTicks,
    retransmitTicks: Math.max(2, 2 * heartbeatIntervalTicks),
    peerRpcTimeoutMs: e,
    writeAttemptMs: 4 * e,
    readAttemptMs: 2 * e,
    requestDeadlineMs: Math.max(5_000, 6 * e),
    promotionWaitMs: 10 * e,
    destroyWaitMs: Math.max(1_000, 2 * e),
    lockRecheckMs: Math.max(1_000, 3 * e),
  };
}

/** Milliseconds rounded to whole ticks, as the core counts them. */
function timingTicks(s: TimingSettings): { heartbeatIntervalTicks: number; electionTimeoutTicks: number } {
  return {
    heartbeatIntervalTicks: Math.max(1, Math.round(s.heartbeat_interval_ms / s.tick_ms)),
    electionTimeoutTicks: Math.max(1, Math.round(s.election_timeout_ms / s.tick_ms)),
  };
}

/**
 * What makes a stream's timing unusable, by setting, or nothing: the one
 * validation of the timing. A heartbeat interval shorter than a tick cannot be
 * counted; otherwise the core's own rule (`timingProblem`: an election timeout
 * of at least two heartbeat intervals) must hold on the ticks the
 * milliseconds round to, since those are what runs.
 */
export function timingSettingsProblems(s: TimingSettings): { path: 'heartbeat_interval_ms' | 'election_timeout_ms'; message: string }[] {
  if (s.heartbeat_interval_ms < s.tick_ms) return [{ path: 'heartbeat_interval_ms', message: `must be at least tick_ms (${s.tick_ms})` }];
  if (timingProblem(timingTicks(s)) === null) return [];
  return [
    {
      path: 'election_timeout_ms',
      message: `must be at least twice heartbeat_interval_ms (${s.heartbeat_interval_ms}) in whole ticks of ${s.tick_ms} ms, or followers time out between heartbeats`,
    },
  ];
}
