// Project-specific Workers types (what `wrangler types` would generate, kept by hand).
declare namespace Cloudflare {
  interface GlobalProps {
    mainModule: typeof import('./index.ts');
    durableNamespaces: 'ReplicaObject';
  }
  interface Env {
    /** One Durable Object per replica of a stream. */
    REPLICA: DurableObjectNamespace<import('./host/replica-object.ts').ReplicaObject>;
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
    /** Largest value or log record in bytes (default 1 MiB). */
    EDGEPAXOS_MAX_VALUE_BYTES?: string;
  }
}
