import * as assert from 'assert';
import { OpGate } from '../../src/cnm/locks';

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

describe('unit: OpGate (operations side by side, a reconcile alone)', () => {
  it('an exclusive task waits for operations in flight; those asked for meanwhile wait for it', async () => {
    const gate = new OpGate();
    const order: string[] = [];
    const op = (name: string, ms: number) => gate.run(async () => { order.push(`${name}+`); await tick(ms); order.push(`${name}-`); });
    const a = op('a', 20);
    const b = op('b', 5);
    await tick(1);
    const x = gate.exclusive(async () => { order.push('x+'); await tick(10); order.push('x-'); return 42; });
    const c = op('c', 1);
    assert.strictEqual(await x, 42);
    await Promise.all([a, b, c]);
    assert.deepStrictEqual(order, ['a+', 'b+', 'b-', 'a-', 'x+', 'x-', 'c+', 'c-']);
  });

  it('two exclusive tasks run one after the other; a failure opens the gate again', async () => {
    const gate = new OpGate();
    const order: string[] = [];
    const x = gate.exclusive(async () => { order.push('x'); await tick(5); throw new Error('boom'); });
    const y = gate.exclusive(async () => { order.push('y'); });
    await assert.rejects(x, /boom/);
    await y;
    assert.strictEqual(await gate.run(async () => 'after'), 'after');
    assert.deepStrictEqual(order, ['x', 'y']);
  });

  it('an operation that fails still counts out', async () => {
    const gate = new OpGate();
    await assert.rejects(gate.run(async () => { throw new Error('op failed'); }), /op failed/);
    let ran = false;
    await gate.exclusive(async () => { ran = true; });
    assert.ok(ran);
  });

  it('once shut down, operations and exclusive tasks fail with the error given', async () => {
    const gate = new OpGate();
    const inFlight = gate.run(async () => { await tick(5); return 'finished'; });
    const closing = gate.exclusive(async () => { gate.shutDown(() => Object.assign(new Error('closed'), { code: 'EBADF' })); });
    const late = gate.run(async () => 'never');
    assert.strictEqual(await inFlight, 'finished');
    await closing;
    await assert.rejects(late, { code: 'EBADF' });
    await assert.rejects(gate.exclusive(async () => {}), { code: 'EBADF' });
  });
});
