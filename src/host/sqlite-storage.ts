import type { Command, ConfigurationAt, DurableState, Entry, PersistDelta, QuietRecord, Snapshot } from '../core/index.ts';
import { fromDcfConfiguration } from './dcf.ts';

/** SQLite values in a Durable Object are limited to 2 MB: snapshots are stored in pieces below that. */
const SNAPSHOT_CHUNK_CHARS = 512 * 1024;
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
    this.sql.exec(`CREATE TABLE IF NOT EXISTS ep_snapshot_chunks (seq INTEGER PRIMARY KEY, data TEXT NOT NULL)`);
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
        command: storedCommand(row.command),
      });
    }
    const baseConfig = this.readMeta('base_config');
    return {
      promised: promised ? (JSON.parse(promised) as DurableState['promised']) : { round: 0, replicaId: 0 },
      decidedThrough: decided ? Number(decided) : 0,
      entries,
      compactedThrough: Number(this.readMeta('compacted_through') ?? 0),
      snapshot: this.loadSnapshot(),
      baseConfig: baseConfig ? storedConfigurationAt(baseConfig) : null,
      epoch: Number(this.readMeta('epoch') ?? 0),
      fenced: this.readMeta('fenced') === 'true',
      incarnation: Number(this.readMeta('incarnation') ?? 1),
      quiet: parseQuiet(this.readMeta('quiet')),
      readSeqReserved: Number(this.readMeta('read_seq_reserved') ?? 0),
    };
  }

  private loadSnapshot(): Snapshot | null {
    const slot = this.readMeta('snapshot_slot');
    if (slot === undefined) return null;
    const parts = this.sql.exec<{ data: string }>('SELECT data FROM ep_snapshot_chunks ORDER BY seq').toArray();
    return { slot: Number(slot), data: parts.map((p) => p.data).join('') };
  }

  persist(delta: PersistDelta): void {
    validateDelta(delta);
    this.transactions += 1;
    this.storage.transactionSync(() => {
      if (delta.promised) this.writeMeta('promised', JSON.stringify(delta.promised));
      this.insertEntries(delta.entries);
      if (delta.decidedThrough !== undefined) this.writeMeta('decided_index', String(delta.decidedThrough));
      if (delta.snapshot) {
        this.sql.exec('DELETE FROM ep_snapshot_chunks');
        const data = delta.snapshot.data;
        for (let i = 0, seq = 0; i < data.length || seq === 0; i += SNAPSHOT_CHUNK_CHARS, seq++) {
          this.sql.exec('INSERT INTO ep_snapshot_chunks (seq, data) VALUES (?, ?)', seq, data.slice(i, i + SNAPSHOT_CHUNK_CHARS));
        }
        this.writeMeta('snapshot_slot', String(delta.snapshot.slot));
      }
      if (delta.compactThrough !== undefined) {
        this.sql.exec('DELETE FROM ep_entries WHERE slot <= ?', delta.compactThrough);
        this.writeMeta('compacted_through', String(delta.compactThrough));
      }
      if (delta.baseConfig) this.writeMeta('base_config', JSON.stringify(delta.baseConfig));
      if (delta.epoch !== undefined) this.writeMeta('epoch', String(delta.epoch));
      if (delta.fenced !== undefined) this.writeMeta('fenced', String(delta.fenced));
      if (delta.incarnation !== undefined) this.writeMeta('incarnation', String(delta.incarnation));
      if (delta.quiet) this.writeMeta('quiet', JSON.stringify(delta.quiet));
      if (delta.readSeqReserved !== undefined) this.writeMeta('read_seq_reserved', String(delta.readSeqReserved));
    });
  }

  /**
   * The entries, several rows to a statement, in statements of a few fixed
   * sizes (powers of two up to ENTRY_ROWS_MAX: 27 entries go as 16, 8, 2 and
   * 1 rows), so the runtime prepares each size once. A statement costs more
   * than a row: an input of a gathered batch (docs/design.md, "Write
   * gathering") persists its n entries in about log2(n) statements, not n.
   */
  private insertEntries(entries: readonly Entry[]): void {
    if (entries.length === 1) {
      // The common case of a lone write: one row, its values passed as they are.
      const e = entries[0]!;
      this.sql.exec(ONE_ENTRY_SQL, e.slot, e.ballot.round, e.ballot.replicaId, JSON.stringify(e.command));
      return;
    }
    let at = 0;
    while (at < entries.length) {
      let rows = ENTRY_ROWS_MAX;
      while (rows > entries.length - at) rows >>= 1;
      const values: (number | string)[] = [];
      for (let i = at; i < at + rows; i++) {
        const e = entries[i]!;
        values.push(e.slot, e.ballot.round, e.ballot.replicaId, JSON.stringify(e.command));
      }
      this.sql.exec(insertEntriesSql(rows), ...values);
      at += rows;
    }
  }

  clear(): void {
    this.transactions += 1;
    this.storage.transactionSync(() => {
      this.sql.exec('DELETE FROM ep_entries');
      this.sql.exec('DELETE FROM ep_snapshot_chunks');
      this.sql.exec("DELETE FROM ep_meta WHERE key <> 'identity'");
    });
  }

  readMeta(key: string): string | undefined {
    const rows = this.sql.exec<{ value: string }>('SELECT value FROM ep_meta WHERE key = ?', key).toArray();
    return rows[0]?.value;
  }

  /**
   * Drop every table of this replica and leave one meta row (`key` = `value`),
   * in one transaction: storage is freed, and a crash leaves either the whole
   * replica or only that row. This handle must not be used afterwards (its
   * tables are gone); a new one recreates them empty.
   */
  destroy(key: string, value: string): void {
    this.storage.transactionSync(() => {
      this.sql.exec('DROP TABLE IF EXISTS ep_entries');
      this.sql.exec('DROP TABLE IF EXISTS ep_snapshot_chunks');
      this.sql.exec('DELETE FROM ep_meta');
      this.writeMeta(key, value);
    });
  }

  writeMeta(key: string, value: string): void {
    this.sql.exec('INSERT OR REPLACE INTO ep_meta (key, value) VALUES (?, ?)', key, value);
  }
}

/** The most rows of one entry statement (4 values a row, within a Durable Object's 100 bound values a statement); a power of two. */
const ENTRY_ROWS_MAX = 16;
const entryStatements = new Map<number, string>();
const ONE_ENTRY_SQL = 'INSERT OR REPLACE INTO ep_entries (slot, ballot_round, ballot_replica, command) VALUES (?, ?, ?, ?)';

/** `INSERT OR REPLACE` of `rows` entries in one statement. */
function insertEntriesSql(rows: number): string {
  let sql = entryStatements.get(rows);
  if (sql === undefined) {
    sql = `INSERT OR REPLACE INTO ep_entries (slot, ballot_round, ballot_replica, command) VALUES ${Array.from({ length: rows }, () => '(?, ?, ?, ?)').join(', ')}`;
    entryStatements.set(rows, sql);
  }
  return sql;
}

/**
 * A stored command. Configurations stored before the core had its own word
 * for the member role DCF calls follower (`electable`) are read in today's.
 */
function storedCommand(raw: string): Command {
  const c = JSON.parse(raw) as Command;
  return c.kind === 'config' ? { ...c, configuration: fromDcfConfiguration(c.configuration) } : c;
}

function storedConfigurationAt(raw: string): ConfigurationAt {
  const at = JSON.parse(raw) as ConfigurationAt;
  return { slot: at.slot, configuration: fromDcfConfiguration(at.configuration) };
}

/** A stored quiet record, or null if there is none or it is not one (it only spares an election: never worth failing over). */
function parseQuiet(raw: string | undefined): QuietRecord | null {
  if (raw === undefined) return null;
  try {
    const q = JSON.parse(raw) as { leaderId?: unknown; ballot?: { round?: unknown; replicaId?: unknown }; epoch?: unknown };
    const int = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0;
    if (!int(q.leaderId) || !int(q.ballot?.round) || !int(q.ballot?.replicaId) || !int(q.epoch)) return null;
    return { leaderId: q.leaderId, ballot: { round: q.ballot.round, replicaId: q.ballot.replicaId }, epoch: q.epoch };
  } catch {
    return null;
  }
}
