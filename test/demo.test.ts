// The README's main job: the demo runs end to end (name resolution through
// the sandbox's resolver, the published port, hairpin) and cleans up.
import * as assert from 'assert';
import * as path from 'path';
import { hostLinks } from './helpers';
import { run } from './net-helpers';

describe('demo', function () {
  this.timeout(120000);
  it('runs Docker\'s classic scenario and leaves nothing', async () => {
    const r = await run(process.execPath, [path.join(__dirname, '..', 'src', 'demo.js')], 110000);
    assert.strictEqual(r.code, 0, r.err + r.out);
    assert.match(r.out, /client resolved "web" -> 172\.\d+\.0\.\d+/);
    assert.match(r.out, /cleaned up/);
    assert.deepStrictEqual(hostLinks(), []);
  });
});
