/**
 * The one error of edgepaxos's clients: the HTTP client throws it for every
 * `{"error":{...}}` answer, and the RPC entrypoint throws it to the calling
 * Worker. `code` is the API's error code (`revision_mismatch`,
 * `overloaded`, ...); the message starts with it, so it reads well in logs.
 */
export class EdgePaxosError extends Error {
  override readonly name = 'EdgePaxosError';
  readonly code: string;
  /** The HTTP status the API answers with for this error. */
  readonly status: number;
  /** Extra fields of the error (`current_revision`, `first_index`, `idempotency_key`, ...). */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: string, message: string, status: number, details: Record<string, unknown> = {}) {
    super(`${code}: ${message}`);
    this.code = code;
    this.status = status;
    this.details = details;
  }
}

/** True for an EdgePaxosError, including one that crossed an RPC boundary (where the class is not kept, only its fields). */
export function isEdgePaxosError(e: unknown): e is EdgePaxosError {
  return e instanceof Error && e.name === 'EdgePaxosError' && typeof (e as { code?: unknown }).code === 'string';
}
