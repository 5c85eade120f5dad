import type { EdgePaxosClient } from '../client/index.ts';

/**
 * What a command of the `edgepaxos` CLI is: its words (`members add`), its
 * arguments and options, and what it does. Each command lives in its own
 * file under src/cli/commands/ and is listed once in commands/index.ts, so a
 * new command (txn, watch, lease, lock) is one small file and one line.
 *
 * A command returns its answer as data (printed as JSON with `--json`) and a
 * way to show it to a person (`text`). It throws UsageError for bad
 * arguments and lets the client's EdgePaxosError through: the runner turns
 * both into a message on stderr and a non-zero exit status.
 */
export interface Command {
  /** The words that name it: `list`, `members add`. */
  readonly name: string;
  /** The positional arguments, as the help shows them: `STREAM KEY`. */
  readonly args: string;
  readonly summary: string;
  /** Its options (long names, `--name`), each with a description and whether it takes a value. */
  readonly options?: Readonly<Record<string, OptionSpec>>;
  /** Longer help: examples, what the output means. */
  readonly details?: string;
  run(ctx: Context): Promise<Output>;
}

export interface OptionSpec {
  readonly description: string;
  /** `string`, `int` (a plain decimal integer), `boolean` (no value), or `list` (repeatable string). */
  readonly type: 'string' | 'int' | 'boolean' | 'list';
  /** A one-letter alias, `-s`. */
  readonly short?: string;
}

/** What the runner gives a command. */
export interface Context {
  readonly client: EdgePaxosClient;
  /** The positional arguments after the command's words. */
  readonly args: readonly string[];
  /** The options given, by long name without dashes (`if-revision`). */
  readonly options: Readonly<Record<string, string | number | boolean | readonly string[] | undefined>>;
  /** Everything after a lone `--` (a command to run, for `lock`). */
  readonly rest: readonly string[];
  readonly io: CliIo;
  /** `--json` was given: a command that prints as it goes (watch) prints JSON lines. */
  readonly json: boolean;
}

/**
 * A command's answer: the data (`--json` prints it; undefined: nothing more
 * to print, the command printed as it went) and how a person reads it.
 */
export interface Output {
  readonly data: unknown;
  readonly text: string;
  /** The exit status when it is not 0 (`lock` passes on its command's). */
  readonly exitCode?: number;
}

/** The world the CLI runs in, injected so that tests can run it inside the Workers runtime. */
export interface CliIo {
  /** How requests are sent (default: the global fetch). */
  readonly fetch?: (input: string, init: RequestInit) => Promise<Response>;
  /** EDGEPAXOS_URL, EDGEPAXOS_TOKEN. */
  readonly env: Readonly<Record<string, string | undefined>>;
  stdout(text: string): void;
  stderr(text: string): void;
  readFile(path: string): Promise<string>;
  writeFile(path: string, data: string): Promise<void>;
  /** Aborted when the user interrupts (Ctrl-C): `watch`, `lock` and `elect` then stop, releasing what they hold. */
  readonly signal?: AbortSignal;
  /** Run a program (`lock NAME -- COMMAND`) with extra environment variables; its exit status. */
  exec?(argv: readonly string[], env: Readonly<Record<string, string>>): Promise<number>;
}

/** Bad arguments: the message says what is wrong; the exit status is 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The positional argument `index` (named `name` in the message), or a usage error. */
export function arg(ctx: Context, index: number, name: string): string {
  const value = ctx.args[index];
  if (value === undefined) throw new UsageError(`missing ${name}`);
  return value;
}

/** A positional argument that must be a replica id. */
export function replicaArg(ctx: Context, index: number, name: string): number {
  return replicaId(arg(ctx, index, name), name);
}

export function replicaId(text: string, name: string): number {
  if (!/^[1-9][0-9]{0,6}$/.test(text)) throw new UsageError(`${name} must be a replica id (a positive integer), not '${text}'`);
  return Number(text);
}

/** Refuse positional arguments beyond what the command takes. */
export function noMoreArgs(ctx: Context, count: number): void {
  if (ctx.args.length > count) throw new UsageError(`unexpected argument '${ctx.args[count]}'`);
}

export function stringOption(ctx: Context, name: string): string | undefined {
  return ctx.options[name] as string | undefined;
}

export function intOption(ctx: Context, name: string): number | undefined {
  return ctx.options[name] as number | undefined;
}

export function flag(ctx: Context, name: string): boolean {
  return ctx.options[name] === true;
}

export function listOption(ctx: Context, name: string): readonly string[] {
  return (ctx.options[name] as readonly string[] | undefined) ?? [];
}

/**
 * A table for people: a header row and aligned columns, like `patronictl
 * list`. Cells are strings; null and undefined show as `-`.
 */
export function table(header: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const cells = [header.map(String), ...rows.map((r) => r.map(cell))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  return String(v);
}

/** A value cut for a table cell: one line, at most `max` characters. */
export function short(value: string, max = 60): string {
  const line = value.replace(/\s+/g, ' ');
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}
