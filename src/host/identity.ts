import type { ReplicaId } from '../core/index.ts';
import type { StreamConfig } from './config.ts';

/**
 * Which replica of which stream a Durable Object is. Every call names it; the
 * first one is stored. A stream created at run time also names its
 * `generation` (part of the object's name, so a deleted and recreated stream
 * gets fresh objects; the API calls it the stream's `incarnation`) and carries
 * its `definition`: the replica has no other way to learn its configuration,
 * and stores it on its first call.
 */
export interface ReplicaIdentity {
  readonly stream: string;
  readonly replicaId: ReplicaId;
  readonly generation?: string;
  readonly definition?: StreamConfig;
  /**
   * The Worker request this call serves (its X-Request-Id), so that what the
   * replica logs while serving it names the request. Never stored.
   */
  readonly requestId?: string;
}

/** The Durable Object name of a replica: `stream/id`, or `stream~generation/id` for a stream created at run time. */
export function replicaObjectName(stream: string, replicaId: ReplicaId, generation?: string): string {
  return generation === undefined ? `${stream}/${replicaId}` : `${stream}~${generation}/${replicaId}`;
}

/**
 * The identity a replica stored on its first call. Replicas created before
 * the stream's generation had that name stored it as `incarnation`: read as
 * the generation it is.
 */
export function parseStoredIdentity(raw: string): ReplicaIdentity {
  const o = JSON.parse(raw) as { stream: string; replicaId: ReplicaId; generation?: string; incarnation?: string };
  const generation = o.generation ?? o.incarnation;
  return generation === undefined ? { stream: o.stream, replicaId: o.replicaId } : { stream: o.stream, replicaId: o.replicaId, generation };
}
