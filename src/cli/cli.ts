import arg from 'arg';
import { EdgePaxosClient, isEdgePaxosError } from '../client/index.ts';
import { type CliIo, type Command, type Context, type OptionSpec, UsageError } from './command.ts';
import { COMMANDS } from './commands/index.ts';

/** Where the CLI looks when neither `--url` nor EDGEPAXOS_URL says: `npm run dev`'s Worker. */
export const DEFAULT_URL = 'http://localhost:8787';

/** Exit statuses: 0 done, 1 the API (or the network) answered with an error, 2 bad usage. */
export const EXIT = { ok: 0, error: 1, usage: 2 } as const;

const GLOBAL_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  url: { type: 'string', description: `The Worker's URL (env EDGEPAXOS_URL; default ${DEFAULT_URL})` },
  token: { type: 'string', description: 'A bearer token of EDGEPAXOS_TOKENS or the admin token (env EDGEPAXOS_TOKEN)' },
  json: { type: 'boolean', description: 'Print the answer (or the error, on stderr) as JSON, for scripts' },
  help: { type: 'boolean', short: 'h', description: 'Show help (for a command: edgepaxos COMMAND --help)' },
};

/**
 * Run `edgepaxos` with `argv` (the arguments after the program's name) and
 * answer its exit status. Everything it touches comes through `io`, so the
 * same code runs from a terminal (bin/edgepaxos.ts) and inside the Workers
 * test runtime against the real Worker.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  // Everything after a lone `--` belongs to the command (the program `lock` runs), untouched.
  const split = argv.indexOf('--');
  const head = split === -1 ? [...argv] : argv.slice(0, split);
  const rest = split === -1 ? [] : argv.slice(split + 1);
  let json = head.includes('--json');
  try {
    const globals = parse(GLOBAL_OPTIONS, head, true);
    json = globals.json === true;
    const words = globals._;
    const found = findCommand(words);
    if (globals.help === true || words.length === 0 || words[0] === 'help') {
      const about = words[0] === 'help' ? findCommand(words.slice(1)) : found;
      io.stdout(`${about ? commandHelp(about.command) : generalHelp()}\n`);
      return words.length === 0 && globals.help !== true ? EXIT.usage : EXIT.ok;
    }
    if (!found) throw new UsageError(`unknown command '${words.join(' ')}'`);
    const { command, consumed } = found;
    const parsed = parse(command.options ?? {}, words.slice(consumed), false);
    const { _: args, ...options } = parsed;
    const url = (globals.url as string | undefined) ?? io.env.EDGEPAXOS_URL ?? DEFAULT_URL;
    if (!URL.canParse(url)) throw new UsageError(`--url: '${url}' is not a URL`);
    const token = (globals.token as string | undefined) ?? io.env.EDGEPAXOS_TOKEN;
    const client = new EdgePaxosClient({ url, ...(token ? { token } : {}), ...(io.fetch ? { fetch: io.fetch } : {}) });
    const ctx: Context = { client, args, options, rest, io, json };
    const out = await command.run(ctx);
    if (json) {
      if (out.data !== undefined) io.stdout(`${JSON.stringify(out.data, null, 2)}\n`);
    } else if (out.text !== '') io.stdout(`${out.text}\n`);
    return out.exitCode ?? EXIT.ok;
  } catch (e) {
    return report(e, json, io);
  }
}

/** An error as the user sees it: `edgepaxos: code: message` (or its JSON on stderr), and the exit status. */
function report(e: unknown, json: boolean, io: CliIo): number {
  let code: string;
  let message: string;
  let extra: Record<string, unknown> = {};
  let status: number = EXIT.error;
  if (e instanceof UsageError || e instanceof arg.ArgError) {
    code = 'usage';
    message = e.message;
    status = EXIT.usage;
  } else if (isEdgePaxosError(e)) {
    code = e.code;
    message = e.message.startsWith(`${e.code}: `) ? e.message.slice(e.code.length + 2) : e.message;
    extra = { status: e.status, ...e.details };
  } else if (e instanceof TypeError && /fetch|connect|network/i.test(`${e.message} ${String((e as { cause?: unknown }).cause ?? '')}`)) {
    // What fetch throws when nothing answers: the usual first mistake is a wrong --url or no running Worker.
    code = 'unreachable';
    message = `no answer from the Worker (${String((e as { cause?: unknown }).cause ?? e.message)}); check --url or EDGEPAXOS_URL`;
  } else {
    code = 'internal';
    message = e instanceof Error ? e.message : String(e);
  }
  if (json) io.stderr(`${JSON.stringify({ error: { code, message, ...extra } })}\n`);
  else io.stderr(`edgepaxos: ${code}: ${message}${status === EXIT.usage ? "\nRun 'edgepaxos help' for the commands, 'edgepaxos COMMAND --help' for one." : ''}\n`);
  return status;
}

type Parsed = { _: string[] } & Record<string, string | number | boolean | string[] | undefined>;

/** Parse options with `arg` (strictly, unless `permissive`: then unknown ones stay in `_` for the command). */
function parse(options: Readonly<Record<string, OptionSpec>>, argv: string[], permissive: boolean): Parsed {
  const spec: arg.Spec = {};
  for (const [name, o] of Object.entries(options)) {
    const key = `--${name}`;
    spec[key] = o.type === 'string' ? String : o.type === 'int' ? integer(key) : o.type === 'boolean' ? Boolean : [String];
    if (o.short) spec[`-${o.short}`] = key;
  }
  const result = arg(spec, { argv, permissive }) as Record<string, unknown> & { _: string[] };
  const out: Parsed = { _: result._ };
  for (const [key, value] of Object.entries(result)) if (key !== '_') out[key.slice(2)] = value as Parsed[string];
  return out;
}

function integer(name: string): arg.Handler<number> {
  return (value) => {
    if (!/^-?[0-9]{1,15}$/.test(value)) throw new UsageError(`${name} takes an integer, not '${value}'`);
    return Number(value);
  };
}

/** The command named by the first words (the longest name that matches), and how many words it took. */
function findCommand(words: readonly string[]): { command: Command; consumed: number } | null {
  let best: { command: Command; consumed: number } | null = null;
  for (const command of COMMANDS) {
    const name = command.name.split(' ');
    if (name.every((w, i) => words[i] === w) && (!best || name.length > best.consumed)) best = { command, consumed: name.length };
  }
  return best;
}

function generalHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => `${c.name} ${c.args}`.length));
  return [
    'edgepaxos: operate an edgepaxos cluster (streams, leaders, members, data, locks and elections) over its HTTP API.',
    '',
    'Usage: edgepaxos [--url URL] [--token TOKEN] [--json] COMMAND [ARGS] [OPTIONS]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${`${c.name} ${c.args}`.padEnd(width)}  ${c.summary}`),
    '',
    'Options for every command:',
    ...optionLines(GLOBAL_OPTIONS),
    '',
    'Errors are printed as `edgepaxos: CODE: MESSAGE` (with --json: {"error":{...}} on stderr);',
    'the exit status is 1 for an error answered by the API or the network, 2 for bad usage.',
  ].join('\n');
}

function commandHelp(c: Command): string {
  const lines = [`Usage: edgepaxos ${c.name}${c.args ? ` ${c.args}` : ''}${c.options ? ' [OPTIONS]' : ''}`, '', c.summary];
  if (c.details) lines.push('', c.details);
  if (c.options) lines.push('', 'Options:', ...optionLines(c.options));
  lines.push('', 'Options for every command:', ...optionLines(GLOBAL_OPTIONS));
  return lines.join('\n');
}

function optionLines(options: Readonly<Record<string, OptionSpec>>): string[] {
  const label = (name: string, o: OptionSpec): string =>
    `${o.short ? `-${o.short}, ` : ''}--${name}${o.type === 'boolean' ? '' : o.type === 'int' ? ' N' : o.type === 'list' ? ' VALUE (repeatable)' : ' VALUE'}`;
  const width = Math.max(...Object.entries(options).map(([n, o]) => label(n, o).length));
  return Object.entries(options).map(([n, o]) => `  ${label(n, o).padEnd(width)}  ${o.description}`);
}
