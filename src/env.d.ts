// Project-specific Workers types (what `wrangler types` would generate, kept by hand).
declare namespace Cloudflare {
  interface GlobalProps {
    mainModule: typeof import('./index.ts');
    durableNamespaces: 'ReplicaObject' | 'RequestMetrics';
  }
  interface Env {
    /** One Durable Object per replica of a stream. */
    REPLICA: DurableObjectNamespace<import('./host/replica-object.ts').ReplicaObject>;
    /** One Durable Object adding up the request counts of every Worker isolate (GET /metrics). */
    REQUEST_METRICS: DurableObjectNamespace<import('./api/metrics/requests.ts').RequestMetrics>;
    /** The cluster configuration: a wrangler.toml table, or a JSON string. */
    EDGEPAXOS_CONFIG: unknown;
    /** Secret: the bearer token of the admin endpoints (an admin grant on every stream). */
    EDGEPAXOS_ADMIN_TOKEN?: string;
    /** Secret: a JSON array of grants `{"token","streams","prefix"?,"access"}`; when set, every data request needs a token (docs/security.md). */
    EDGEPAXOS_TOKENS?: string;
    /** "on" serves the data plane to anyone when EDGEPAXOS_TOKENS is not set (.dev.vars sets it for `npm run dev`); otherwise it is closed. */
    EDGEPAXOS_PUBLIC_DATA?: string;
    /** "on" enables the fault-injection endpoint. */
    EDGEPAXOS_CHAOS?: string;
    /** "on" delays messages between replicas by their regions' distance (local runs only). */
    EDGEPAXOS_LATENCY?: string;
    /** The workers tests only: the example consumer Worker (examples/consumer), bound to this Worker's EdgePaxos entrypoint. */
    CONSUMER?: Fetcher;
    /** The workers tests only: a service binding to this Worker's own EdgePaxosAdmin entrypoint (admin-rpc.test.ts). */
    PAXOS_ADMIN?: Service<import('./api/admin-rpc.ts').EdgePaxosAdmin>;
    /** The workers tests only: a service binding to this Worker's own EdgePaxos entrypoint (admin-rpc.test.ts). */
    PAXOS?: Service<import('./api/rpc.ts').EdgePaxos>;
    /** Optional: an R2 bucket for scheduled backups (a cron trigger; docs/operations.md). */
    BACKUPS?: R2Bucket;
    /** Scheduled backups of these streams only (comma-separated names; default: every stream). */
    EDGEPAXOS_BACKUP_STREAMS?: string;
    /** Scheduled backups kept per stream (default 7). */
    EDGEPAXOS_BACKUP_KEEP?: string;
    /** Largest value or log record in bytes (default 1 MiB). */
    EDGEPAXOS_MAX_VALUE_BYTES?: string;
  }
}
