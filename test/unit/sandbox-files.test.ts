// Unit tier: whether a sandbox's files go to memory (written at once) or to
// disk (off the loop), asked before the directory exists.
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { memoryBacked } from '../../src/cnm/sandbox-files';

const TMPFS = 0x01021994;
const onTmpfs = (d: string) => fs.statfsSync(d).type === TMPFS;

describe('unit: sandbox files, memory or disk', () => {
  it('a directory not made yet answers for the filesystem it will be made on, and is not made', function () {
    if (!fs.existsSync('/dev/shm') || !onTmpfs('/dev/shm')) this.skip();
    const dir = path.join('/dev/shm', `cnm-unit-${process.pid}`, 'state', 'sandboxes');
    assert.strictEqual(memoryBacked(dir), true);
    assert.strictEqual(fs.existsSync(path.dirname(path.dirname(dir))), false);
  });

  it('a directory not made yet on disk is on disk; once made, it answers for itself', function () {
    const base = fs.mkdtempSync(path.join(os.tmpdir(), 'cnm-unit-'));
    try {
      if (onTmpfs(base)) this.skip();
      const dir = path.join(base, 'state', 'sandboxes');
      assert.strictEqual(memoryBacked(dir), false);
      fs.mkdirSync(dir, { recursive: true });
      assert.strictEqual(memoryBacked(dir), false);
    } finally {
      fs.rmSync(base, { recursive: true, force: true });
    }
  });

  it('a path through a file is not in memory (the write will fail there and say why)', () => {
    const base = fs.mkdtempSync(path.join(os.tmpdir(), 'cnm-unit-'));
    try {
      fs.writeFileSync(path.join(base, 'file'), '');
      assert.strictEqual(memoryBacked(path.join(base, 'file', 'sandboxes')), false);
    } finally {
      fs.rmSync(base, { recursive: true, force: true });
    }
  });
});
