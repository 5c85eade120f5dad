/**
 * The cluster the workerd tests run against: one stream per test file so that
 * background timers of one never disturb another, with fast timings (a tick of
 * 10 ms, heartbeats every 40 ms, elections after 200-400 ms of silence).
 */
// Quiescence is off (0) except on the 'quiet' stream: the other tests poll the status for elections,
// and an idle stream only elects when a request arrives.
const FAST = { tick_ms: 10, heartbeat_interval_ms: 40, election_timeout_ms: 200, quiesce_after_ms: 0 };

function stream(name: string) {
  return {
    name,
    ...FAST,
    replicas: [
      { id: 1, region: 'wnam', priority: 3 },
      { id: 2, region: 'weur', priority: 2 },
      { id: 3, region: 'apac', priority: 1 },
    ],
  };
}

export const TEST_STREAMS = ['default', 'api', 'replication', 'failover', 'restart', 'storage', 'unreliable', 'linearizable', 'priority', 'operations', 'membership', 'workmode'] as const;

export const TEST_CONFIG = {
  // The stream catalog (streams created at run time). Quiet after 500 ms: most test files only
  // touch it when they ask for an unknown stream, and it should not heartbeat under them.
  catalog: {
    ...FAST,
    quiesce_after_ms: 500,
    replicas: [
      { id: 1, region: 'wnam', priority: 3 },
      { id: 2, region: 'weur', priority: 2 },
      { id: 3, region: 'apac', priority: 1 },
    ],
  },
  streams: [
    ...TEST_STREAMS.map(stream),
    {
      // Every role: a follower that leads, a stand-in, a logger (votes, no data) and a passive read replica.
      name: 'roles',
      ...FAST,
      replicas: [
        { id: 1, region: 'wnam', priority: 3, group: 1 },
        { id: 2, region: 'weur', priority: 2, group: 2, weight: 2 },
        { id: 3, region: 'apac', role: 'logger', group: 3 },
        { id: 4, region: 'eeur', role: 'passive', group: 2 },
      ],
    },
    {
      // Goes quiet after 300 ms without requests.
      ...stream('quiet'),
      quiesce_after_ms: 300,
    },
    {
      // Snapshots every 20 applied slots, keeping 5 entries behind them.
      ...stream('truncation'),
      log: { snapshot_every_slots: 20, retain_slots: 5 },
    },
    {
      // A decision needs an acceptor in weur (replica 2 only).
      name: 'policy',
      ...FAST,
      policy: { require_regions: ['weur'] },
      replicas: [
        { id: 1, region: 'wnam', priority: 3 },
        { id: 2, region: 'weur', priority: 2 },
        { id: 3, region: 'apac', priority: 1 },
      ],
    },
  ],
};

export const TEST_ADMIN_TOKEN = 'test-admin-token';
export const TEST_MAX_VALUE_BYTES = 4096;
