// Unit tier: error codes and argument checks (no addon, no root).
import * as assert from 'assert';
import * as fs from 'fs';
import {
  ERRNO_NAMES, InvalidArgTypeError, NetlinkError, ValidationError, checkArray, checkBool, checkCString, checkInt,
  checkObject, codeOf, errnoOf,
} from '../../src/errors';

describe('unit: errno names', () => {
  it('names every errno of asm-generic/errno*.h, as the headers spell them', function () {
    const files = ['/usr/include/asm-generic/errno-base.h', '/usr/include/asm-generic/errno.h'].filter((f) => fs.existsSync(f));
    if (files.length < 2) this.skip();
    const byNum = new Map<number, string[]>();
    for (const f of files) {
      for (const m of fs.readFileSync(f, 'utf8').matchAll(/^#define\s+(E[A-Z0-9]+)\s+(\d+)\b/gm)) {
        byNum.set(Number(m[2]), [...(byNum.get(Number(m[2])) ?? []), m[1]]);
      }
    }
    assert.ok(byNum.size >= 130, `read ${byNum.size} numbers`);
    for (const [n, names] of byNum) assert.ok(names.includes(ERRNO_NAMES[n]), `${n}: ${ERRNO_NAMES[n]} not in ${names}`);
    for (let n = 1; n <= 133; n++) {
      if (byNum.has(n)) assert.notStrictEqual(codeOf(n), 'EUNKNOWN', `errno ${n}`);
    }
  });

  it('codeOf names what os.constants.errno lacks; errnoOf inverts it', () => {
    assert.strictEqual(codeOf(54), 'EXFULL');
    assert.strictEqual(codeOf(76), 'ENOTUNIQ');
    assert.strictEqual(codeOf(524), 'ENOTSUPP');
    assert.strictEqual(codeOf(95), 'EOPNOTSUPP');
    assert.strictEqual(codeOf(11), 'EAGAIN');
    assert.strictEqual(codeOf(41), 'EUNKNOWN');
    assert.strictEqual(errnoOf('EXFULL'), 54);
    assert.strictEqual(errnoOf('EWOULDBLOCK'), 11);
    assert.strictEqual(errnoOf('ERR_INVALID_ARG_TYPE'), undefined);
    for (const [n, name] of Object.entries(ERRNO_NAMES)) assert.strictEqual(errnoOf(name), Number(n));
  });

  it('an error the addon builds (code set, then errno) gets the errno\'s name', () => {
    // What native/error.cc does: new NetlinkError(msg), then code, then errno.
    const e: any = new NetlinkError('EUNKNOWN: Exchange full, sendto');
    e.code = 'EUNKNOWN';
    e.errno = 54;
    assert.strictEqual(e.code, 'EXFULL');
    assert.strictEqual(e.errno, 54);
    assert.strictEqual(e.message, 'EXFULL: Exchange full, sendto');
    assert.ok(Object.keys(e).includes('errno'));
    const k = new NetlinkError('x', 'EUNKNOWN', 54);
    assert.strictEqual(k.code, 'EXFULL');
    const known = new NetlinkError('x', 'EEXIST', 17);
    assert.strictEqual(known.code, 'EEXIST');
  });
});

describe('unit: argument checks', () => {
  const type = (fn: () => unknown, re: RegExp) => assert.throws(fn, (e: any) => {
    assert.ok(e instanceof InvalidArgTypeError && e instanceof ValidationError && e instanceof Error);
    assert.strictEqual(e.code, 'ERR_INVALID_ARG_TYPE');
    assert.match(e.message, re);
    return true;
  });
  const value = (fn: () => unknown, re: RegExp) => assert.throws(fn, (e: any) => {
    assert.strictEqual(e.code, 'EINVAL');
    assert.strictEqual(e.errno, 22);
    assert.match(e.message, re);
    return true;
  });
  it('wrong types are ERR_INVALID_ARG_TYPE naming the field, bad values EINVAL', () => {
    type(() => checkInt('0x5dc', 'mtu'), /^mtu must be an integer \(received string "0x5dc"\)/);
    type(() => checkInt(null, 'mtu'), /received null/);
    value(() => checkInt(1.5, 'mtu', 68, 65535), /mtu must be an integer in 68\.\.65535/);
    value(() => checkInt(70000, 'port', 0, 65535), /port/);
    type(() => checkBool('yes', 'bridge.stp'), /^bridge.stp must be a boolean \(received string "yes"\)/);
    type(() => checkArray('nodad', 'flags'), /^flags must be a list/);
    type(() => checkObject(null, 'request'), /request must be an object \(received null\)/);
    type(() => checkObject([], 'request'), /received an array/);
    value(() => checkCString('a\0b', 'name'), /NUL/);
    assert.strictEqual(checkInt(0, 'x'), 0);
  });
});
