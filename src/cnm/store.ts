// Persisted state: an append-only journal of JSON lines plus a snapshot.
// Writes made in the same tick share one fsync (group commit); a torn last
// line after a crash is ignored on replay. Compaction writes the snapshot
// crash-safely: temp file, fsync, rename, fsync of the directory.
import * as fs from 'fs';
import * as path from 'path';
import { native } from '../native';
import { CnmError } from '../errors';
import { busy } from './errors';

export type Kind = 'network' | 'sandbox' | 'endpoint' | 'meta';

interface Entry { op: 'put' | 'del'; kind: Kind; id: string; value?: any }

/** Secondary keys per kind (e.g. endpoints by sandbox): lookups by them stay O(1) at thousands of records. */
export type IndexSpec = Partial<Record<Kind, Record<string, (value: any) => string | undefined>>>;

interface Index { key: (value: any) => string | undefined; keyOf: Map<string, string>; ids: Map<string, Set<string>> }

export class Store {
  readonly dir: string;
  private data = new Map<Kind, Map<string, any>>();
  private fd = -1;
  /** Bytes in the journal that are known durable. */
  private journalSize = 0;
  private pending: string[] = [];
  private waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private scheduled = false;
  private journalEntries = 0;
  private indexes = new Map<Kind, Map<string, Index>>();

  private constructor(dir: string, spec: IndexSpec) {
    this.dir = dir;
    for (const [kind, byName] of Object.entries(spec)) {
      const m = new Map<string, Index>();
      for (const [name, key] of Object.entries(byName ?? {})) m.set(name, { key, keyOf: new Map(), ids: new Map() });
      this.indexes.set(kind as Kind, m);
    }
  }

  /** Opens for writing (the caller holds the directory's StateLock). */
  static open(dir: string, indexes: IndexSpec = {}): Store {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const s = new Store(dir, indexes);
    s.load();
    s.compact();
    return s;
  }

  /** Reads the state as it is on disk, without writing anything (no lock needed). */
  static read(dir: string, indexes: IndexSpec = {}): Store {
    const s = new Store(dir, indexes);
    s.load();
    return s;
  }

  private get snapshotPath(): string { return path.join(this.dir, 'state.json'); }
  private get journalPath(): string { return path.join(this.dir, 'journal.jsonl'); }

  /** Forgets memory and reads the state from disk again. */
  private reload(): void {
    for (const m of this.data.values()) m.clear();
    for (const byName of this.indexes.values()) for (const ix of byName.values()) { ix.keyOf.clear(); ix.ids.clear(); }
    this.load();
  }

  private load(): void {
    try {
      const snap = JSON.parse(fs.readFileSync(this.snapshotPath, 'utf8'));
      for (const [kind, entries] of Object.entries(snap)) {
        for (const [id, value] of Object.entries(entries as any)) this.setRaw(kind as Kind, id, value);
      }
    } catch (e: any) {
      if (e.code !== 'ENOENT') throw e;
    }
    try {
      for (const line of fs.readFileSync(this.journalPath, 'utf8').split('\n')) {
        if (!line) continue;
        let e: Entry;
        try { e = JSON.parse(line); } catch { break; }  // torn tail
        this.apply(e);
      }
    } catch (e: any) {
      if (e.code !== 'ENOENT') throw e;
    }
  }

  private apply(e: Entry): void {
    this.setRaw(e.kind, e.id, e.op === 'put' ? e.value : undefined);
  }

  /** Sets (or with undefined, removes) a record in memory and in the indexes. */
  private setRaw(kind: Kind, id: string, value: any): void {
    let m = this.data.get(kind);
    if (!m) this.data.set(kind, (m = new Map()));
    if (value === undefined) m.delete(id);
    else m.set(id, value);
    for (const ix of this.indexes.get(kind)?.values() ?? []) {
      const old = ix.keyOf.get(id);
      const key = value === undefined ? undefined : ix.key(value);
      if (old === key) continue;
      if (old !== undefined) {
        const set = ix.ids.get(old)!;
        set.delete(id);
        if (!set.size) ix.ids.delete(old);
        ix.keyOf.delete(id);
      }
      if (key !== undefined) {
        let set = ix.ids.get(key);
        if (!set) ix.ids.set(key, (set = new Set()));
        set.add(id);
        ix.keyOf.set(id, key);
      }
    }
  }

  get<T = any>(kind: Kind, id: string): T | undefined { return this.data.get(kind)?.get(id); }
  all<T = any>(kind: Kind): T[] { return [...(this.data.get(kind)?.values() ?? [])]; }
  /** Records whose index `name` gives `key` (see IndexSpec). */
  by<T = any>(kind: Kind, name: string, key: string): T[] {
    const ix = this.indexes.get(kind)?.get(name);
    if (!ix) throw new Error(`no index ${kind}.${name}`);
    const m = this.data.get(kind);
    return [...(ix.ids.get(key) ?? [])].map((id) => m!.get(id));
  }

  put(kind: Kind, id: string, value: any): Promise<void> { return this.write({ op: 'put', kind, id, value }); }
  del(kind: Kind, id: string): Promise<void> { return this.write({ op: 'del', kind, id }); }

  private write(e: Entry): Promise<void> {
    // After close the lock is gone: a late write must not reach the journal.
    if (this.closed) return Promise.reject(new CnmError(`state store ${this.dir} is closed`, 'EBADF', 9));
    this.apply(e);
    this.pending.push(JSON.stringify(e));
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      if (!this.scheduled && !this.flushing) {
        this.scheduled = true;
        setImmediate(() => { this.scheduled = false; void this.flush(); });
      }
    });
  }

  private flushing = false;

  // Group commit: one write + fsync for everything queued meanwhile; while
  // one fsync runs (on the pool), the next batch collects.
  private async flush(): Promise<void> {
    if (this.flushing || !this.pending.length) return;
    this.flushing = true;
    const lines = this.pending.splice(0);
    const waiters = this.waiters.splice(0);
    try {
      if (this.fd < 0) this.fd = fs.openSync(this.journalPath, 'a', 0o600);
      const fd = this.fd;
      const data = Buffer.from(lines.join('\n') + '\n');
      await new Promise<void>((res, rej) => fs.write(fd, data, (err) => (err ? rej(err) : res())));
      await new Promise<void>((res, rej) => fs.fsync(fd, (err) => (err ? rej(err) : res())));
      this.journalSize += data.length;
      this.journalEntries += lines.length;
      for (const w of waiters) w.resolve();
    } catch (e: any) {
      // Not durable: cut a torn tail off the journal (later lines must stay
      // readable) and set memory back to what the disk holds. (Undoing change
      // by change cannot: callers change fetched records in place before
      // putting them.) Changes queued meanwhile fail too: they were made on
      // top of these.
      try { if (this.fd >= 0) fs.ftruncateSync(this.fd, this.journalSize); } catch { /* reported below */ }
      this.pending.splice(0);
      const laterWaiters = this.waiters.splice(0);
      this.reload();
      for (const w of [...waiters, ...laterWaiters]) w.reject(e);
    } finally {
      this.flushing = false;
    }
    if (this.journalEntries > 20000) this.compact();
    if (this.pending.length) void this.flush();
  }

  private flushSync(): void {
    if (!this.pending.length) return;
    const lines = this.pending.splice(0);
    const waiters = this.waiters.splice(0);
    if (this.fd < 0) this.fd = fs.openSync(this.journalPath, 'a', 0o600);
    const data = lines.join('\n') + '\n';
    fs.writeSync(this.fd, data);
    fs.fsyncSync(this.fd);
    this.journalSize += Buffer.byteLength(data);
    for (const w of waiters) w.resolve();
  }

  /** Folds the journal into a new snapshot. */
  compact(): void {
    const snap: Record<string, Record<string, any>> = {};
    for (const [k, m] of this.data) snap[k] = Object.fromEntries(m);
    const tmp = `${this.snapshotPath}.tmp`;
    const fd = fs.openSync(tmp, 'w', 0o600);
    fs.writeSync(fd, JSON.stringify(snap));
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, this.snapshotPath);
    const dfd = fs.openSync(this.dir, 'r');
    fs.fsyncSync(dfd);
    fs.closeSync(dfd);
    if (this.fd >= 0) { fs.closeSync(this.fd); this.fd = -1; }
    fs.rmSync(this.journalPath, { force: true });
    this.journalEntries = 0;
    this.journalSize = 0;
  }

  /** Waits for pending writes. */
  async sync(): Promise<void> {
    while (this.pending.length || this.flushing) {
      if (this.pending.length) await new Promise<void>((resolve, reject) => { this.waiters.push({ resolve, reject }); if (!this.flushing) void this.flush(); });
      else await new Promise((r) => setImmediate(r));
    }
  }

  /** Waits for the journal's pending writes, then folds it into the snapshot. */
  async close(): Promise<void> {
    await this.sync();
    this.closed = true;
    this.flushSync();
    this.compact();
  }

  private closed = false;
}

/**
 * The state as on disk, for readers in other processes (a `cnm run`'s DNS
 * server): re-read only when the snapshot or journal changed. A read that
 * races a compaction can be briefly stale; the next one is not.
 */
export class StateView {
  private store?: Store;
  private sig = '';
  constructor(readonly dir: string, private indexes: IndexSpec = {}) {}

  get(): Store {
    const sig = ['state.json', 'journal.jsonl'].map((f) => {
      try {
        const st = fs.statSync(path.join(this.dir, f));
        return `${st.ino}:${st.size}:${st.mtimeMs}`;
      } catch { return '-'; }
    }).join('|');
    if (!this.store || sig !== this.sig) {
      this.store = Store.read(this.dir, this.indexes);
      this.sig = sig;
    }
    return this.store;
  }
}

/**
 * One writer per state directory, as one dockerd: an exclusive flock on
 * `<dir>/lock`, dropped by the kernel when the holder dies (kill -9 too).
 * Two controllers writing one journal would lose each other's records.
 */
export class StateLock {
  private constructor(private fd: number) {}

  /** Takes the lock, waiting up to timeoutMs for another holder; then EBUSY naming it. */
  static async acquire(dir: string, timeoutMs: number): Promise<StateLock> {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const p = path.join(dir, 'lock');
    let fd = fs.openSync(p, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
    try {
      const end = Date.now() + timeoutMs;
      for (;;) {
        if (native.flock(fd, true)) {
          // The holder may have removed the directory before letting go
          // (Controller.destroy): a lock on a file no longer there is no lock.
          let same = false;
          try { same = fs.statSync(p).ino === fs.fstatSync(fd).ino; } catch { /* gone */ }
          if (same) break;
          fs.closeSync(fd);
          fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
          fd = fs.openSync(p, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
          continue;
        }
        if (Date.now() >= end) {
          const holder = fs.readFileSync(p, 'utf8').trim();
          throw busy(`state directory ${dir} is in use by another controller${holder ? ` (${holder})` : ''}`);
        }
        await new Promise((r) => setTimeout(r, 25));
      }
      fs.ftruncateSync(fd, 0);
      fs.writeSync(fd, `pid ${process.pid}: ${process.argv.slice(1).map((a) => path.basename(a)).join(' ')}`.slice(0, 200), 0);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
    return new StateLock(fd);
  }

  release(): void {
    if (this.fd < 0) return;
    fs.closeSync(this.fd);  // closing drops the flock
    this.fd = -1;
  }
}
