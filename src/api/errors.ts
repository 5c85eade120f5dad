import type { ContentfulStatusCode } from 'hono/utils/http-status';

/**
 * An error meant for the HTTP client. Every one becomes
 * `{"error":{"code","message", ...details}}` with its status, in one place
 * (the app's onError).
 */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly status: ContentfulStatusCode;
  readonly code: string;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(status: ContentfulStatusCode, code: string, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }

  body(): { error: Record<string, unknown> } {
    return { error: { code: this.code, message: this.message, ...this.details } };
  }
}
