import * as assert from 'assert';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { Controller, Netns, Rtnl } from '../src';
import { EPHEMERAL } from '../src/cnm/ports';
import { tmpState } from './cnm-helpers';
import { eventually, hostLinks, rejects, sh } from './helpers';
import { canConnect, outsideNamespace, run, tcpGet, tcpServer, udpAsk, udpServer } from './net-helpers';

// Ports as Docker 28 publishes them: container port ranges, host address
// families (0.0.0.0 IPv4 only, [::] IPv6 only, none given both), conflicts
// per family, -P, and `docker port`. This (isolated) namespace is the host;
// an "outside" namespace stands in for other hosts, over IPv4 and IPv6:
//   host ext0 198.51.100.1/24 2001:db8:e::1/64  <->  outside eth0 198.51.100.2/24 2001:db8:e::2/64
const HOST4 = '198.51.100.1';
const HOST6 = '2001:db8:e::1';

/** A host process listening on address:port; `v6only` as a program that sets IPV6_V6ONLY (Node's ipv6Only). */
function hostListen(address: string, port: number, v6only = false): Promise<net.Server> {
  const s = net.createServer((c) => c.end('host process'));
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.listen({ host: address, port, ipv6Only: v6only }, () => resolve(s));
  });
}

/** Whether a host process could listen there now (the port is not held). */
async function hostCanListen(address: string, port: number, v6only = false): Promise<boolean> {
  try { (await hostListen(address, port, v6only)).close(); return true; } catch (e: any) {
    if (e.code !== 'EADDRINUSE') throw e;
    return false;
  }
}

/** curl from the outside host (HTTP/0.9: the test servers answer with bare text). */
async function curl(host: string, port: number): Promise<string> {
  const r = await run('ip', ['netns', 'exec', 'outside', 'curl', '-sS', '--http0.9', '--max-time', '10', `http://${net.isIPv6(host) ? `[${host}]` : host}:${port}/`]);
  if (r.code !== 0) throw new Error(`curl ${host}:${port}: ${r.err}`);
  return r.out;
}

/** The `ports_any` map of one family's table, as nft reads it: "proto/hostPort -> containerIp/containerPort". */
function portsAny(family: 'ip' | 'ip6'): string[] {
  const j = JSON.parse(sh('nft', ['-j', 'list', 'map', family, 'cnm-netlink', 'ports_any'])).nftables;
  const m = j.find((x: any) => x.map)?.map;
  return (m?.elem ?? []).map(([k, v]: any[]) => {
    const key = k.elem?.val ?? k;
    return `${key.concat[0]}/${key.concat[1]} -> ${v.concat[0]}/${v.concat[1]}`;
  }).sort();
}

describe('cnm: ports as Docker 28 publishes them', function () {
  this.timeout(60000);
  let ctl: Controller;
  let dir: string;
  let rt: Rtnl;
  let outside: Netns;
  let world: Awaited<ReturnType<typeof outsideNamespace>>;
  const nftText = () => sh('nft', ['-j', 'list', 'ruleset']);

  before(async () => {
    rt = await Rtnl.open();
    world = await outsideNamespace(rt, [`${HOST4}/24`, { address: `${HOST6}/64`, flags: ['nodad'] }], ['198.51.100.2/24', { address: '2001:db8:e::2/64', flags: ['nodad'] }]);
    outside = world.ns;
  });
  after(async () => {
    await world.remove();
    rt.close();
  });
  beforeEach(async () => { ctl = await Controller.open({ stateDir: (dir = tmpState()), upstreamDns: [] }); });
  afterEach(async () => {
    await ctl.destroy();
    await eventually(() => assert.deepStrictEqual(hostLinks(), ['ext0']));
    assert.deepStrictEqual(JSON.parse(nftText()).nftables.filter((x: any) => !x.metainfo), []);
  });

  async function container(network: string, id: string, opts: any = {}) {
    const sb = await ctl.createSandbox({ id });
    const ep = await ctl.network(network).createEndpoint({ name: id, ...opts });
    await ep.join(sb);
    return { sb, ep, ns: await sb.netns() };
  }

  it('container port ranges: a binding per port, each reachable (curl), one nft element each; the object form; a random host port each; UDP', async () => {
    await ctl.createNetwork({ name: 'rng', subnet: '10.160.0.0/24' });
    const c = await container('rng', 'rng1', { ports: ['8100-8102:80-82', { hostPort: '8103-8104', containerPort: '83-84' }, '90-91', '5300-5301:53-54/udp'] });
    const servers = await Promise.all([80, 81, 82, 83, 84, 90, 91].map((p) => tcpServer(c.ns, '0.0.0.0', p, () => `port ${p}`)));
    const udp = await udpServer(c.sb.record.netnsName!, '0.0.0.0', 54, 'udp 54');
    try {
      for (let i = 0; i < 5; i++) assert.strictEqual(await curl(HOST4, 8100 + i), `port ${80 + i}`, `host port ${8100 + i}`);
      const p = c.ep.ports();
      assert.deepStrictEqual(Object.keys(p), ['53/udp', '54/udp', '80/tcp', '81/tcp', '82/tcp', '83/tcp', '84/tcp', '90/tcp', '91/tcp']);
      assert.deepStrictEqual(p['82/tcp'], [{ hostIp: '0.0.0.0', hostPort: 8102 }]);
      assert.deepStrictEqual(p['54/udp'], [{ hostIp: '0.0.0.0', hostPort: 5301 }]);
      // 90-91 alone: a free ephemeral port each.
      const [r90, r91] = [p['90/tcp'][0].hostPort, p['91/tcp'][0].hostPort];
      assert.ok(r90 >= EPHEMERAL[0] && r91 >= EPHEMERAL[0] && r90 !== r91, `${r90} ${r91}`);
      assert.strictEqual(await curl(HOST4, r90), 'port 90');
      assert.strictEqual(await curl(HOST4, r91), 'port 91');
      assert.strictEqual(await udpAsk(HOST4, 5301), 'udp 54');
      const ip = c.ep.ipv4!;
      assert.deepStrictEqual(portsAny('ip'), [
        ...[0, 1, 2, 3, 4].map((i) => `tcp/${8100 + i} -> ${ip}/${80 + i}`), `tcp/${r90} -> ${ip}/90`, `tcp/${r91} -> ${ip}/91`,
        `udp/5300 -> ${ip}/53`, `udp/5301 -> ${ip}/54`,
      ].sort());
    } finally {
      for (const s of servers) s.close();
      udp.close();
      c.ns.close();
    }
  });

  it('a range is all or nothing: one port a host process holds takes none; bad ranges are EINVAL; nothing left behind', async () => {
    const n = await ctl.createNetwork({ name: 'rng2', subnet: '10.161.0.0/24' });
    const squatter = await hostListen('0.0.0.0', 8142);
    try {
      const before = nftText();
      await rejects(n.createEndpoint({ name: 'x', ports: ['8140-8142:80-82'] }), 'EADDRINUSE', /0\.0\.0\.0:8142\/tcp is in use by another process/);
      for (const ports of [
        ['8000-8005:80-90'], ['8000:80-81'], ['65530-65540:80-90'], ['80-65536'], ['65535-65536:80-81'], ['9010-9000:80-90'],
        [{ containerPort: '90-80' }], [{ containerPort: '80-90', hostPort: '8000-8001' }], [{ containerPort: '80-81', hostPort: 8000 }],
        // A good spec before a bad one: the good one is not taken either.
        ['8143:80', '8000-8001:80-82'],
      ]) await rejects(n.createEndpoint({ name: 'x', ports }), 'EINVAL', undefined);
      await rejects(n.createEndpoint({ name: 'x', ports: ['8000-8005:80-90'] }), 'EINVAL', /8000-8005:80-90.*different lengths/);
      assert.strictEqual(nftText(), before, 'nft unchanged');
      assert.deepStrictEqual(n.endpoints(), []);
      for (const p of [8140, 8141, 8143]) assert.ok(await hostCanListen('0.0.0.0', p), `${p} is not held`);
    } finally {
      squatter.close();
    }
  });

  it('host address families: 0.0.0.0 is IPv4 only, [::] IPv6 only, none given both; ports() shows each binding; nft and the held sockets agree', async () => {
    await ctl.createNetwork({ name: 'fam', subnet: '10.162.0.0/24', ipv6: true, subnet6: 'fd00:162::/64' });
    const a = await container('fam', 'a', { ports: ['0.0.0.0:8110:80'] });
    const b = await container('fam', 'b', { ports: ['[::]:8111:80'] });
    const c = await container('fam', 'c', { ports: ['8112:80'] });
    const servers = await Promise.all([a, b, c].map((x) => tcpServer(x.ns, '::', 80, () => x.ep.name)));
    try {
      assert.strictEqual(await tcpGet(outside, HOST4, 8110), 'a');
      assert.ok(!(await canConnect(outside, HOST6, 8110)), '0.0.0.0: not over IPv6');
      assert.strictEqual(await tcpGet(outside, HOST6, 8111), 'b');
      assert.ok(!(await canConnect(outside, HOST4, 8111)), '[::]: not over IPv4');
      assert.strictEqual(await tcpGet(outside, HOST4, 8112), 'c');
      assert.strictEqual(await tcpGet(outside, HOST6, 8112), 'c');
      // As `docker port` and inspect show them: both bindings for a default mapping on an IPv6 network.
      assert.deepStrictEqual(a.ep.ports(), { '80/tcp': [{ hostIp: '0.0.0.0', hostPort: 8110 }] });
      assert.deepStrictEqual(b.ep.ports(), { '80/tcp': [{ hostIp: '::', hostPort: 8111 }] });
      assert.deepStrictEqual(c.ep.ports(), { '80/tcp': [{ hostIp: '0.0.0.0', hostPort: 8112 }, { hostIp: '::', hostPort: 8112 }] });
      assert.deepStrictEqual(c.sb.ports(), c.ep.ports());
      // DNAT per family, as nft reads it.
      assert.deepStrictEqual(portsAny('ip'), [`tcp/8110 -> ${a.ep.ipv4}/80`, `tcp/8112 -> ${c.ep.ipv4}/80`]);
      assert.deepStrictEqual(portsAny('ip6'), [`tcp/8111 -> ${b.ep.ipv6}/80`, `tcp/8112 -> ${c.ep.ipv6}/80`]);
      // Held per family: an IPv6-only host process may take [::]:8110, not 0.0.0.0:8110; the other way round for 8111.
      assert.ok(await hostCanListen('::', 8110, true));
      assert.ok(!(await hostCanListen('0.0.0.0', 8110)));
      assert.ok(await hostCanListen('0.0.0.0', 8111));
      assert.ok(!(await hostCanListen('::', 8111, true)));
      assert.ok(!(await hostCanListen('0.0.0.0', 8112)) && !(await hostCanListen('::', 8112, true)));
    } finally {
      for (const s of servers) s.close();
      for (const x of [a, b, c]) x.ns.close();
    }
  });

  it('conflicts per family, as Docker: a host process on one family does not block the other; mappings conflict with their family\'s wildcard', async () => {
    const n = await ctl.createNetwork({ name: 'cf', subnet: '10.163.0.0/24', ipv6: true, subnet6: 'fd00:163::/64' });
    const on6 = await hostListen('::', 8120, true);
    const on4 = await hostListen('0.0.0.0', 8121);
    let before = '';
    try {
      const v4only = await n.createEndpoint({ name: 'v4only', ports: ['0.0.0.0:8120:80'] });
      assert.deepStrictEqual(v4only.record.ports, [{ hostIp: '0.0.0.0', hostPort: 8120, containerPort: 80, proto: 'tcp' }]);
      const v6only = await n.createEndpoint({ name: 'v6only', ports: ['[::]:8121:80'] });
      assert.deepStrictEqual(v6only.record.ports, [{ hostIp: '::', hostPort: 8121, containerPort: 80, proto: 'tcp' }]);
      before = nftText();
      await rejects(n.createEndpoint({ name: 'x', ports: ['[::]:8120:80'] }), 'EADDRINUSE', /\[::\]:8120\/tcp is in use by another process/);
      await rejects(n.createEndpoint({ name: 'x', ports: ['8120:80'] }), 'EADDRINUSE', /8120/);
      await rejects(n.createEndpoint({ name: 'x', ports: ['0.0.0.0:8121:80'] }), 'EADDRINUSE', /0\.0\.0\.0:8121\/tcp is in use by another process/);
      // A default range mapping takes a port free on both families.
      const both = await n.createEndpoint({ name: 'both', ports: ['8120-8122:80'] });
      assert.deepStrictEqual(both.record.ports.map((p) => `${p.hostIp}/${p.hostPort}`), ['0.0.0.0/8122', '::/8122']);
    } finally {
      on6.close();
      on4.close();
    }
    // Mapping against mapping (the allocator): 0.0.0.0 takes every IPv4 address of its port, :: every IPv6 one.
    await rejects(n.createEndpoint({ name: 'x', ports: ['127.0.0.1:8120:80'] }), 'EADDRINUSE', /127\.0\.0\.1:8120\/tcp is already allocated \(0\.0\.0\.0:8120 is mapped\)/);
    const lo6 = await n.createEndpoint({ name: 'lo6', ports: ['[::1]:8120:80'] });
    assert.deepStrictEqual(lo6.ports(), { '80/tcp': [{ hostIp: '::1', hostPort: 8120 }] });
    await rejects(n.createEndpoint({ name: 'x', ports: ['[::]:8120:80'] }), 'EADDRINUSE', /\[::\]:8120\/tcp is already allocated \(\[::1\]:8120 is mapped\)/);
    await rejects(n.createEndpoint({ name: 'x', ports: ['[fd00::1]:8121:80'] }), 'EADDRINUSE', /\[fd00::1\]:8121\/tcp is already allocated \(\[::\]:8121 is mapped\)/);
    assert.ok(await hostCanListen('127.0.0.1', 8121), 'IPv4 is free for 8121: only [::] is mapped');
    await n.createEndpoint({ name: 'lo4', ports: ['127.0.0.1:8121:80'] });
    // Not joined: nothing of the refused ones reached nft (the joined-less endpoints add none either).
    assert.strictEqual(nftText(), before);
    assert.deepStrictEqual(n.endpoints().map((e) => e.name).sort(), ['both', 'lo4', 'lo6', 'v4only', 'v6only']);
  });

  it('publishAll (docker run -P): every exposed port not published gets a free host port; refused where nothing can be published', async () => {
    await ctl.createNetwork({ name: 'pa', subnet: '10.164.0.0/24' });
    const c = await container('pa', 'pa1', { exposedPorts: ['80', '53/udp', '90'], ports: ['8130:90'], publishAll: true });
    const srv = await tcpServer(c.ns, '0.0.0.0', 80, () => 'published by -P');
    try {
      const p = c.ep.ports();
      assert.deepStrictEqual(Object.keys(p), ['53/udp', '80/tcp', '90/tcp']);
      assert.deepStrictEqual(p['90/tcp'], [{ hostIp: '0.0.0.0', hostPort: 8130 }], 'a published one keeps its mapping');
      const h80 = p['80/tcp'][0].hostPort;
      assert.ok(h80 >= EPHEMERAL[0] && h80 <= EPHEMERAL[1] && p['53/udp'][0].hostPort >= EPHEMERAL[0]);
      assert.strictEqual(await tcpGet(outside, HOST4, h80), 'published by -P');
      assert.ok(portsAny('ip').includes(`tcp/${h80} -> ${c.ep.ipv4}/80`));
    } finally {
      srv.close();
      c.ns.close();
    }
    const n = ctl.network('pa');
    assert.deepStrictEqual((await n.createEndpoint({ name: 'exposed-only', exposedPorts: ['80'] })).ports(), {}, 'exposed, not published');
    assert.deepStrictEqual((await n.createEndpoint({ name: 'nothing-exposed', publishAll: true })).ports(), {});
    const internal = await ctl.createNetwork({ name: 'pa-int', subnet: '10.165.0.0/24', internal: true });
    const before = nftText();
    await rejects(internal.createEndpoint({ name: 'x', exposedPorts: ['80'], publishAll: true }), 'EINVAL', /internal/);
    await rejects(n.createEndpoint({ name: 'x', exposedPorts: ['80'], publishAll: 'yes' as any }), 'ERR_INVALID_ARG_TYPE');
    await rejects(ctl.network('host').createEndpoint({ name: 'x', exposedPorts: ['80'], publishAll: true }), 'EINVAL', /port publishing/);
    assert.strictEqual(nftText(), before);
    assert.deepStrictEqual(internal.endpoints(), []);
  });

  it("ports() like docker port: across a sandbox's endpoints, a port filter, ENOENT for an unpublished port, EINVAL for a bad filter", async () => {
    const n1 = await ctl.createNetwork({ name: 'q1', subnet: '10.166.0.0/24' });
    const n2 = await ctl.createNetwork({ name: 'q2', subnet: '10.167.0.0/24', ipv6: true, subnet6: 'fd00:167::/64' });
    const sb = await ctl.createSandbox({ id: 'pq' });
    const e1 = await n1.createEndpoint({ name: 'pq1', ports: ['8150:80', '127.0.0.1:8151:81/udp'] });
    const e2 = await n2.createEndpoint({ name: 'pq2', ports: ['8152:443'] });
    await e1.join(sb);
    await e2.join(sb);
    assert.deepStrictEqual(sb.ports(), {
      '80/tcp': [{ hostIp: '0.0.0.0', hostPort: 8150 }],
      '81/udp': [{ hostIp: '127.0.0.1', hostPort: 8151 }],
      '443/tcp': [{ hostIp: '0.0.0.0', hostPort: 8152 }, { hostIp: '::', hostPort: 8152 }],
    });
    assert.deepStrictEqual(sb.ports('443'), { '443/tcp': [{ hostIp: '0.0.0.0', hostPort: 8152 }, { hostIp: '::', hostPort: 8152 }] });
    assert.deepStrictEqual(sb.ports('81/udp'), { '81/udp': [{ hostIp: '127.0.0.1', hostPort: 8151 }] });
    assert.deepStrictEqual(e1.ports('80/tcp'), { '80/tcp': [{ hostIp: '0.0.0.0', hostPort: 8150 }] });
    await rejects(Promise.resolve().then(() => sb.ports('81')), 'ENOENT', /^no public port '81\/tcp' published for sandbox pq$/);
    await rejects(Promise.resolve().then(() => e2.ports('80')), 'ENOENT', /no public port '80\/tcp' published for endpoint pq2/);
    for (const f of ['x', '80/icmp', '', '0', '70000', '80-81']) await rejects(Promise.resolve().then(() => sb.ports(f)), 'EINVAL');
    await rejects(Promise.resolve().then(() => sb.ports(80 as any)), 'ERR_INVALID_ARG_TYPE');
    await e1.leave();
    assert.deepStrictEqual(Object.keys(sb.ports()), ['443/tcp'], 'a left endpoint is not the sandbox\'s any more');
  });

  it('an endpoint recorded by the version before (one 0.0.0.0 binding standing for both families) restores with that meaning', async () => {
    await ctl.createNetwork({ name: 'old', subnet: '10.168.0.0/24', ipv6: true, subnet6: 'fd00:168::/64' });
    const c = await container('old', 'old1', { ports: ['8160:80'] });
    const srv = await tcpServer(c.ns, '::', 80, () => 'old');
    try {
      const rec = c.ep.record;
      await ctl.close();
      // What the previous version wrote: one binding on 0.0.0.0, no marker.
      const { portsPerFamily, ...rest } = rec;
      assert.strictEqual(portsPerFamily, true);
      const old = { ...rest, ports: [{ hostIp: '0.0.0.0', hostPort: 8160, containerPort: 80, proto: 'tcp' }] };
      fs.appendFileSync(path.join(dir, 'journal.jsonl'), JSON.stringify({ op: 'put', kind: 'endpoint', id: old.id, value: old }) + '\n');
      ctl = await Controller.open({ stateDir: dir, upstreamDns: [] });
      const ep = ctl.endpoints().find((e) => e.id === old.id)!;
      assert.deepStrictEqual(ep.ports(), { '80/tcp': [{ hostIp: '0.0.0.0', hostPort: 8160 }, { hostIp: '::', hostPort: 8160 }] });
      assert.strictEqual(ep.record.portsPerFamily, true);
      assert.strictEqual(await tcpGet(outside, HOST6, 8160), 'old');
      assert.strictEqual(await tcpGet(outside, HOST4, 8160), 'old');
      assert.ok(!(await hostCanListen('::', 8160, true)), 'the IPv6 side is held again');
      await rejects(ctl.network('old').createEndpoint({ name: 'x', ports: ['[::]:8160:80'] }), 'EADDRINUSE', /already allocated/);
    } finally {
      srv.close();
      c.ns.close();
    }
  });
});
