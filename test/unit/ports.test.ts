// Unit tier: pure logic, no root, no namespaces, no native addon.
import * as assert from 'assert';
import {
  EPHEMERAL, PortAllocator, ephemeralRange, bindingsPerFamily, hostAddresses, parsePublish, portFilterKey, portRequests, publishAllRequest, publishedPorts,
  type PortRequest, type PortSpec,
} from '../../src/cnm/ports';

const code = (c: string) => (e: any) => e instanceof Error && (e as any).code === c;
const V4 = { v4: true, v6: false };
const DUAL = { v4: true, v6: true };
/** One request of a spec (it must make exactly one). */
const one = (s: PortSpec | string): PortRequest => { const r = portRequests(s); assert.strictEqual(r.length, 1); return r[0]; };

describe('unit: -p parsing', () => {
  it('reads Docker forms', () => {
    assert.deepStrictEqual(parsePublish('8080:80'), { containerPort: 80, hostPort: 8080, proto: 'tcp' });
    assert.deepStrictEqual(parsePublish('127.0.0.1:9000:9000/udp'), { containerPort: 9000, hostPort: 9000, proto: 'udp', hostIp: '127.0.0.1' });
    assert.deepStrictEqual(parsePublish('80'), { containerPort: 80, hostPort: 0, proto: 'tcp' });
  });

  it('every form: ip, empty host port, ranges, IPv6 in brackets, protocols', () => {
    assert.deepStrictEqual(parsePublish('53/udp'), { containerPort: 53, hostPort: 0, proto: 'udp' });
    assert.deepStrictEqual(parsePublish('9/sctp'), { containerPort: 9, hostPort: 0, proto: 'sctp' });
    assert.deepStrictEqual(parsePublish('127.0.0.1::80'), { containerPort: 80, hostPort: 0, proto: 'tcp', hostIp: '127.0.0.1' });
    assert.deepStrictEqual(parsePublish('0.0.0.0:8080:80'), { containerPort: 80, hostPort: 8080, proto: 'tcp', hostIp: '0.0.0.0' });
    assert.deepStrictEqual(parsePublish('8000-8010:80'), { containerPort: 80, hostPort: '8000-8010', proto: 'tcp' });
    assert.deepStrictEqual(parsePublish('10.0.0.1:8000-8000:80/udp'), { containerPort: 80, hostPort: '8000-8000', proto: 'udp', hostIp: '10.0.0.1' });
    assert.deepStrictEqual(parsePublish('[::1]:8080:80'), { containerPort: 80, hostPort: 8080, proto: 'tcp', hostIp: '::1' });
    assert.deepStrictEqual(parsePublish('[::]:8080:80'), { containerPort: 80, hostPort: 8080, proto: 'tcp', hostIp: '::' });
    assert.deepStrictEqual(parsePublish('[2001:db8::5]::443/tcp'), { containerPort: 443, hostPort: 0, proto: 'tcp', hostIp: '2001:db8::5' });
    assert.deepStrictEqual(parsePublish('0:80'), { containerPort: 80, hostPort: 0, proto: 'tcp' }, 'host port 0: any free one');
  });

  it('container port ranges: with a host range of the same length, alone, with a host IP, UDP', () => {
    assert.deepStrictEqual(parsePublish('8000-8010:80-90'), { containerPort: '80-90', hostPort: '8000-8010', proto: 'tcp' });
    assert.deepStrictEqual(parsePublish('80-90'), { containerPort: '80-90', hostPort: 0, proto: 'tcp' });
    assert.deepStrictEqual(parsePublish('127.0.0.1:8000-8010:80-90'), { containerPort: '80-90', hostPort: '8000-8010', proto: 'tcp', hostIp: '127.0.0.1' });
    assert.deepStrictEqual(parsePublish('5000-5001:53-54/udp'), { containerPort: '53-54', hostPort: '5000-5001', proto: 'udp' });
    assert.deepStrictEqual(parsePublish('[::1]::80-81'), { containerPort: '80-81', hostPort: 0, proto: 'tcp', hostIp: '::1' });
  });

  it('refuses garbage with EINVAL', () => {
    assert.throws(() => parsePublish('x:80'), (e: any) => e.code === 'EINVAL');
    const bad = [
      '', '80/icmp', '80/TCP', '0', '65536', '99999:80', '8080:0', '8080:65536', '8010-8000:80', '0-10:80',
      '256.0.0.1:80:80', '1.2.3:80:80', '[::1:80:80', '[1.2.3.4]:80:80', '::1:8080:80', '[fe80::1%eth0]:80:80',
      '[zzz]:80:80', '8080:80:90', ' 80', '80 ', '8080:80/', '-1:80', 'a-b:80',
      // Container ranges: unequal lengths, one host port for many, backwards, past 65535, from 0.
      '8000-8005:80-90', '8000:80-90', '8000-8010:80-81', '90-80', '8000-8010:90-80', '65530-65540', '65530-65540:65530-65540', '0-5', '8000-8005:0-5',
    ];
    for (const s of bad) assert.throws(() => parsePublish(s), code('EINVAL'), JSON.stringify(s));
    assert.throws(() => parsePublish('8000-8005:80-90'), /8000-8005.*80-90.*different lengths/, 'the message names both ranges');
    assert.throws(() => parsePublish(80 as any), code('ERR_INVALID_ARG_TYPE'));
    assert.throws(() => parsePublish(undefined as any), code('ERR_INVALID_ARG_TYPE'));
    // A BigInt or Symbol where a number goes: typed, never a TypeError from a message builder.
    for (const v of [10n, Symbol('p')]) assert.throws(() => portRequests({ hostPort: v as any, containerPort: 80 }), code('ERR_INVALID_ARG_TYPE'));
  });
});

describe('unit: port requests (one per container port)', () => {
  it('a container range is a request per port: paired with a host range in order, or each any free port', () => {
    const paired = portRequests('8000-8002:80-82/udp');
    assert.deepStrictEqual(paired.map((r) => [r.lo, r.hi, r.containerPort, r.proto]), [[8000, 8000, 80, 'udp'], [8001, 8001, 81, 'udp'], [8002, 8002, 82, 'udp']]);
    const each = portRequests('127.0.0.1::80-81');
    assert.deepStrictEqual(each.map((r) => [r.hostIp, r.lo, r.hi, r.containerPort]), [['127.0.0.1', ...EPHEMERAL, 80], ['127.0.0.1', ...EPHEMERAL, 81]]);
    // The object form says the same.
    assert.deepStrictEqual(portRequests({ hostPort: '8000-8002', containerPort: '80-82', proto: 'udp' }).map((r) => [r.lo, r.containerPort]), [[8000, 80], [8001, 81], [8002, 82]]);
    // One container port with a host range: the first free port of the range (as before).
    assert.deepStrictEqual([one('8000-8010:80').lo, one('8000-8010:80').hi], [8000, 8010]);
    assert.deepStrictEqual([one({ containerPort: '80-80', hostPort: 9000 }).lo, one({ containerPort: 80 }).lo], [9000, EPHEMERAL[0]]);
  });

  it('canonical host addresses; bad objects are EINVAL or a type error', () => {
    assert.strictEqual(one({ hostIp: '0:0::0', containerPort: 80 }).hostIp, '::');
    assert.strictEqual(one({ hostIp: '2001:DB8:0:0::1', containerPort: 80 }).hostIp, '2001:db8::1');
    assert.strictEqual(one({ hostIp: '::ffff:10.0.0.1', containerPort: 80 }).hostIp, '10.0.0.1', 'IPv4-mapped is IPv4, as Docker unmaps it');
    for (const spec of [
      { hostPort: 8080, containerPort: 0 }, { hostPort: 8080, containerPort: 70000 }, { hostPort: 8080, containerPort: 1.5 },
      { hostPort: 65536, containerPort: 80 }, { hostPort: '9-8', containerPort: 80 }, { hostPort: '8080', containerPort: 80 },
      { hostIp: '10.0.0', hostPort: 8080, containerPort: 80 }, { hostPort: 8080, containerPort: 80, proto: 'icmp' },
      { hostPort: 8080, containerPort: '80-90' }, { hostPort: '8000-8001', containerPort: '80-90' }, { containerPort: '65535-65536' },
      { containerPort: 'x' }, { containerPort: 80, extra: 1 }, { hostIp: 'fe80::1%eth0', containerPort: 80 },
    ]) assert.throws(() => portRequests(spec as any), code('EINVAL'), JSON.stringify(spec));
    for (const spec of [{ containerPort: true }, { containerPort: 80, hostPort: null }, { containerPort: 80, hostIp: 1 }, null, 80]) {
      assert.throws(() => portRequests(spec as any), code('ERR_INVALID_ARG_TYPE'), JSON.stringify(spec));
    }
  });

  it('-P: any free port for an exposed one', () => {
    assert.deepStrictEqual(publishAllRequest('53/udp'), { lo: EPHEMERAL[0], hi: EPHEMERAL[1], containerPort: 53, proto: 'udp', spec: '-P 53/udp' });
  });
});

describe('unit: host addresses, as Docker 28', () => {
  it('no host IP: every family the endpoint has; 0.0.0.0 IPv4 only; :: IPv6 only', () => {
    assert.deepStrictEqual(hostAddresses(one('8080:80'), DUAL, 'network n'), ['0.0.0.0', '::']);
    assert.deepStrictEqual(hostAddresses(one('8080:80'), V4, 'network n'), ['0.0.0.0']);
    assert.deepStrictEqual(hostAddresses(one('0.0.0.0:8080:80'), DUAL, 'network n'), ['0.0.0.0']);
    assert.deepStrictEqual(hostAddresses(one('[::]:8080:80'), DUAL, 'network n'), ['::']);
    assert.deepStrictEqual(hostAddresses(one('[::1]:8080:80'), DUAL, 'network n'), ['::1']);
    // The network's host_binding_ipv4 replaces the default: IPv4 only, as Docker.
    assert.deepStrictEqual(hostAddresses(one('8080:80'), DUAL, 'network n', '127.0.0.1'), ['127.0.0.1']);
    assert.deepStrictEqual(hostAddresses(one('[::]:8080:80'), DUAL, 'network n', '127.0.0.1'), ['::']);
  });

  it('a family the endpoint lacks is EINVAL naming it', () => {
    assert.throws(() => hostAddresses(one('[::]:8080:80'), V4, 'network n'), (e: any) => e.code === 'EINVAL' && /host IP :: is IPv6 but network n has no IPv6 subnet/.test(e.message));
    assert.throws(() => hostAddresses(one('0.0.0.0:8080:80'), { v4: false, v6: true }, 'network n'), /IPv4 but network n has no IPv4 subnet/);
    assert.throws(() => hostAddresses(one('8080:80'), { v4: false, v6: false }, 'network n'), code('EINVAL'));
  });
});

describe('unit: port allocation', () => {
  const alloc = (p: PortAllocator, s: PortSpec | string, has = V4) => { const r = one(s); return p.allocate(r, hostAddresses(r, has, 'network n')); };

  it('the same port on an IPv4 wildcard and on a specific IPv4 conflict, both ways; different IPs do not', () => {
    const p = new PortAllocator();
    alloc(p, { hostIp: '10.0.0.1', hostPort: 8080, containerPort: 80 });
    assert.deepStrictEqual(alloc(p, { hostIp: '10.0.0.2', hostPort: 8080, containerPort: 80 }), [{ hostIp: '10.0.0.2', hostPort: 8080, containerPort: 80, proto: 'tcp' }]);
    assert.throws(() => alloc(p, { hostIp: '10.0.0.1', hostPort: 8080, containerPort: 81 }), (e: any) => e.code === 'EADDRINUSE' && /10\.0\.0\.1:8080\/tcp/.test(e.message));
    assert.throws(() => alloc(p, { hostPort: 8080, containerPort: 80 }), code('EADDRINUSE'), '0.0.0.0 after a specific IP');
    const q = new PortAllocator();
    alloc(q, { hostPort: 9090, containerPort: 80 });
    assert.throws(() => alloc(q, { hostIp: '10.0.0.1', hostPort: 9090, containerPort: 80 }), code('EADDRINUSE'), 'specific IP after 0.0.0.0');
    assert.strictEqual(alloc(q, { hostPort: 9090, containerPort: 80, proto: 'udp' })[0].proto, 'udp', 'other protocol, no conflict');
  });

  it('families apart: 0.0.0.0 does not take ::, nor :: any IPv4 address; :: conflicts with every IPv6 address', () => {
    const p = new PortAllocator();
    alloc(p, '0.0.0.0:7000:80');
    assert.deepStrictEqual(alloc(p, '[::]:7000:80', DUAL), [{ hostIp: '::', hostPort: 7000, containerPort: 80, proto: 'tcp' }], ':: beside 0.0.0.0');
    assert.throws(() => alloc(p, '[::1]:7000:80', DUAL), (e: any) => e.code === 'EADDRINUSE' && /\[::1\]:7000\/tcp is already allocated/.test(e.message));
    assert.throws(() => alloc(p, '127.0.0.1:7000:80'), code('EADDRINUSE'));
    assert.throws(() => alloc(p, '7000:80', DUAL), code('EADDRINUSE'), 'a default mapping needs both');
    const q = new PortAllocator();
    alloc(q, '[2001:db8::1]:7001:80', DUAL);
    assert.deepStrictEqual(alloc(q, '0.0.0.0:7001:80').length, 1, 'IPv4 wildcard beside an IPv6 address');
    assert.throws(() => alloc(q, '[::]:7001:80', DUAL), code('EADDRINUSE'), ':: after an IPv6 address');
    assert.deepStrictEqual(alloc(q, '[2001:db8::2]:7001:80', DUAL)[0].hostIp, '2001:db8::2');
  });

  it('a default mapping on an IPv6 network gets one port for both families, the next free in both', () => {
    const p = new PortAllocator();
    alloc(p, '[::]:8000:80', DUAL);
    const bs = alloc(p, '8000-8002:80', DUAL);
    assert.deepStrictEqual(bs, [{ hostIp: '0.0.0.0', hostPort: 8001, containerPort: 80, proto: 'tcp' }, { hostIp: '::', hostPort: 8001, containerPort: 80, proto: 'tcp' }]);
    // IPv4 only: after the last one given on 0.0.0.0 (8001, with ::), though 8000 is free on IPv4.
    assert.strictEqual(alloc(p, '0.0.0.0:8000-8002:80')[0].hostPort, 8002);
    // Given back by a dual-stack mapping, a port is not the next one for an IPv4-only one either.
    const q = new PortAllocator();
    const [d] = alloc(q, '7100-7103:80', DUAL);
    q.release(d);
    q.release({ ...d, hostIp: '::' });
    assert.strictEqual(alloc(q, '0.0.0.0:7100-7103:80')[0].hostPort, 7101);
  });

  it('ranges take the first free port; a full range is ENOSPC', () => {
    const p = new PortAllocator();
    const r = (hostIp?: string) => alloc(p, { hostIp, hostPort: '8000-8002', containerPort: 80 })[0].hostPort;
    assert.deepStrictEqual([r(), r(), r()], [8000, 8001, 8002]);
    assert.throws(() => r(), code('ENOSPC'));
    assert.throws(() => r('10.0.0.1'), code('ENOSPC'), 'all taken on 0.0.0.0');
    p.release({ hostIp: '0.0.0.0', hostPort: 8001, containerPort: 80, proto: 'tcp' });
    assert.strictEqual(r(), 8001, 'released ports come back');
  });

  it('hostPort 0 picks the lowest free ephemeral port; restore marks existing ones', () => {
    const p = new PortAllocator();
    assert.strictEqual(alloc(p, { hostPort: 0, containerPort: 80 })[0].hostPort, EPHEMERAL[0]);
    p.restore({ hostIp: '0.0.0.0', hostPort: EPHEMERAL[0] + 1, containerPort: 80, proto: 'tcp' });
    assert.strictEqual(alloc(p, { hostPort: 0, containerPort: 81 })[0].hostPort, EPHEMERAL[0] + 2);
    assert.throws(() => alloc(p, { hostPort: EPHEMERAL[0] + 1, containerPort: 80 }), code('EADDRINUSE'));
    // Given back, a port is not handed out again at once: the search goes on after the last one, round the range.
    p.release({ hostIp: '0.0.0.0', hostPort: EPHEMERAL[0], containerPort: 80, proto: 'tcp' });
    assert.strictEqual(alloc(p, { hostPort: 0, containerPort: 82 })[0].hostPort, EPHEMERAL[0] + 3);
    const q = new PortAllocator();
    const r = () => alloc(q, { hostPort: '7000-7002', containerPort: 80 })[0].hostPort;
    assert.deepStrictEqual([r(), r()], [7000, 7001]);
    q.release({ hostIp: '0.0.0.0', hostPort: 7000, containerPort: 80, proto: 'tcp' });
    assert.deepStrictEqual([r(), r()], [7002, 7000], 'wraps round');
  });

  it('the ephemeral range is the kernel\'s ip_local_port_range, as Docker reads it; unreadable or bad, 49153-60999', () => {
    const fs = require('fs');
    const os = require('os');
    const path = require('path');
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'range-'));
    const f = (text: string) => { fs.writeFileSync(path.join(d, 'r'), text); return path.join(d, 'r'); };
    assert.deepStrictEqual(ephemeralRange(f('32768\t60999\n')), [32768, 60999]);
    assert.deepStrictEqual(ephemeralRange(f('40000 40000\n')), [40000, 40000]);
    for (const bad of ['60999 32768\n', '0 100\n', '1 70000\n', 'x y\n']) assert.deepStrictEqual(ephemeralRange(f(bad)), [49153, 60999], bad);
    assert.deepStrictEqual(ephemeralRange(path.join(d, 'missing')), [49153, 60999]);
    fs.rmSync(d, { recursive: true });
  });
});

describe('unit: docker port', () => {
  const bs = [
    { hostIp: '0.0.0.0', hostPort: 8443, containerPort: 443, proto: 'tcp' as const },
    { hostIp: '0.0.0.0', hostPort: 8080, containerPort: 80, proto: 'tcp' as const },
    { hostIp: '::', hostPort: 8080, containerPort: 80, proto: 'tcp' as const },
    { hostIp: '127.0.0.1', hostPort: 5353, containerPort: 80, proto: 'udp' as const },
  ];

  it('by container port then protocol, each port\'s bindings in order', () => {
    const all = publishedPorts(bs, 'sandbox web');
    assert.deepStrictEqual(Object.keys(all), ['80/tcp', '80/udp', '443/tcp']);
    assert.deepStrictEqual(all['80/tcp'], [{ hostIp: '0.0.0.0', hostPort: 8080 }, { hostIp: '::', hostPort: 8080 }]);
    assert.deepStrictEqual(publishedPorts(bs, 'sandbox web', '80'), { '80/tcp': all['80/tcp'] });
    assert.deepStrictEqual(publishedPorts(bs, 'sandbox web', '80/udp'), { '80/udp': [{ hostIp: '127.0.0.1', hostPort: 5353 }] });
    assert.deepStrictEqual(publishedPorts([], 'sandbox web'), {});
  });

  it('an unpublished port is ENOENT as docker port says it; a malformed filter EINVAL', () => {
    assert.throws(() => publishedPorts(bs, 'sandbox web', '81'), (e: any) => e.code === 'ENOENT' && e.message === "no public port '81/tcp' published for sandbox web");
    assert.throws(() => publishedPorts(bs, 'sandbox web', '443/udp'), code('ENOENT'));
    for (const f of ['', 'x', '80/icmp', '80/TCP', '0', '65536', '80-81', ' 80', '80/']) assert.throws(() => portFilterKey(f), code('EINVAL'), JSON.stringify(f));
    assert.throws(() => publishedPorts(bs, 'sandbox web', 80 as any), code('ERR_INVALID_ARG_TYPE'));
  });
});

describe('unit: records of the version before one binding per family', () => {
  it('a wildcard binding stood for every family the endpoint has; others stay', () => {
    const old = [
      { hostIp: '0.0.0.0', hostPort: 8080, containerPort: 80, proto: 'tcp' as const },
      { hostIp: '::', hostPort: 9090, containerPort: 90, proto: 'tcp' as const },
      { hostIp: '127.0.0.1', hostPort: 7070, containerPort: 70, proto: 'udp' as const },
    ];
    assert.deepStrictEqual(bindingsPerFamily(old, DUAL).map((b) => `${b.hostIp}/${b.hostPort}`), ['0.0.0.0/8080', '::/8080', '0.0.0.0/9090', '::/9090', '127.0.0.1/7070']);
    assert.deepStrictEqual(bindingsPerFamily(old, V4).map((b) => `${b.hostIp}/${b.hostPort}`), ['0.0.0.0/8080', '0.0.0.0/9090', '127.0.0.1/7070']);
  });
});
