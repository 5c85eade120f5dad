/**
 * `GET /docs`: the API reference as one HTML page rendered by the Worker from
 * its own OpenAPI document, so it works offline, loads nothing from anywhere
 * (its Content-Security-Policy forbids it) and cannot drift from the routes.
 * Semantics, limits and error codes in prose are in docs/api.md.
 */

type Json = Record<string, any>;

const METHOD_ORDER = ['get', 'put', 'post', 'patch', 'delete'];

/** The page's Content-Security-Policy: inline styles only; no script, image, font or connection anywhere. */
export const DOCS_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export function renderDocs(doc: Json): string {
  const operations: { tag: string; method: string; path: string; op: Json }[] = [];
  for (const [path, item] of Object.entries(doc.paths as Json)) {
    for (const method of METHOD_ORDER) {
      const op = (item as Json)[method];
      if (op) operations.push({ tag: op.tags?.[0] ?? 'other', method, path, op });
    }
  }
  const tags = [...new Set(operations.map((o) => o.tag))];
  const nav = tags
    .map(
      (tag) =>
        `<h3>${esc(tag)}</h3><ul>${operations
          .filter((o) => o.tag === tag)
          .map((o) => `<li><a href="#${anchor(o.method, o.path)}"><span class="m ${o.method}">${o.method.toUpperCase()}</span> ${esc(o.path)}</a></li>`)
          .join('')}</ul>`,
    )
    .join('');
  const sections = tags
    .map((tag) => `<section><h2>${esc(tag)}</h2>${operations.filter((o) => o.tag === tag).map((o) => operation(doc, o.method, o.path, o.op)).join('')}</section>`)
    .join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(doc.info.title)} API reference</title>
<style>${STYLE}</style>
</head>
<body>
<nav><h1>${esc(doc.info.title)}</h1><p class="muted">API ${esc(doc.info.version)} · <a href="/openapi.json">openapi.json</a></p>${nav}</nav>
<main>
<header><h1>${esc(doc.info.title)} API reference</h1><p>${prose(doc.info.description ?? '')}</p>
<p>Every error is <code>{"error":{"code","message",...}}</code>. Authenticate with <code>Authorization: Bearer &lt;token&gt;</code> unless the data plane is public.
Generated from <a href="/openapi.json">/openapi.json</a>, the document made from the schemas that validate every request.</p></header>
${sections}
</main>
</body>
</html>`;
}

function operation(doc: Json, method: string, path: string, op: Json): string {
  const params = (op.parameters ?? []) as Json[];
  const paramRows = params
    .map(
      (p) =>
        `<tr><td><code>${esc(p.name)}</code>${p.required ? ' <span class="req">required</span>' : ''}</td><td>${esc(p.in)}</td><td>${typeOf(doc, p.schema)}</td><td>${prose(p.description ?? p.schema?.description ?? '')}</td></tr>`,
    )
    .join('');
  const body = op.requestBody?.content?.['application/json']?.schema;
  const responses = Object.entries((op.responses ?? {}) as Json)
    .map(([status, r]) => {
      const schema = (r as Json).content?.['application/json']?.schema;
      const isError = Number(status) >= 400;
      return `<tr><td><span class="s s${status[0]}">${esc(status)}</span></td><td>${isError ? codes((r as Json).description) : prose((r as Json).description ?? '')}</td><td>${schema && !isError ? typeOf(doc, schema) : ''}</td></tr>`;
    })
    .join('');
  return `<article id="${anchor(method, path)}">
<h3><span class="m ${method}">${method.toUpperCase()}</span> <code>${esc(path)}</code></h3>
<p>${prose(op.summary ?? '')}</p>
${params.length > 0 ? `<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>type</th><th>description</th></tr>${paramRows}</table>` : ''}
${body ? `<h4>Body</h4>${op.requestBody.description ? `<p>${prose(op.requestBody.description)}</p>` : ''}${schemaTable(doc, body, 0)}` : ''}
<h4>Answers</h4><table><tr><th>status</th><th>meaning</th><th>body</th></tr>${responses}</table>
</article>`;
}

/** Error answers list their codes as `a`, `b`: shown as code chips. */
function codes(description: string | undefined): string {
  return (description ?? '')
    .split(', ')
    .map((c) => `<code class="code">${esc(c.replace(/`/g, ''))}</code>`)
    .join(' ');
}

function resolve(doc: Json, schema: Json | undefined): Json {
  if (schema?.$ref) return doc.components?.schemas?.[String(schema.$ref).split('/').pop()!] ?? {};
  return schema ?? {};
}

function typeOf(doc: Json, schema: Json | undefined): string {
  if (!schema) return '';
  if (schema.$ref) return `<span class="t">${esc(String(schema.$ref).split('/').pop())}</span>`;
  if (schema.enum) return schema.enum.map((v: unknown) => `<code>${esc(JSON.stringify(v))}</code>`).join(' | ');
  if (schema.const !== undefined) return `<code>${esc(JSON.stringify(schema.const))}</code>`;
  if (schema.anyOf || schema.oneOf) return (schema.anyOf ?? schema.oneOf).map((s: Json) => typeOf(doc, s)).join(' | ');
  const type = Array.isArray(schema.type) ? schema.type.join(' | ') : (schema.type ?? 'any');
  if (type === 'array') return `array of ${typeOf(doc, schema.items)}`;
  const limits = [
    schema.pattern ? `pattern ${schema.pattern}` : '',
    schema.minimum !== undefined ? `≥ ${schema.minimum}` : '',
    schema.maximum !== undefined ? `≤ ${schema.maximum}` : '',
    schema.maxLength !== undefined ? `≤ ${schema.maxLength} chars` : '',
    schema.default !== undefined ? `default ${JSON.stringify(schema.default)}` : '',
  ].filter(Boolean);
  return `<span class="t">${esc(type)}</span>${limits.length > 0 ? ` <span class="muted">(${esc(limits.join(', '))})</span>` : ''}`;
}

/** An object schema as a table of its fields (nested objects indented, a few levels deep); a union as its variants. */
function schemaTable(doc: Json, raw: Json, depth: number): string {
  const schema = resolve(doc, raw);
  const variants = schema.oneOf ?? schema.anyOf;
  if (variants) return variants.map((v: Json, i: number) => `<p class="muted">variant ${i + 1}</p>${schemaTable(doc, v, depth)}`).join('');
  if (!schema.properties) return `<p>${typeOf(doc, raw)}</p>`;
  const required = new Set<string>(schema.required ?? []);
  const rows = Object.entries(schema.properties as Json)
    .map(([name, field]) => {
      const f = resolve(doc, field as Json);
      const nested = depth < 2 && f.properties ? schemaTable(doc, f, depth + 1) : '';
      return `<tr><td><code>${esc(name)}</code>${required.has(name) ? ' <span class="req">required</span>' : ''}</td><td>${typeOf(doc, field as Json)}${nested}</td><td>${prose(f.description ?? '')}</td></tr>`;
    })
    .join('');
  const extra = schema.additionalProperties === false ? '<p class="muted">No other fields are accepted.</p>' : '';
  return `<table><tr><th>field</th><th>type</th><th>description</th></tr>${rows}</table>${extra}`;
}

function anchor(method: string, path: string): string {
  return `${method}-${path.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '')}`;
}

/** Prose from the schemas: escaped, with `code` spans shown as code. */
function prose(s: unknown): string {
  return esc(s).replace(/`([^`]+)`/g, '<code>$1</code>');
}

function esc(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const STYLE = `
*{box-sizing:border-box}body{margin:0;font:15px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#1d2330;display:flex}
nav{position:sticky;top:0;height:100vh;overflow:auto;width:340px;flex:none;background:#f4f6fa;border-right:1px solid #dde2ea;padding:16px;font-size:13px}
nav h1{font-size:20px;margin:0}nav h3{margin:16px 0 4px;text-transform:capitalize;font-size:13px;color:#56607a}
nav ul{list-style:none;margin:0;padding:0}nav li{margin:2px 0}nav a{color:#1d2330;text-decoration:none;word-break:break-all}nav a:hover{text-decoration:underline}
main{flex:1;min-width:0;padding:16px 32px 64px;max-width:1100px}
header h1{margin-top:0}section h2{text-transform:capitalize;border-bottom:2px solid #dde2ea;padding-bottom:4px;margin-top:40px}
article{border:1px solid #dde2ea;border-radius:8px;padding:8px 16px;margin:16px 0;background:#fff}
article h3{margin:8px 0;font-size:16px;word-break:break-all}h4{margin:12px 0 4px;font-size:13px;color:#56607a;text-transform:uppercase}
table{border-collapse:collapse;width:100%;font-size:13px;margin:4px 0}th,td{border-top:1px solid #e8ebf1;padding:4px 8px;text-align:left;vertical-align:top}th{color:#56607a;font-weight:600}
td table{margin:4px 0 0}code{font:12.5px ui-monospace,SFMono-Regular,Menlo,monospace;background:#f1f3f7;padding:1px 4px;border-radius:4px}
.m{display:inline-block;min-width:56px;text-align:center;font:700 11px ui-monospace,monospace;color:#fff;border-radius:4px;padding:2px 4px}
.get{background:#2f7d32}.put{background:#b26a00}.post{background:#1f5fbf}.patch{background:#6a4bb5}.delete{background:#b3261e}
.s{font:700 12px ui-monospace,monospace;padding:1px 6px;border-radius:4px;background:#e8ebf1}.s2{background:#d7efd9}.s4{background:#fde2c8}.s5{background:#f8d3d0}
.req{color:#b3261e;font-size:11px}.t{color:#1f5fbf}.muted{color:#6b7489}.code{background:#fdf0e3}
`;
