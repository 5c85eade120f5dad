import type { Command } from '../command.ts';
import { ksDel, ksGet, ksGrow, ksLs, ksPut, ksStatus, ksTxn } from './keyspaces.ts';
import { del, get, ls, put } from './kv.ts';
import { failover, stepDown, switchover } from './leadership.ts';
import { list } from './list.ts';
import { leaseGet, leaseGrant, leaseKeepAlive, leaseRevoke } from './leases.ts';
import { electCampaign, electLeader, electObserve, electResign, lock } from './locks.ts';
import { metrics } from './metrics.ts';
import { membersAdd, membersList, membersRemove, membersUpdate, rebuild } from './members.ts';
import { minority, normal, pause, resume } from './modes.ts';
import { snapshotRestore, snapshotSave } from './snapshot.ts';
import { status } from './status.ts';
import { streamsCreate, streamsDelete, streamsGet } from './streams.ts';
import { txn } from './txn.ts';
import { watch } from './watch.ts';

/**
 * Every command of the CLI, in the order the help lists them. A new command
 * is a file in this folder and one entry here.
 */
export const COMMANDS: readonly Command[] = [
  list,
  status,
  metrics,
  get,
  put,
  del,
  ls,
  ksPut,
  ksGet,
  ksDel,
  ksLs,
  ksTxn,
  ksStatus,
  ksGrow,
  txn,
  watch,
  leaseGrant,
  leaseKeepAlive,
  leaseGet,
  leaseRevoke,
  lock,
  electCampaign,
  electObserve,
  electLeader,
  electResign,
  switchover,
  failover,
  stepDown,
  pause,
  resume,
  minority,
  normal,
  membersList,
  membersAdd,
  membersUpdate,
  membersRemove,
  rebuild,
  streamsCreate,
  streamsGet,
  streamsDelete,
  snapshotSave,
  snapshotRestore,
];
