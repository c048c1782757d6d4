// Unit tier: IPAM (pools, subnets, addresses) and the address math under it.
import * as assert from 'assert';
import * as ipaddr from 'ipaddr.js';
import { DEFAULT_POOLS, SubnetAllocator, fromBig, overlaps, parsePrefix, pickSubnet, prefixText, toBig, ulaSubnet, Prefix } from '../../src/cnm/ipam';
import { subnetRequests } from '../../src/cnm/ipam-config';
import { NetAlloc } from '../../src/cnm/net-alloc';
import { upgradeNetworkRecord } from '../../src/cnm/network';
import type { NetworkCreateOptions, NetworkRecord } from '../../src/cnm/types';
import { bytesToIp, canonicalIp, intToIp4, ip4ToInt, ipBytes, maskOf, network4 } from '../../src/util/ip';

const code = (c: string) => (e: any) => e instanceof Error && (e as any).code === c;

describe('unit: address math (ipaddr.js)', () => {
  it('an address as a number, per family: the remembered ones never answer for another family', () => {
    assert.strictEqual(toBig('61.2.3.4', 4), 0x3d020304n);
    assert.throws(() => toBig('1.2.3.4', 6), /not IPv6/);
    assert.strictEqual(toBig('::1.2.3.4', 6), 0x01020304n);
    assert.throws(() => toBig('::1.2.3.4', 4), /not IPv4/);
    assert.strictEqual(toBig('10.0.0.1', 4), toBig('10.0.0.1', 4));
  });

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
    // A static address outside the range, released: the next ones still come from the range.
    const b = new SubnetAllocator({ subnet: '10.10.0.0/24', range: '10.10.0.128/26', used: [] });
    b.reserve('10.10.0.5');
    b.release('10.10.0.5');
    assert.deepStrictEqual([b.allocate(), b.allocate()], ['10.10.0.128', '10.10.0.129']);
    const c = new SubnetAllocator({ subnet: 'fd11::/64', range: 'fd11::100/120', used: [] });
    c.reserve('fd11::5');
    c.release('fd11::5');
    assert.strictEqual(c.allocate(), 'fd11::100');
  });

  it('IPv6: a /48 per host as Docker derives it from the host id (sha256 c0365b5a3867cc38...: fd5a:3867:cc38::/48), its /64s in order; addresses canonical', () => {
    const s = ulaSubnet('host1', []);
    assert.strictEqual(s, 'fd5a:3867:cc38::/64');
    assert.strictEqual(ulaSubnet('host1', [parsePrefix(s)]), 'fd5a:3867:cc38:1::/64');
    assert.strictEqual(ulaSubnet('host1', [parsePrefix(s), parsePrefix('fd5a:3867:cc38:1::/64')]), 'fd5a:3867:cc38:2::/64');
    assert.notStrictEqual(ulaSubnet('host2', []), s, 'another host, another /48');
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

describe('unit: several subnets per network (IPAM.Config)', () => {
  const two = () => new NetAlloc([
    new SubnetAllocator({ subnet: '10.30.0.0/29', gateway: '10.30.0.1', used: ['10.30.0.1'] }),
    new SubnetAllocator({ subnet: 'fd30::/64', gateway: 'fd30::1', range: 'fd30::100/126', used: ['fd30::1'] }),
    new SubnetAllocator({ subnet: '10.31.0.0/24', gateway: '10.31.0.254', range: '10.31.0.128/30', used: ['10.31.0.254'] }),
  ]);

  it('families apart, IPv4 first, each in config order; absent when a family has none', () => {
    const a = two();
    assert.deepStrictEqual(a.v4!.map((s) => s.subnet), ['10.30.0.0/29', '10.31.0.0/24']);
    assert.deepStrictEqual(a.v6!.map((s) => s.subnet), ['fd30::/64']);
    assert.deepStrictEqual(a.all.map((s) => s.subnet), ['10.30.0.0/29', '10.31.0.0/24', 'fd30::/64']);
    const none = new NetAlloc();
    assert.strictEqual(none.v4, undefined);
    assert.strictEqual(none.v6, undefined);
    assert.throws(() => none.allocate(4, 'n'), code('ENOSPC'));
  });

  it('fills the first subnet, then the next (libnetwork order); ranges per subnet, IPv6 too; release gives back to the right one', () => {
    const a = two();
    const got = Array.from({ length: 9 }, () => a.allocate(4, 'net'));
    assert.deepStrictEqual(got, ['10.30.0.2', '10.30.0.3', '10.30.0.4', '10.30.0.5', '10.30.0.6', '10.31.0.128', '10.31.0.129', '10.31.0.130', '10.31.0.131']);
    assert.throws(() => a.allocate(4, 'net'), (e: any) => e.code === 'ENOSPC' && /10\.30\.0\.0\/29, 10\.31\.0\.128\/30/.test(e.message));
    a.release('10.30.0.4');
    assert.strictEqual(a.allocate(4, 'net'), '10.30.0.4', 'a freed address of the first subnet comes back first');
    assert.deepStrictEqual([a.allocate(6, 'net'), a.allocate(6, 'net')], ['fd30::100', 'fd30::101'], 'IPv6 from its range');
    assert.strictEqual(a.cidr('10.31.0.129'), '10.31.0.129/24');
    assert.strictEqual(a.cidr('10.30.0.2'), '10.30.0.2/29');
    assert.strictEqual(a.gatewayOf('10.31.0.129'), '10.31.0.254');
    assert.strictEqual(a.gatewayOf('fd30::100'), 'fd30::1');
    assert.strictEqual(a.gatewayOf('10.99.0.1'), undefined);
    assert.throws(() => a.cidr('10.99.0.1'), code('EINVAL'));
  });

  it('a static address goes to the subnet holding it; in none, of the wrong family or taken is refused', () => {
    const a = two();
    assert.strictEqual(a.reserve(4, '10.31.0.7', 'IP address', 'net'), '10.31.0.7', 'outside the range, inside the subnet');
    assert.ok(a.v4![1].isUsed('10.31.0.7'));
    assert.ok(!a.v4![0].isUsed('10.31.0.7'));
    assert.throws(() => a.reserve(4, '10.31.0.7', 'IP address', 'net'), code('EADDRINUSE'));
    assert.throws(() => a.reserve(4, '10.31.0.254', 'IP address', 'net'), code('EADDRINUSE'), 'the gateway');
    assert.throws(() => a.reserve(4, '10.32.0.7', 'IP address', 'net'),
      (e: any) => e.code === 'EINVAL' && /IP address 10\.32\.0\.7 is outside every IPv4 subnet of network net \(10\.30\.0\.0\/29, 10\.31\.0\.0\/24\)/.test(e.message));
    assert.throws(() => a.reserve(4, 'fd30::9', 'IP address', 'net'), (e: any) => e.code === 'EINVAL' && /not IPv4/.test(e.message));
    assert.throws(() => a.reserve(4, '10.31.0.300', 'IP address', 'net'), code('EINVAL'));
    assert.throws(() => a.reserve(4, '10.31.0.7/24', 'IP address', 'net'), code('EINVAL'));
    assert.throws(() => new NetAlloc([new SubnetAllocator({ subnet: '10.1.0.0/24', used: [] })]).reserve(6, 'fd00::5', 'IPv6 address', 'v4only'),
      (e: any) => e.code === 'EINVAL' && /v4only has no IPv6 subnet/.test(e.message));
    // Restore marks in use where it belongs, and leaves alone what is in no subnet.
    a.restore('10.30.0.3');
    a.restore('10.99.0.1');
    assert.ok(a.isUsed('10.30.0.3'));
    assert.strictEqual(a.allocate(4, 'net'), '10.30.0.2');
    assert.strictEqual(a.allocate(4, 'net'), '10.30.0.4');
  });

  it('auxiliary addresses: reserved, never handed out, kept in the state; a static IP equal to one is EADDRINUSE', () => {
    const s = new SubnetAllocator({ subnet: '10.40.0.0/29', used: [] });
    s.gateway = s.allocate();
    assert.strictEqual(s.reserveAux('router', '10.40.0.2'), '10.40.0.2');
    s.reserveAux('nas', '10.40.0.4');
    assert.deepStrictEqual([s.allocate(), s.allocate(), s.allocate()], ['10.40.0.3', '10.40.0.5', '10.40.0.6']);
    assert.throws(() => s.allocate(), code('ENOSPC'));
    assert.throws(() => s.reserve('10.40.0.2', 'IP address'), (e: any) => e.code === 'EADDRINUSE' && /auxiliary address "router"/.test(e.message));
    s.release('10.40.0.2');
    assert.ok(s.isUsed('10.40.0.2'), 'releasing an auxiliary address does nothing');
    assert.throws(() => s.reserveAux('gw', '10.40.0.1'), (e: any) => e.code === 'EINVAL' && /is the gateway/.test(e.message));
    assert.throws(() => s.reserveAux('again', '10.40.0.4'), (e: any) => e.code === 'EINVAL' && /also auxiliary address "nas"/.test(e.message));
    assert.throws(() => s.reserveAux('out', '10.41.0.4'), (e: any) => e.code === 'EINVAL' && /outside subnet/.test(e.message));
    assert.throws(() => s.reserveAux('bcast', '10.40.0.7'), code('EINVAL'));
    assert.throws(() => s.reserveAux('v6', 'fd00::4'), code('EINVAL'));
    assert.throws(() => s.reserveAux('', '10.40.0.3'), code('EINVAL'));
    assert.throws(() => s.reserveAux('pfx', '10.40.0.3/29'), code('EINVAL'));
    const st = s.state();
    assert.deepStrictEqual(st.aux, { router: '10.40.0.2', nas: '10.40.0.4' });
    // Back from the record: the auxiliary addresses are reserved again.
    const back = new NetAlloc([new SubnetAllocator({ ...st, used: [st.gateway!] })]);
    assert.deepStrictEqual(back.states(), [{ subnet: '10.40.0.0/29', gateway: '10.40.0.1', range: undefined, aux: { router: '10.40.0.2', nas: '10.40.0.4' }, used: ['10.40.0.1'] }]);
    assert.strictEqual(back.allocate(4, 'n'), '10.40.0.3');
    assert.strictEqual(back.allocate(4, 'n'), '10.40.0.5');
    assert.deepStrictEqual(new SubnetAllocator({ subnet: '10.40.0.0/24', aux: JSON.parse('{"__proto__":"10.40.0.9"}'), used: [] }).auxAddresses(), JSON.parse('{"__proto__":"10.40.0.9"}'));
  });

  it('the configuration as one list: Docker\'s IPAM.Config or the shorthands, checked for shape', () => {
    const req = (o: Partial<NetworkCreateOptions>) => subnetRequests({ name: 'n', ...o }).map(({ names: _n, ...r }) => r);
    assert.deepStrictEqual(req({}), [{ family: 4, subnet: undefined, gateway: undefined, ipRange: undefined }]);
    assert.deepStrictEqual(req({ ipv6: true }).map((r) => r.family), [4, 6]);
    assert.deepStrictEqual(req({ subnet6: 'fd00::/64' }).map((r) => [r.family, r.subnet]), [[4, undefined], [6, 'fd00::/64']], 'subnet6 implies ipv6');
    assert.deepStrictEqual(req({ ipv6: true, ipam: [{ subnet: 'fd01::/64', ipRange: 'fd01::/120' }, { subnet: '10.0.0.0/24', auxAddresses: { r: '10.0.0.9' } }, { subnet: '10.0.1.0/24', gateway: '10.0.1.9' }] }), [
      { family: 4, subnet: '10.0.0.0/24', auxAddresses: { r: '10.0.0.9' } },
      { family: 4, subnet: '10.0.1.0/24', gateway: '10.0.1.9' },
      { family: 6, subnet: 'fd01::/64', ipRange: 'fd01::/120' },
    ]);
    assert.deepStrictEqual(req({ ipam: [{ subnet: '10.0.0.0/24' }], ipv6: true }).map((r) => [r.family, r.subnet]), [[4, '10.0.0.0/24'], [6, undefined]], 'a family without an entry is picked');
    assert.deepStrictEqual(req({ ipam: [{ subnet: 'fd01::/64' }], ipv6: true }).map((r) => [r.family, r.subnet]), [[4, undefined], [6, 'fd01::/64']]);
    assert.deepStrictEqual(req({ ipam: [] }).map((r) => r.family), [4]);
    const bad: [Partial<NetworkCreateOptions>, string, RegExp][] = [
      [{ ipam: [{ subnet: 'fd01::/64' }] }, 'EINVAL', /IPv6 has not been enabled/],
      [{ ipam: [{ ipRange: '10.0.0.0/25' }] }, 'EINVAL', /ipam\[0\]: ipRange without a subnet/],
      [{ ipam: [{ gateway: '10.0.0.1', auxAddresses: { a: '10.0.0.2' } }] }, 'EINVAL', /gateway, auxAddresses without a subnet/],
      [{ ipam: [{}] }, 'EINVAL', /ipam\[0\]: subnet is required/],
      [{ ipam: [{ subnet: '10.0.0.0/24', gateway: '' }] }, 'EINVAL', /ipam\[0\]\.gateway must not be empty/],
      [{ ipam: [{ subnet: '10.0.0.1/24' }] }, 'EINVAL', /host bits/],
      [{ ipam: [{ subnet: '10.0.0.0' }] }, 'EINVAL', /prefix length/],
      [{ ipam: [{ subnet: '10.0.0.0/24', bogus: 1 } as any] }, 'EINVAL', /unknown field "bogus"/],
      [{ ipam: [{ subnet: 10 } as any] }, 'ERR_INVALID_ARG_TYPE', /ipam\[0\]\.subnet/],
      [{ ipam: [{ subnet: '10.0.0.0/24', auxAddresses: { a: 5 } } as any] }, 'ERR_INVALID_ARG_TYPE', /auxAddresses/],
      [{ ipam: ['10.0.0.0/24'] as any }, 'ERR_INVALID_ARG_TYPE', /ipam\[0\]/],
      [{ ipam: { subnet: '10.0.0.0/24' } as any }, 'ERR_INVALID_ARG_TYPE', /ipam/],
      [{ ipam: [{ subnet: '10.0.0.0/24' }], subnet: '10.1.0.0/24' }, 'EINVAL', /not both \(subnet given\)/],
      [{ ipam: [{ subnet: '10.0.0.0/24' }], gateway6: 'fd00::1' }, 'EINVAL', /not both/],
      [{ subnet: 'fd00::/64' }, 'EINVAL', /not IPv4/],
      [{ subnet6: '10.0.0.0/24' }, 'EINVAL', /not IPv6/],
      [{ subnet6: 'fd00::/64', ipv6: false }, 'EINVAL', /ipv6 is false/],
      [{ gateway6: 'fd00::1' }, 'EINVAL', /gateway6 needs an IPv6 network/],
    ];
    for (const [o, c, re] of bad) assert.throws(() => subnetRequests({ name: 'n', ...o }), (e: any) => e.code === c && re.test(e.message), JSON.stringify(o));
  });

  it('a record of the single-subnet version is moved to the list once', () => {
    const old = {
      id: 'x', name: 'old', driver: 'bridge', created: '', internal: false, ipv6: true, options: {}, labels: {}, dns: true,
      ipv4Subnet: { subnet: '10.50.0.0/24', gateway: '10.50.0.1', range: '10.50.0.128/25', used: ['10.50.0.1'] },
      ipv6Subnet: { subnet: 'fd50::/64', gateway: 'fd50::1', used: ['fd50::1'] },
    } as NetworkRecord;
    assert.strictEqual(upgradeNetworkRecord(old), true);
    assert.deepStrictEqual(old.subnets, [
      { subnet: '10.50.0.0/24', gateway: '10.50.0.1', range: '10.50.0.128/25', used: ['10.50.0.1'] },
      { subnet: 'fd50::/64', gateway: 'fd50::1', used: ['fd50::1'] },
    ]);
    assert.ok(!('ipv4Subnet' in old) && !('ipv6Subnet' in old));
    assert.strictEqual(upgradeNetworkRecord(old), false, 'nothing more to do');
    const a = NetAlloc.fromStates(old.subnets!);
    assert.strictEqual(a.allocate(4, 'old'), '10.50.0.128');
    assert.strictEqual(a.allocate(6, 'old'), 'fd50::2');
  });
});
