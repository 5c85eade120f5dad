import { exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { api, stableLeader } from './helpers.ts';
import { TEST_TOKENS } from './test-config.ts';

// The dashboard's page and its live feed (GET /v1/status/events). The page itself is checked in a
// real browser by `npm run test:browser`; here, what the Worker serves and what the feed carries.

const S = 'dash';
const dashboard = { authorization: `Bearer ${TEST_TOKENS.dashboard}` };

/** Reads server-sent events from a response, one `{event, data}` at a time. */
function events(res: Response) {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  return {
    async next(): Promise<{ event: string; data: string }> {
      for (;;) {
        const at = buffer.indexOf('\n\n');
        if (at >= 0) {
          const block = buffer.slice(0, at);
          buffer = buffer.slice(at + 2);
          if (block.startsWith(':')) continue; // a keep-alive comment
          const event = /^event: ?(.*)$/m.exec(block)?.[1] ?? 'message';
          const data = [...block.matchAll(/^data: ?(.*)$/gm)].map((m) => m[1]).join('\n');
          return { event, data };
        }
        const chunk = await reader.read();
        if (chunk.done) throw new Error('the feed ended');
        buffer += chunk.value;
      }
    },
    cancel: () => reader.cancel(),
  };
}

describe('dashboard: the page and its live feed', () => {
  it('dashboard: /dashboard is one page whose script and style come from the Worker, under a CSP that allows nothing else', async () => {
    const page = await exports.default.fetch('https://edgepaxos.test/dashboard');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = page.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    const html = await page.text();
    expect(html).toContain('<script src="/dashboard/app.js" defer></script>');
    expect(html).not.toMatch(/https?:\/\//); // nothing from anywhere (the SVG namespace lives in the script)
    expect(html).toMatch(/<path class="land" d="M[0-9.,ML]+Z/); // the world map, drawn by the Worker
    for (const r of ['wnam', 'weur', 'apac', 'oc']) expect(html).toContain(`data-region="${r}"`);
    const script = await exports.default.fetch('https://edgepaxos.test/dashboard/app.js');
    expect(script.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(await script.text()).toContain("fetch('/v1/status/events'");
    const style = await exports.default.fetch('https://edgepaxos.test/dashboard/app.css');
    expect(style.headers.get('content-type')).toMatch(/^text\/css/);
  });

  it('dashboard: the feed is refused without a token and carries only the streams the token may read', async () => {
    const anonymous = await api('GET', '/v1/status/events', undefined, { authorization: '' });
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error.code).toBe('unauthorized');

    const res = await exports.default.fetch('https://edgepaxos.test/v1/status/events', { headers: dashboard });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const feed = events(res);
    const first = await feed.next();
    await feed.cancel();
    expect(first.event).toBe('status');
    const body = JSON.parse(first.data);
    expect(body.streams.map((s: any) => s.name)).toEqual([S]);
    expect(body.streams[0]).toMatchObject({ kind: 'configured', state: 'active', status: { stream: S, nodes: [{ node_id: 1 }, { node_id: 2 }, { node_id: 3 }] } });
  });

  it('dashboard: a switchover made through the API reaches an open feed as a new leader', async () => {
    const before = await stableLeader(S);
    const target = before === 3 ? 2 : 3;
    const feed = events(await exports.default.fetch('https://edgepaxos.test/v1/status/events', { headers: dashboard }));
    try {
      expect(JSON.parse((await feed.next()).data).streams[0].status.leader_id).toBe(before);
      const moved = await api('POST', `/v1/streams/${S}/switchover`, { target }, dashboard);
      expect(moved.status, JSON.stringify(moved.body)).toBe(200);
      // Events come only when something changed; the new leader is in one of the next few.
      let leader: number | null = before;
      for (let i = 0; i < 20 && leader !== target; i++) leader = JSON.parse((await feed.next()).data).streams[0].status.leader_id;
      expect(leader).toBe(target);
    } finally {
      await feed.cancel();
    }
    expect((await api('POST', `/v1/streams/${S}/switchover`, { target: 1 }, dashboard)).status).toBe(200);
  });
});
