import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Store } from '../src/cnm/store';

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

  it('a failed write is undone in memory and leaves the journal readable', async () => {
    const d = dir();
    const s = Store.open(d);
    await s.put('sandbox', 'a', { v: 1 });
    const realFs = require('fs');
    const orig = realFs.write;
    realFs.write = (fd: number, data: Buffer, cb: (e: Error | null) => void) => {
      realFs.write = orig;
      orig(fd, data.subarray(0, 5), () => cb(Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' })));
    };
    await assert.rejects(s.put('sandbox', 'a', { v: 2 }), (e: any) => e.code === 'ENOSPC');
    assert.deepStrictEqual(s.get('sandbox', 'a'), { v: 1 });
    await s.put('sandbox', 'b', { v: 3 });
    const again = Store.open(d);
    assert.deepStrictEqual([again.get('sandbox', 'a'), again.get('sandbox', 'b')], [{ v: 1 }, { v: 3 }]);
    await again.close();
  });
});
