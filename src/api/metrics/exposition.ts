/**
 * The Prometheus text exposition format (version 0.0.4): metric families,
 * each with its HELP and TYPE lines and its samples, label values escaped.
 */

export type Labels = Readonly<Record<string, string | number>>;

export interface Family {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly samples: { readonly suffix?: string; readonly labels: Labels; readonly value: number }[];
}

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** A family to fill with samples. */
export function family(name: string, type: Family['type'], help: string): Family {
  return { name, type, help, samples: [] };
}

export function sample(f: Family, labels: Labels, value: number, suffix = ''): void {
  f.samples.push({ suffix, labels, value });
}

/** The families as text; families without samples are left out. */
export function render(families: readonly Family[]): string {
  const out: string[] = [];
  for (const f of families) {
    if (f.samples.length === 0) continue;
    out.push(`# HELP ${f.name} ${f.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) out.push(`${f.name}${s.suffix ?? ''}${labels(s.labels)} ${number(s.value)}`);
  }
  return `${out.join('\n')}\n`;
}

function labels(l: Labels): string {
  const entries = Object.entries(l);
  if (entries.length === 0) return '';
  return `{${entries.map(([k, v]) => `${k}="${String(v).replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`).join(',')}}`;
}

function number(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}
