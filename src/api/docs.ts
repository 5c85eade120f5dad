/** Placeholder replaced below. */
export function docsPage(): string {
  return '<!doctype html><title>edgepaxos API</title>';
}
