// Unit tier: the queue under the request path (O(1) shift, order kept).
import * as assert from 'assert';
import { Fifo } from '../../src/util/fifo';

describe('unit: Fifo', () => {
  it('keeps order through pushes, shifts, unshifts and its compaction', () => {
    const q = new Fifo<number>();
    assert.strictEqual(q.shift(), undefined);
    for (let i = 0; i < 5000; i++) q.push(i);
    for (let i = 0; i < 3000; i++) assert.strictEqual(q.shift(), i);  // compacts past 1,024
    q.unshift(2999);
    q.unshift(2998);
    assert.strictEqual(q.length, 2002);
    assert.deepStrictEqual(q.toArray().slice(0, 3), [2998, 2999, 3000]);
    const out: number[] = [];
    for (let x = q.shift(); x !== undefined; x = q.shift()) out.push(x);
    assert.deepStrictEqual(out, Array.from({ length: 2002 }, (_, i) => 2998 + i));
    assert.strictEqual(q.length, 0);
    q.unshift(7);  // at the start of an empty queue
    assert.deepStrictEqual(q.toArray(), [7]);
  });
});
