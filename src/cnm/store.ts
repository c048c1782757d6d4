// Persisted state: an append-only journal of JSON lines plus a snapshot.
// Writes made in the same tick share one fsync (group commit); a torn last
// line after a crash is ignored on replay. Compaction writes the snapshot
// crash-safely: temp file, fsync, rename, fsync of the directory.
import * as fs from 'fs';
import * as path from 'path';

export type Kind = 'network' | 'sandbox' | 'endpoint' | 'meta';

interface Entry { op: 'put' | 'del'; kind: Kind; id: string; value?: any }

export class Store {
  readonly dir: string;
  private data = new Map<Kind, Map<string, any>>();
  private fd = -1;
  /** Bytes in the journal that are known durable. */
  private journalSize = 0;
  private pending: string[] = [];
  /** Undo of each pending line's in-memory change, for a failed write. */
  private undos: (() => void)[] = [];
  private waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private scheduled = false;
  private journalEntries = 0;

  private constructor(dir: string) {
    this.dir = dir;
  }

  static open(dir: string): Store {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const s = new Store(dir);
    s.load();
    return s;
  }

  private get snapshotPath(): string { return path.join(this.dir, 'state.json'); }
  private get journalPath(): string { return path.join(this.dir, 'journal.jsonl'); }

  private load(): void {
    try {
      const snap = JSON.parse(fs.readFileSync(this.snapshotPath, 'utf8'));
      for (const [kind, entries] of Object.entries(snap)) this.data.set(kind as Kind, new Map(Object.entries(entries as any)));
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
    this.compact();
  }

  private apply(e: Entry): void {
    let m = this.data.get(e.kind);
    if (!m) this.data.set(e.kind, (m = new Map()));
    if (e.op === 'put') m.set(e.id, e.value);
    else m.delete(e.id);
  }

  get<T = any>(kind: Kind, id: string): T | undefined { return this.data.get(kind)?.get(id); }
  all<T = any>(kind: Kind): T[] { return [...(this.data.get(kind)?.values() ?? [])]; }

  put(kind: Kind, id: string, value: any): Promise<void> { return this.write({ op: 'put', kind, id, value }); }
  del(kind: Kind, id: string): Promise<void> { return this.write({ op: 'del', kind, id }); }

  private write(e: Entry): Promise<void> {
    const m = this.data.get(e.kind);
    const had = m?.has(e.id) ?? false;
    const prev = m?.get(e.id);
    this.apply(e);
    this.pending.push(JSON.stringify(e));
    this.undos.push(() => {
      const mm = this.data.get(e.kind)!;
      if (had) mm.set(e.id, prev); else mm.delete(e.id);
    });
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
    const undos = this.undos.splice(0);
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
      // readable) and take the changes back out of memory.
      try { if (this.fd >= 0) fs.ftruncateSync(this.fd, this.journalSize); } catch { /* reported below */ }
      for (const u of undos.reverse()) u();
      for (const w of waiters) w.reject(e);
    } finally {
      this.flushing = false;
    }
    if (this.journalEntries > 20000) this.compact();
    if (this.pending.length) void this.flush();
  }

  private flushSync(): void {
    if (!this.pending.length) return;
    const lines = this.pending.splice(0);
    this.undos.splice(0);
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
    this.flushSync();
    this.compact();
  }
}
