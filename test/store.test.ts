import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawn } from 'child_process';
import { StateLock, StateView, Store } from '../src/cnm/store';

describe('cnm state store', () => {
  const dir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'cnm-store-'));

  it('group-commits concurrent writes and restores them after reopening', async () => {
    const d = dir();
    const s = Store.open(d);
    await Promise.all(Array.from({ length: 100 }, (_, i) => s.put('endpoint', `e${i}`, { i })));
    await s.del('endpoint', 'e7');
    // A crash here: no close, the journal alone must restore.
    const again = Store.open(d);
    assert.strictEqual(again.all('endpoint').length, 99);
    assert.strictEqual(again.get('endpoint', 'e7'), undefined);
    assert.deepStrictEqual(again.get('endpoint', 'e42'), { i: 42 });
    await again.close();
    await s.close().catch(() => {});
  });

  it('ignores a torn last line, as after a crash mid-write', async () => {
    const d = dir();
    const s = Store.open(d);
    await s.put('network', 'n1', { name: 'a' });
    fs.appendFileSync(path.join(d, 'journal.jsonl'), '{"op":"put","kind":"network","id":"n2","val');
    const again = Store.open(d);
    assert.deepStrictEqual(again.all('network'), [{ name: 'a' }]);
    await again.close();
  });

  it('a failed write is undone in memory, with the changes queued behind it, and leaves the journal readable', async () => {
    const d = dir();
    const s = Store.open(d);
    await s.put('sandbox', 'a', { v: 1 });
    const realFs = require('fs');
    const orig = realFs.write;
    // Changes made while the failing write runs build on it: they fail with it.
    let later: Promise<void>[] = [];
    realFs.write = (fd: number, data: Buffer, cb: (e: Error | null) => void) => {
      realFs.write = orig;
      later = [s.put('sandbox', 'a', { v: 2.5 }), s.put('sandbox', 'c', { v: 4 })];
      orig(fd, data.subarray(0, 5), () => cb(Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' })));
    };
    // Changed in place before the put, as callers do: memory still goes back.
    const rec = s.get('sandbox', 'a');
    rec.v = 2;
    await assert.rejects(s.put('sandbox', 'a', rec), (e: any) => e.code === 'ENOSPC');
    for (const p of later) await assert.rejects(p, (e: any) => e.code === 'ENOSPC');
    assert.deepStrictEqual([s.get('sandbox', 'a'), s.get('sandbox', 'c')], [{ v: 1 }, undefined]);
    await s.put('sandbox', 'b', { v: 3 });
    const again = Store.open(d);
    assert.deepStrictEqual([again.get('sandbox', 'a'), again.get('sandbox', 'b'), again.get('sandbox', 'c')], [{ v: 1 }, { v: 3 }, undefined]);
    await again.close();
  });

  it('one writer per directory: a second lock waits, then EBUSY naming the holder; a killed holder frees it', async () => {
    const d = dir();
    const a = await StateLock.acquire(d, 1000);
    const t = Date.now();
    await assert.rejects(StateLock.acquire(d, 300), (e: any) => e.code === 'EBUSY' && e.message.includes(`pid ${process.pid}`));
    assert.ok(Date.now() - t >= 300, 'it waited');
    // Released while another waits: the waiter gets it.
    const waiting = StateLock.acquire(d, 5000);
    setTimeout(() => a.release(), 100);
    (await waiting).release();
    // A holder killed with SIGKILL leaves no stale lock.
    const child = spawn(process.execPath, ['-e', `require(${JSON.stringify(path.join(__dirname, '..', 'src', 'cnm', 'store.js'))}).StateLock.acquire(${JSON.stringify(d)}, 1000).then(() => { console.log('held'); setInterval(() => {}, 1000); })`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((r) => child.stdout!.once('data', () => r()));
    await assert.rejects(StateLock.acquire(d, 100), (e: any) => e.code === 'EBUSY');
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    (await StateLock.acquire(d, 1000)).release();
  });

  it('a reader in another process sees the state as written, re-reading only after a change', async () => {
    const d = dir();
    const s = Store.open(d, { endpoint: { network: (e: any) => e.net } });
    await s.put('endpoint', 'e1', { net: 'n1' });
    const view = new StateView(d, { endpoint: { network: (e: any) => e.net } });
    const first = view.get();
    assert.strictEqual(first.by('endpoint', 'network', 'n1').length, 1);
    assert.strictEqual(view.get(), first, 'unchanged files: no re-read');
    await s.put('endpoint', 'e2', { net: 'n1' });
    assert.strictEqual(view.get().by('endpoint', 'network', 'n1').length, 2);
    await s.close();  // compaction: snapshot replaced, journal gone
    assert.strictEqual(view.get().by('endpoint', 'network', 'n1').length, 2);
  });

  it('a holder that removes the directory before letting go (destroy) leaves one lock, not two', async () => {
    const d = dir();
    const a = await StateLock.acquire(d, 1000);
    const waiting = StateLock.acquire(d, 5000);
    await new Promise((r) => setTimeout(r, 100));
    fs.rmSync(d, { recursive: true, force: true });
    a.release();
    const b = await waiting;  // on a new lock file, not the removed one
    await assert.rejects(StateLock.acquire(d, 200), (e: any) => e.code === 'EBUSY');
    b.release();
  });

  it('a closed store refuses writes (its lock is gone)', async () => {
    const s = Store.open(dir());
    await s.close();
    await assert.rejects(s.put('network', 'late', {}), /closed/);
  });
});
