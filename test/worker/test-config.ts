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

export const TEST_STREAMS = ['default', 'api', 'replication', 'failover', 'restart', 'storage', 'unreliable', 'linearizable', 'priority', 'operations', 'membership', 'workmode', 'coord-chaos', 'admin'] as const;

/**
 * Streams whose tests never wait for an election by polling (their first request elects): they go
 * quiet 300 ms after their last request, so that the stream list of streams.test.ts, which wakes
 * every configured stream, does not leave them heartbeating under the rest of that file.
 */
export const QUIET_TEST_STREAMS = ['auth', 'rpc', 'input', 'coord', 'cli', 'dash', 'metrics', 'backup'] as const;

/**
 * The configured keyspace: 'users' (4 shards, leaders spread over the three regions), quiet after
 * 300 ms. The chaos test creates its own keyspace at run time (the catalog is part of its chaos).
 */
export const TEST_KEYSPACES = [
  {
    name: 'users',
    shards: 4,
    leaders: 'spread',
    ...FAST,
    quiesce_after_ms: 300,
    replicas: [{ region: 'wnam' }, { region: 'weur' }, { region: 'apac' }],
  },
];

export const TEST_CONFIG = {
  keyspaces: TEST_KEYSPACES,
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
    ...QUIET_TEST_STREAMS.map((name) => ({ ...stream(name), quiesce_after_ms: 300 })),
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
      // Thrifty replication: each accept batch goes to the leader's nearest follower only (thrifty.test.ts).
      // Heartbeats every 150 ms: a write (a few ms, tens on a busy machine) is well under one, so the
      // trailing follower's RPCs (a heartbeat each) stay clearly fewer than the nearest one's (a batch each).
      ...stream('thrifty'),
      heartbeat_interval_ms: 150,
      election_timeout_ms: 750,
      replication: 'thrifty',
    },
    {
      // Goes quiet after 300 ms without requests.
      ...stream('quiet'),
      quiesce_after_ms: 300,
    },
    {
      // Snapshots every 20 applied slots, keeping 5 entries behind them.
      ...stream('truncation'),
      // Strictly every 20 slots: the truncation tests count stored entries against that interval.
      log: { snapshot_every_slots: 20, retain_slots: 5, scale_with_state: false },
    },
    {
      // Back-pressure: the leader holds at most one request waiting; elections are slow, so a cut-off
      // leader keeps leading (with its one write waiting) long enough to refuse the next.
      ...stream('limits'),
      heartbeat_interval_ms: 200,
      election_timeout_ms: 3000,
      queue_max: 1,
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

/**
 * The workers tests run with tokens configured, so every request is checked:
 * the tests' default token writes every stream; the others are for the
 * authorisation tests (stream 'auth').
 */
export const TEST_TOKENS = {
  writer: 'test-writer-token',
  reader: 'test-reader-token',
  teamA: 'test-team-a-token',
  streamAdmin: 'test-stream-admin-token',
  /** An admin of stream 'dash' alone: the dashboard's feed then carries that one stream. */
  dashboard: 'test-dashboard-token',
} as const;

/** SHA-256 of TEST_TOKENS.teamA (checked in auth.test.ts): a grant may name its token by digest instead. */
export const TEAM_A_DIGEST = 'sha256:b3c109d8db2a79715d567524490a831fc2647f18b6a5680c581ccb774beef6c7';

export const TEST_GRANTS = [
  { token: TEST_TOKENS.writer, streams: '*', access: 'write' },
  { token: TEST_TOKENS.reader, streams: ['auth', 'api'], access: 'read' },
  { token: TEAM_A_DIGEST, streams: ['auth'], prefix: 'team-a/', access: 'write' },
  { token: TEST_TOKENS.streamAdmin, streams: ['auth'], access: 'admin' },
  { token: TEST_TOKENS.dashboard, streams: ['dash'], access: 'admin' },
];
export const TEST_MAX_VALUE_BYTES = 4096;
