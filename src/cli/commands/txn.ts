import type { TxnOpResult, TxnRequest, TxnResult } from '../../client/types.ts';
import { type Command, UsageError, arg, noMoreArgs, short, stringOption, table } from '../command.ts';
import { STREAM, streamOf } from './options.ts';

export const txn: Command = {
  name: 'txn',
  args: 'FILE',
  summary: 'Run a transaction (etcd Txn) read from a JSON file: {"compare": [...], "success": [...], "failure": [...]}',
  details: [
    'FILE holds the body of POST /v1/streams/{stream}/txn (docs/api.md), for example:',
    '  {"compare": [{"key": "config", "target": "revision", "op": "==", "value": 7}],',
    '   "success": [{"put": {"key": "config", "value": "v2"}}], "failure": [{"get": {"key": "config"}}]}',
    'Prints which branch applied, its revision, and one row per operation of that branch.',
  ].join('\n'),
  options: { stream: STREAM, 'idempotency-key': { type: 'string', description: 'Apply at most once: a retry with the same key gets the first answer' } },
  async run(ctx) {
    const file = arg(ctx, 0, 'FILE');
    noMoreArgs(ctx, 1);
    let request: TxnRequest;
    try {
      request = JSON.parse(await ctx.io.readFile(file)) as TxnRequest;
    } catch (e) {
      if (e instanceof SyntaxError) throw new UsageError(`${file} is not a transaction (not JSON): ${e.message}`);
      throw e;
    }
    if (typeof request !== 'object' || request === null || Array.isArray(request)) throw new UsageError(`${file} must hold a JSON object {compare, success, failure}`);
    const idempotencyKey = stringOption(ctx, 'idempotency-key');
    const res = await ctx.client.txn(streamOf(ctx), request, idempotencyKey ? { idempotencyKey } : {});
    return { data: res, text: describeTxn(request, res) };
  },
};

function describeTxn(request: TxnRequest, res: TxnResult): string {
  const ops = (res.succeeded ? request.success : request.failure) ?? [];
  const head = `${res.succeeded ? 'SUCCEEDED' : 'FAILED (the failure branch applied)'} at revision ${res.revision}`;
  if (res.results.length === 0) return head;
  const rows = res.results.map((r, i) => {
    const op = ops[i];
    const what = op === undefined ? '?' : 'put' in op ? 'put' : 'delete' in op ? 'delete' : 'delete_prefix' in op ? 'delete_prefix' : 'get';
    const key = op === undefined ? '' : 'put' in op ? op.put.key : 'delete' in op ? op.delete.key : 'delete_prefix' in op ? `${op.delete_prefix.prefix}*` : op.get.key;
    return [i + 1, what, key, result(r)];
  });
  return `${head}\n${table(['#', 'OP', 'KEY', 'RESULT'], rows)}`;
}

function result(r: TxnOpResult): string {
  if ('found' in r) return 'absent';
  if ('value' in r) return `${short(r.value, 40)} (revision ${r.revision}, created ${r.create_revision})`;
  if ('deleted' in r) return `${r.deleted} deleted`;
  return `revision ${r.revision}`;
}
