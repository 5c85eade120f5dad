import type { Command, DurableState, Entry, PersistDelta } from '../core/index.ts';
import { type ReplicaStorage, validateDelta } from './storage.ts';

/**
 * A replica's storage in its Durable Object's SQLite database. Every persist
 * is one `transactionSync`, so a crash leaves either all of a Ready's writes or
 * none of them.
 */
export class SqliteStorage implements ReplicaStorage {
  private readonly storage: DurableObjectStorage;
  private readonly sql: SqlStorage;
  transactions = 0;

  constructor(storage: DurableObjectStorage) {
    this.storage = storage;
    this.sql = storage.sql;
    this.sql.exec(`CREATE TABLE IF NOT EXISTS ep_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`);
    this.sql.exec(
      `CREATE TABLE IF NOT EXISTS ep_entries (
         slot INTEGER PRIMARY KEY,
         ballot_round INTEGER NOT NULL,
         ballot_replica INTEGER NOT NULL,
         command TEXT NOT NULL
       )`,
    );
  }

  loadDurable(): DurableState {
    const promised = this.readMeta('promised');
    const decided = this.readMeta('decided_index');
    const entries: Entry[] = [];
    for (const row of this.sql.exec<{ slot: number; ballot_round: number; ballot_replica: number; command: string }>(
      'SELECT slot, ballot_round, ballot_replica, command FROM ep_entries ORDER BY slot',
    )) {
      entries.push({
        slot: row.slot,
        ballot: { round: row.ballot_round, replicaId: row.ballot_replica },
        command: JSON.parse(row.command) as Command,
      });
    }
    return {
      promised: promised ? (JSON.parse(promised) as DurableState['promised']) : { round: 0, replicaId: 0 },
      decidedIndex: decided ? Number(decided) : 0,
      entries,
    };
  }

  persist(delta: PersistDelta): void {
    validateDelta(delta);
    this.transactions += 1;
    this.storage.transactionSync(() => {
      if (delta.promised) this.writeMeta('promised', JSON.stringify(delta.promised));
      for (const e of delta.entries) {
        this.sql.exec(
          'INSERT OR REPLACE INTO ep_entries (slot, ballot_round, ballot_replica, command) VALUES (?, ?, ?, ?)',
          e.slot,
          e.ballot.round,
          e.ballot.replicaId,
          JSON.stringify(e.command),
        );
      }
      if (delta.decidedIndex !== undefined) this.writeMeta('decided_index', String(delta.decidedIndex));
    });
  }

  readMeta(key: string): string | undefined {
    const rows = this.sql.exec<{ value: string }>('SELECT value FROM ep_meta WHERE key = ?', key).toArray();
    return rows[0]?.value;
  }

  writeMeta(key: string, value: string): void {
    this.sql.exec('INSERT OR REPLACE INTO ep_meta (key, value) VALUES (?, ?)', key, value);
  }
}
