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
    /** Secret: the bearer token of the admin endpoints. */
    EDGEPAXOS_ADMIN_TOKEN?: string;
    /** "on" enables the fault-injection endpoint. */
    EDGEPAXOS_CHAOS?: string;
    /** "on" delays messages between replicas by their regions' distance (local runs only). */
    EDGEPAXOS_LATENCY?: string;
    /** Largest value or log record in bytes (default 1 MiB). */
    EDGEPAXOS_MAX_VALUE_BYTES?: string;
  }
}
