// Unit tier: the validators the rtnetlink and nftables layers share (no addon).
import * as assert from 'assert';
import { code } from './coded';
import { parseCidr, parseIp, validateIfname, validateMac, validateU32 } from '../../src/util/ip';
import { checkFamily, checkKeys, checkNamedNumber } from '../../src/errors';
import { checkHandle, checkObjName, familyNum, flagBits } from '../../src/nft/common';
import { keyType } from '../../src/nft/datatype';


describe('unit: validators', () => {
  it('interface names: no NUL (C would stop there), strings only', () => {
    assert.throws(() => validateIfname('a\0b'), code('EINVAL', /NUL/));
    assert.throws(() => validateIfname('victim\0x'), code('EINVAL', /NUL/));
    assert.throws(() => validateIfname(5 as any), code('ERR_INVALID_ARG_TYPE', /interface name must be a string/));
    assert.throws(() => validateIfname(null as any), code('ERR_INVALID_ARG_TYPE'));
    assert.throws(() => validateIfname(''), code('EINVAL', /empty/));
    assert.strictEqual(validateIfname('eth0'), 'eth0');
  });
  it('addresses: no zone index, strings only', () => {
    assert.throws(() => parseCidr('fe80::1%eth0/64'), code('EINVAL', /zone/));
    assert.throws(() => parseIp('fe80::1%eth0'), code('EINVAL', /zone/));
    assert.throws(() => parseCidr(null as any), code('ERR_INVALID_ARG_TYPE'));
    assert.throws(() => parseIp(7 as any, 'gateway'), code('ERR_INVALID_ARG_TYPE', /^gateway must be a string/));
    assert.deepStrictEqual(parseCidr('fe80::1/64'), { family: 6, address: 'fe80::1', prefix: 64 });
  });
  it('MACs and integers: types first, then values', () => {
    assert.throws(() => validateMac(1 as any, 'lladdr'), code('ERR_INVALID_ARG_TYPE', /^lladdr must be a string/));
    assert.throws(() => validateMac('01:00:00:00:00:01'), code('EINVAL', /multicast/));
    assert.throws(() => validateU32('0x5dc' as any, 'mtu', 68, 65535), code('ERR_INVALID_ARG_TYPE', /^mtu must be an integer/));
    assert.throws(() => validateU32(70000, 'port', 0, 65535), code('EINVAL', /port must be an integer in 0\.\.65535 \(received 70000\)/));
    assert.throws(() => validateU32(NaN, 'n'), code('EINVAL'));
  });
  it('families, named numbers, unknown options', () => {
    assert.throws(() => checkFamily(5), code('EINVAL', /family must be 4 or 6 \(received 5\)/));
    assert.throws(() => checkFamily('4'), code('ERR_INVALID_ARG_TYPE'));
    assert.strictEqual(checkNamedNumber('main', 'table', { main: 254 }), 254);
    assert.throws(() => checkNamedNumber('toString', 'table', { main: 254 }), code('EINVAL'));
    assert.throws(() => checkNamedNumber(true, 'table', { main: 254 }), code('ERR_INVALID_ARG_TYPE'));
    assert.throws(() => checkKeys({ mtuu: 1 }, ['mtu'], 'link.set'), code('EINVAL', /unknown option "mtuu"/));
    checkKeys({ mtu: 1, other: undefined }, ['mtu'], 'link.set');
  });
  it('nftables names, handles, families, flags and key types', () => {
    assert.throws(() => familyNum(2 as any), code('ERR_INVALID_ARG_TYPE'));
    assert.throws(() => familyNum('ipx'), code('EINVAL'));
    assert.throws(() => checkObjName(5, 'table'), code('ERR_INVALID_ARG_TYPE'));
    assert.throws(() => checkObjName('a\0b', 'table'), code('EINVAL'));
    assert.throws(() => checkHandle('3', 'rule'), code('ERR_INVALID_ARG_TYPE'));
    assert.throws(() => flagBits('dormant' as any, { dormant: 1 }, 'table'), code('ERR_INVALID_ARG_TYPE', /table flags must be a list/));
    assert.throws(() => flagBits(['constructor'], { dormant: 1 }, 'table'), code('EINVAL'));
    assert.throws(() => keyType(7 as any), code('ERR_INVALID_ARG_TYPE'));
    assert.strictEqual(keyType(['inet_proto', 'inet_service']).name, 'inet_proto . inet_service');
  });
});
