// Unit tier: IPAM (pools, subnets, addresses) and the address math under it.
import * as assert from 'assert';
import * as ipaddr from 'ipaddr.js';
import { DEFAULT_POOLS, SubnetAllocator, fromBig, overlaps, parsePrefix, pickSubnet, prefixText, toBig, ulaSubnet, Prefix } from '../../src/cnm/ipam';
import { bytesToIp, canonicalIp, intToIp4, ip4ToInt, ipBytes, maskOf, network4 } from '../../src/util/ip';

const code = (c: string) => (e: any) => e instanceof Error && (e as any).code === c;

describe('unit: address math (ipaddr.js)', () => {
  it('IPv6 text is canonical as the kernel prints it (RFC 5952)', () => {
    const cases: [string, string][] = [
      ['FD00:0:0:0:0:0:0:1', 'fd00::1'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],  // the first of two equal runs
      ['2001:0db8:0000:0000:0000:ff00:0042:8329', '2001:db8::ff00:42:8329'],
      ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],              // the longest run
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single 0 stays
      ['0:0::0', '::'],
      ['::0.0.0.0', '::'],
      ['::ffff:1.2.3.4', '::ffff:1.2.3.4'],
      ['::ffff:0102:0304', '::ffff:1.2.3.4'],
      ['::1.2.3.4', '::102:304'],                     // not ::ffff:, as ipaddr.js alone would read it
      ['10.0.0.1', '10.0.0.1'],
    ];
    for (const [i, o] of cases) assert.strictEqual(canonicalIp(i), o, i);
    assert.deepStrictEqual(ipBytes('::1.2.3.4').slice(10), [0, 0, 1, 2, 3, 4]);
    assert.strictEqual(bytesToIp([0xfd, ...Array(14).fill(0), 1]), 'fd00::1');
  });

  it('refuses what inet_pton refuses (ipaddr.js alone takes "1" or "0x7f.1")', () => {
    for (const bad of ['1', '0x7f.1', '1.2.3', '256.1.1.1', 'fe80::1%eth0', '', ':::']) assert.throws(() => ipBytes(bad), code('EINVAL'), bad);
  });

  it('bigint and IPv4 helpers round-trip; masks and networks', () => {
    assert.strictEqual(toBig('10.0.0.1', 4), 0x0a000001n);
    assert.strictEqual(fromBig(0x0a000001n, 4), '10.0.0.1');
    assert.strictEqual(toBig('fd00::1', 6), (0xfdn << 120n) | 1n);
    assert.strictEqual(fromBig((0xfdn << 120n) | 1n, 6), 'fd00::1');
    assert.throws(() => toBig('fd00::1', 4), code('EINVAL'));
    assert.throws(() => toBig('10.1', 4), code('EINVAL'));
    assert.throws(() => fromBig(1n << 32n, 4), code('EINVAL'));
    assert.strictEqual(ip4ToInt('192.168.1.2'), 0xc0a80102);
    assert.strictEqual(intToIp4(0xc0a80102), '192.168.1.2');
    assert.deepStrictEqual([0, 8, 20, 32].map(maskOf), [0, 0xff000000, 0xfffff000, 0xffffffff]);
    assert.strictEqual(network4({ family: 4, address: '172.18.5.9', prefix: 20 }), '172.18.0.0/20');
  });

  it('prefixes: host bits, overlaps, text', () => {
    assert.strictEqual(prefixText(parsePrefix('FD00:0::/64')), 'fd00::/64');
    assert.throws(() => parsePrefix('10.0.0.1/24'), (e: any) => e.code === 'EINVAL' && /network is 10\.0\.0\.0\/24/.test(e.message));
    assert.throws(() => parsePrefix('10.0.0.0'), code('EINVAL'));
    assert.throws(() => parsePrefix('10.0.0.0/33'), code('EINVAL'));
    assert.throws(() => parsePrefix('fd00::1/64'), code('EINVAL'));
    assert.ok(overlaps(parsePrefix('10.0.0.0/8'), parsePrefix('10.1.0.0/16')));
    assert.ok(!overlaps(parsePrefix('10.0.0.0/16'), parsePrefix('10.1.0.0/16')));
    assert.ok(!overlaps(parsePrefix('10.0.0.0/8'), parsePrefix('::/0')), 'families never overlap');
  });
});

describe('unit: IPAM', () => {
  it('picks subnets in Docker pool order: 172.17/16, 172.18/16 ... then 192.168.0.0/20 splits', () => {
    const taken: Prefix[] = [];
    const got: string[] = [];
    for (let i = 0; i < 17; i++) {
      const s = pickSubnet(DEFAULT_POOLS, taken);
      got.push(s);
      taken.push(parsePrefix(s));
    }
    assert.deepStrictEqual(got.slice(0, 3), ['172.17.0.0/16', '172.18.0.0/16', '172.19.0.0/16']);
    assert.strictEqual(got[14], '172.31.0.0/16');
    assert.deepStrictEqual(got.slice(15), ['192.168.0.0/20', '192.168.16.0/20']);
  });

  it('skips subnets that overlap anything taken (host routes, other networks)', () => {
    assert.strictEqual(pickSubnet(DEFAULT_POOLS, [parsePrefix('172.17.3.0/24')]), '172.18.0.0/16');
    assert.strictEqual(pickSubnet(DEFAULT_POOLS, [parsePrefix('172.16.0.0/12')]), '192.168.0.0/20');
    assert.strictEqual(pickSubnet([{ base: '10.140.0.0/22', size: 24 }], [parsePrefix('10.140.0.0/23')]), '10.140.2.0/24');
  });

  it('exhausted pools are ENOSPC; pools that do not fit EINVAL', () => {
    const pools = [{ base: '10.9.0.0/23', size: 24 }];
    assert.throws(() => pickSubnet(pools, [parsePrefix('10.9.0.0/23')]), code('ENOSPC'));
    assert.throws(() => pickSubnet([{ base: '10.9.0.0/24', size: 16 }], []), code('EINVAL'));
    assert.throws(() => pickSubnet([{ base: '10.9.0.0/24', size: 31 }], []), code('EINVAL'));
  });

  it('gateway is the first free address, then lowest free addresses; network and broadcast never', () => {
    const a = new SubnetAllocator({ subnet: '10.5.0.0/29', used: [] });
    assert.strictEqual(a.allocate(), '10.5.0.1');
    assert.deepStrictEqual([a.allocate(), a.allocate()], ['10.5.0.2', '10.5.0.3']);
    a.release('10.5.0.2');
    assert.strictEqual(a.allocate(), '10.5.0.2', 'the lowest free one comes back first');
    assert.deepStrictEqual([a.allocate(), a.allocate(), a.allocate()], ['10.5.0.4', '10.5.0.5', '10.5.0.6']);
    assert.throws(() => a.allocate(), code('ENOSPC'), '.7 is the broadcast');
    assert.throws(() => a.reserve('10.5.0.0'), code('EINVAL'));
    assert.throws(() => a.reserve('10.5.0.7'), code('EINVAL'));
  });

  it('reserve: static addresses, conflicts EADDRINUSE, foreign or bad ones EINVAL', () => {
    const a = new SubnetAllocator({ subnet: '10.6.0.0/24', used: ['10.6.0.1'] });
    assert.strictEqual(a.reserve('10.6.0.9'), '10.6.0.9');
    assert.ok(a.isUsed('10.6.0.9'));
    assert.throws(() => a.reserve('10.6.0.9'), code('EADDRINUSE'));
    assert.throws(() => a.reserve('10.6.0.1'), code('EADDRINUSE'));
    assert.throws(() => a.reserve('10.7.0.9'), code('EINVAL'));
    assert.throws(() => a.reserve('fd00::9'), code('EINVAL'));
    assert.throws(() => a.reserve('10.6.0'), code('EINVAL'));
    assert.strictEqual(a.allocate(), '10.6.0.2');
    a.release('10.6.0.9');
    assert.ok(!a.isUsed('10.6.0.9'));
  });

  it('ipRange: addresses from the range only, inside the subnet', () => {
    const a = new SubnetAllocator({ subnet: '10.8.0.0/16', range: '10.8.5.0/30', used: [] });
    assert.deepStrictEqual([a.allocate(), a.allocate(), a.allocate(), a.allocate()], ['10.8.5.0', '10.8.5.1', '10.8.5.2', '10.8.5.3']);
    assert.throws(() => a.allocate(), code('ENOSPC'));
    assert.strictEqual(a.reserve('10.8.9.9'), '10.8.9.9', 'static addresses may lie outside the range');
    assert.deepStrictEqual(a.state(), { subnet: '10.8.0.0/16', gateway: undefined, range: '10.8.5.0/30', used: [] });
    assert.throws(() => new SubnetAllocator({ subnet: '10.8.0.0/16', range: '10.9.0.0/24', used: [] }), code('EINVAL'));
    assert.throws(() => new SubnetAllocator({ subnet: '10.8.0.0/24', range: '10.8.0.0/16', used: [] }), code('EINVAL'));
    assert.throws(() => new SubnetAllocator({ subnet: '10.8.0.0/31', used: [] }), code('EINVAL'));
  });

  it('IPv6: ULA /64 per seed, stable, avoiding taken ones; addresses canonical', () => {
    const s = ulaSubnet('net1', []);
    assert.match(s, /^fd[0-9a-f]{2}:[0-9a-f:]+::\/64$/);
    assert.strictEqual(ulaSubnet('net1', []), s, 'same seed, same subnet');
    assert.notStrictEqual(ulaSubnet('net1', [parsePrefix(s)]), s);
    const a = new SubnetAllocator({ subnet: s, used: [] });
    const gw = a.allocate();
    const net = parsePrefix(s).net;
    assert.strictEqual(gw, fromBig(net + 1n, 6));
    // Any spelling in, the canonical one out.
    const long = ipaddr.parse(fromBig(net + 5n, 6)).toNormalizedString().toUpperCase();
    assert.strictEqual(a.reserve(long), fromBig(net + 5n, 6));
    assert.ok(a.isUsed(fromBig(net + 5n, 6)));
    const b = new SubnetAllocator({ subnet: 'fd00:1::/126', used: [] });
    assert.deepStrictEqual([b.allocate(), b.allocate(), b.allocate()], ['fd00:1::1', 'fd00:1::2', 'fd00:1::3'], 'no broadcast in IPv6');
    assert.throws(() => b.allocate(), code('ENOSPC'));
  });
});
