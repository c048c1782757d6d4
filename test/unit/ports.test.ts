// Unit tier: pure logic, no root, no namespaces, no native addon.
import * as assert from 'assert';
import { EPHEMERAL, PortAllocator, isAnyAddress, parsePublish } from '../../src/cnm/ports';

const code = (c: string) => (e: any) => e instanceof Error && (e as any).code === c;

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
    assert.deepStrictEqual(parsePublish('[2001:db8::5]::443/tcp'), { containerPort: 443, hostPort: 0, proto: 'tcp', hostIp: '2001:db8::5' });
    assert.deepStrictEqual(parsePublish('0:80'), { containerPort: 80, hostPort: 0, proto: 'tcp' }, 'host port 0: any free one');
  });

  it('refuses garbage with EINVAL', () => {
    assert.throws(() => parsePublish('x:80'), (e: any) => e.code === 'EINVAL');
    const bad = [
      '', '80/icmp', '80/TCP', '0', '65536', '99999:80', '8080:0', '8080:65536', '8010-8000:80', '0-10:80',
      '256.0.0.1:80:80', '1.2.3:80:80', '[::1:80:80', '[1.2.3.4]:80:80', '::1:8080:80', '[fe80::1%eth0]:80:80',
      '[zzz]:80:80', '8080:80:90', ' 80', '80 ', '8080:80/', '-1:80', '80-90', 'a-b:80',
    ];
    for (const s of bad) assert.throws(() => parsePublish(s), code('EINVAL'), JSON.stringify(s));
    assert.throws(() => parsePublish(80 as any), code('ERR_INVALID_ARG_TYPE'));
    assert.throws(() => parsePublish(undefined as any), code('ERR_INVALID_ARG_TYPE'));
  });
});

describe('unit: port allocation', () => {
  it('the same port on 0.0.0.0 and on a specific IP conflict, both ways; different IPs do not', () => {
    const p = new PortAllocator();
    p.allocate({ hostIp: '10.0.0.1', hostPort: 8080, containerPort: 80 });
    assert.deepStrictEqual(p.allocate({ hostIp: '10.0.0.2', hostPort: 8080, containerPort: 80 }), { hostIp: '10.0.0.2', hostPort: 8080, containerPort: 80, proto: 'tcp' });
    assert.throws(() => p.allocate({ hostIp: '10.0.0.1', hostPort: 8080, containerPort: 81 }), (e: any) => e.code === 'EADDRINUSE' && /10\.0\.0\.1:8080\/tcp/.test(e.message));
    assert.throws(() => p.allocate({ hostPort: 8080, containerPort: 80 }), code('EADDRINUSE'), '0.0.0.0 after a specific IP');
    const q = new PortAllocator();
    q.allocate({ hostPort: 9090, containerPort: 80 });
    assert.throws(() => q.allocate({ hostIp: '10.0.0.1', hostPort: 9090, containerPort: 80 }), code('EADDRINUSE'), 'specific IP after 0.0.0.0');
    assert.throws(() => q.allocate({ hostIp: '::', hostPort: 9090, containerPort: 80 }), code('EADDRINUSE'));
    assert.deepStrictEqual(q.allocate({ hostPort: 9090, containerPort: 80, proto: 'udp' }).proto, 'udp', 'other protocol, no conflict');
  });

  it('IPv6 addresses compare canonically (every spelling of :: is the wildcard)', () => {
    const p = new PortAllocator();
    assert.strictEqual(p.allocate({ hostIp: '0:0::0', hostPort: 7000, containerPort: 80 }).hostIp, '::');
    assert.ok(isAnyAddress('::') && isAnyAddress('0.0.0.0') && !isAnyAddress('::1'));
    assert.strictEqual(p.allocate({ hostIp: '2001:DB8:0:0::1', hostPort: 7001, containerPort: 80 }).hostIp, '2001:db8::1');
    assert.throws(() => p.allocate({ hostIp: '2001:db8::1', hostPort: 7001, containerPort: 80 }), code('EADDRINUSE'));
    assert.throws(() => p.allocate({ hostIp: '127.0.0.1', hostPort: 7000, containerPort: 80 }), code('EADDRINUSE'), ':: covers all');
  });

  it('ranges take the first free port; a full range is ENOSPC', () => {
    const p = new PortAllocator();
    const r = (hostIp?: string) => p.allocate({ hostIp, hostPort: '8000-8002', containerPort: 80 }).hostPort;
    assert.deepStrictEqual([r(), r(), r()], [8000, 8001, 8002]);
    assert.throws(() => r(), code('ENOSPC'));
    assert.throws(() => r('10.0.0.1'), code('ENOSPC'), 'all taken on 0.0.0.0');
    p.release({ hostIp: '0.0.0.0', hostPort: 8001, containerPort: 80, proto: 'tcp' });
    assert.strictEqual(r(), 8001, 'released ports come back');
  });

  it('hostPort 0 picks the lowest free ephemeral port; restore marks existing ones', () => {
    const p = new PortAllocator();
    assert.strictEqual(p.allocate({ hostPort: 0, containerPort: 80 }).hostPort, EPHEMERAL[0]);
    p.restore({ hostIp: '0.0.0.0', hostPort: EPHEMERAL[0] + 1, containerPort: 80, proto: 'tcp' });
    assert.strictEqual(p.allocate({ hostPort: 0, containerPort: 81 }).hostPort, EPHEMERAL[0] + 2);
    assert.throws(() => p.allocate({ hostPort: EPHEMERAL[0] + 1, containerPort: 80 }), code('EADDRINUSE'));
  });

  it('bad specs are EINVAL and take nothing', () => {
    const p = new PortAllocator();
    for (const spec of [
      { hostPort: 8080, containerPort: 0 }, { hostPort: 8080, containerPort: 70000 }, { hostPort: 8080, containerPort: 1.5 },
      { hostPort: 65536, containerPort: 80 }, { hostPort: '9-8', containerPort: 80 }, { hostPort: '8080', containerPort: 80 },
      { hostIp: '10.0.0', hostPort: 8080, containerPort: 80 }, { hostPort: 8080, containerPort: 80, proto: 'icmp' as any },
    ]) assert.throws(() => p.allocate(spec as any), code('EINVAL'), JSON.stringify(spec));
    assert.strictEqual(p.allocate({ hostPort: 8080, containerPort: 80 }).hostPort, 8080, 'nothing was taken');
  });
});
