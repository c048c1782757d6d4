import { execFileSync } from 'child_process';
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Controller, Netns, Rtnl } from '../src';
import { EPHEMERAL } from '../src/cnm/ports';
import { bridgej, eventually, hostLinks, ipj, rejects, sh } from './helpers';
import { canConnect, outsideNamespace, run, tcpGet, tcpServer, udpAsk, udpServer } from './net-helpers';

// Topology: this (isolated) namespace is the host. An "outside" namespace
// stands in for other hosts and the internet, joined by a veth:
//   host ext0 198.51.100.1/24 (+ .3)  <->  outside eth0 198.51.100.2/24
describe('cnm: published ports, NAT and isolation', function () {
  this.timeout(60000);
  let ctl: Controller;
  let rt: Rtnl;
  let outside: Netns;
  let world: Awaited<ReturnType<typeof outsideNamespace>>;
  const nftJson = () => JSON.parse(sh('nft', ['-j', 'list', 'ruleset'])).nftables;

  before(async () => {
    rt = await Rtnl.open();
    world = await outsideNamespace(rt, ['198.51.100.1/24', '198.51.100.3/24'], ['198.51.100.2/24']);
    outside = world.ns;
  });
  after(async () => {
    await world.remove();
    rt.close();
  });
  beforeEach(async () => { ctl = await Controller.open({ stateDir: fs.mkdtempSync(path.join(os.tmpdir(), 'cnm-p-')), upstreamDns: [] }); });
  afterEach(async () => {
    await ctl.destroy();
    await eventually(() => assert.deepStrictEqual(hostLinks(), ['ext0']));
    assert.deepStrictEqual(nftJson().filter((x: any) => !x.metainfo), []);
  });

  async function container(net: string, id: string, opts: any = {}) {
    const sb = await ctl.createSandbox({ id });
    const ep = await ctl.network(net).createEndpoint({ name: id, ...opts });
    await ep.join(sb);
    return { sb, ep, ns: await sb.netns() };
  }

  it('publishes a port to the host, localhost, other hosts, other containers and itself (hairpin)', async () => {
    await ctl.createNetwork({ name: 'web' });
    const web = await container('web', 'web', { ports: ['8080:80'] });
    const client = await container('web', 'client');
    const srv = await tcpServer(web.ns, '0.0.0.0', 80, (r) => `hello ${r}`);
    try {
      const get = (ns: Netns | null, host: string, what: string) => tcpGet(ns, host, 8080).catch((e) => { throw new Error(`${what}: ${e.message}`); });
      assert.match(await get(null, '127.0.0.1', 'host localhost'), /^hello /);
      assert.match(await get(null, '198.51.100.1', 'host address'), /^hello /);
      assert.strictEqual(await get(outside, '198.51.100.1', 'another host'), 'hello 198.51.100.2', 'another host (source kept)');
      assert.match(await get(client.ns, '198.51.100.1', 'another container'), /^hello /);
      assert.match(await get(web.ns, '198.51.100.1', 'hairpin'), /^hello /);
      assert.ok(!(await canConnect(outside, '198.51.100.1', 8081)), 'an unpublished port');
      // nft sees the mapping as one map element, owned by the endpoint.
      const els = nftJson().filter((x: any) => x.map?.name === 'ports_any')[0].map.elem;
      assert.strictEqual(els.length, 1);
      assert.strictEqual(JSON.stringify(els[0]).includes('8080'), true);
    } finally {
      srv.close();
      web.ns.close(); client.ns.close();
    }
  });

  it('a host-IP binding answers only on that IP; UDP works; a taken port is refused', async () => {
    await ctl.createNetwork({ name: 'bind' });
    const c = await container('bind', 'bound', { ports: ['198.51.100.3:8082:80', '5353:53/udp'] });
    const srv = await tcpServer(c.ns, '0.0.0.0', 80, () => 'bound ok');
    const udp = await udpServer(c.sb.record.netnsName!, '0.0.0.0', 53, 'udp ok');
    try {
      assert.strictEqual(await tcpGet(outside, '198.51.100.3', 8082), 'bound ok');
      assert.ok(!(await canConnect(outside, '198.51.100.1', 8082)), 'not on another host address');
      assert.strictEqual(await udpAsk('198.51.100.1', 5353), 'udp ok');
      const before = sh('nft', ['-j', 'list', 'ruleset']);
      await rejects(ctl.network('bind').createEndpoint({ name: 'again', ports: ['5353:53/udp'] }), 'EADDRINUSE');
      await rejects(ctl.network('bind').createEndpoint({ name: 'again', ports: ['8082:80'] }), 'EADDRINUSE');
      assert.strictEqual(sh('nft', ['-j', 'list', 'ruleset']), before, 'nothing changed');
      // 0 picks a free port.
      const any = await container('bind', 'anyport', { ports: [{ hostPort: 0, containerPort: 80 }] });
      assert.ok(any.ep.record.ports[0].hostPort >= EPHEMERAL[0]);
      any.ns.close();
    } finally {
      srv.close();
      udp.close();
      c.ns.close();
    }
  });

  it('masquerades outbound traffic; internal networks have no way out', async () => {
    await ctl.createNetwork({ name: 'out' });
    await ctl.createNetwork({ name: 'secret', internal: true });
    const a = await container('out', 'a');
    const s = await container('secret', 's');
    const srv = await tcpServer(outside, '198.51.100.2', 80, (r) => `seen ${r}`);
    try {
      assert.strictEqual(await tcpGet(a.ns, '198.51.100.2', 80), 'seen 198.51.100.1', 'source rewritten to the host address');
      assert.strictEqual(ipj(['route', 'show', 'default'], s.sb.record.netnsName!).length, 0, 'no default route on internal');
      // Routes both ways, so only the firewall stands in the way: a container
      // adding its own default route, an outside host that routes back.
      const secret = ctl.network('secret');
      execFileSync('ip', ['-n', s.sb.record.netnsName!, 'route', 'add', 'default', 'via', secret.gateway!]);
      execFileSync('ip', ['-n', 'outside', 'route', 'add', secret.inspect().IPAM.Config![0].Subnet, 'via', '198.51.100.1']);
      try {
        assert.ok(!(await canConnect(s.ns, '198.51.100.2', 80)), 'internal network reaches nothing outside');
        assert.ok(await canConnect(a.ns, '198.51.100.2', 80), 'the same path from a normal network works');
      } finally {
        execFileSync('ip', ['-n', 'outside', 'route', 'del', secret.inspect().IPAM.Config![0].Subnet]);
      }
    } finally {
      srv.close();
      a.ns.close(); s.ns.close();
    }
  });

  it('gateway modes: routed is reached from another host by route, without NAT, published ports and ICMP only; nat-unprotected opens every port; nat keeps a routed host off its published ports (Docker 28); isolated has no gateway', async () => {
    await ctl.createNetwork({ name: 'direct', subnet: '10.150.0.0/24', options: { 'com.docker.network.bridge.gateway_mode_ipv4': 'routed' } });
    await ctl.createNetwork({ name: 'natted', subnet: '10.153.0.0/24' });
    await ctl.createNetwork({ name: 'open', subnet: '10.151.0.0/24', options: { 'com.docker.network.bridge.gateway_mode_ipv4': 'nat-unprotected' } });
    await rejects(ctl.createNetwork({ name: 'island', subnet: '10.152.0.0/24', options: { 'com.docker.network.bridge.gateway_mode_ipv4': 'isolated' } }), 'EINVAL', /gateway mode 'isolated' can only be used for an internal network/);
    await ctl.createNetwork({ name: 'island', subnet: '10.152.0.0/24', internal: true, options: { 'com.docker.network.bridge.gateway_mode_ipv4': 'isolated' } });
    const r = await container('direct', 'r', { ports: ['8090:80'] });
    const u = await container('open', 'u', { ports: ['8091:80'] });
    const i = await container('island', 'i');
    const nt = await container('natted', 'nt', { ports: ['8092:80'] });
    // The other host routes the container subnets through this one (direct routing).
    for (const net of ['10.150.0.0/24', '10.151.0.0/24', '10.153.0.0/24']) execFileSync('ip', ['-n', 'outside', 'route', 'add', net, 'via', '198.51.100.1']);
    const servers = [
      await tcpServer(r.ns, '0.0.0.0', 80, (peer) => `routed saw ${peer}`), await tcpServer(r.ns, '0.0.0.0', 81, () => 'unpublished'),
      await tcpServer(u.ns, '0.0.0.0', 81, () => 'unprotected'),
      await tcpServer(nt.ns, '0.0.0.0', 80, () => 'natted'),
      await tcpServer(outside, '198.51.100.2', 80, (peer) => `outside saw ${peer}`),
    ];
    try {
      // Routed: the server sees the client's own address; only the published port is open.
      assert.strictEqual(await tcpGet(outside, r.ep.ipv4!, 80), 'routed saw 198.51.100.2');
      assert.ok(!(await canConnect(outside, r.ep.ipv4!, 81)), 'an unpublished port of a routed network is closed');
      const ping = (ip: string) => execFileSync('ip', ['netns', 'exec', 'outside', 'ping', '-c', '1', '-W', '2', ip], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      assert.match(ping(r.ep.ipv4!), /1 received/, 'ICMP into a routed network');
      // nat: the published port through the host port only, not at the container's address by route.
      assert.strictEqual(await tcpGet(outside, '198.51.100.1', 8092), 'natted');
      assert.ok(!(await canConnect(outside, nt.ep.ipv4!, 80)), 'nat: no direct access to a published port from another host');
      // No NAT on the way out either, and no DNAT on the host port.
      assert.strictEqual(await tcpGet(r.ns, '198.51.100.2', 80), `outside saw ${r.ep.ipv4}`);
      assert.ok(!(await canConnect(outside, '198.51.100.1', 8090)), 'routed mode publishes no host port');
      // nat-unprotected: masquerade out, and any container port is reachable by routing.
      assert.strictEqual(await tcpGet(outside, u.ep.ipv4!, 81), 'unprotected');
      assert.strictEqual(await tcpGet(u.ns, '198.51.100.2', 80), 'outside saw 198.51.100.1');
      // Isolated: no gateway address on the bridge, no default route.
      const island = ctl.network('island');
      assert.ok(!ipj(['addr', 'show', 'dev', island.bridge!])[0].addr_info.some((a: any) => a.family === 'inet'));
      assert.deepStrictEqual(ipj(['route', 'show', 'default'], i.sb.record.netnsName!), []);
      assert.ok(!(await canConnect(i.ns, '198.51.100.2', 80)));
    } finally {
      for (const s of servers) s.close();
      for (const net of ['10.150.0.0/24', '10.151.0.0/24', '10.153.0.0/24']) execFileSync('ip', ['-n', 'outside', 'route', 'del', net]);
      for (const c of [r, u, i, nt]) c.ns.close();
    }
  });

  it('a published host port is held: a host process cannot take it, and a port a host process holds is not published', async () => {
    const net = await ctl.createNetwork({ name: 'held', subnet: '10.153.0.0/24' });
    const squatter = await tcpServer(null, '0.0.0.0', 8095, () => 'host process');
    try {
      await rejects(net.createEndpoint({ name: 'late', ports: ['8095:80'] }), 'EADDRINUSE', /8095\/tcp is in use by another process/);
      assert.deepStrictEqual(net.endpoints(), []);
      // A range skips it.
      const ranged = await net.createEndpoint({ name: 'ranged', ports: [{ hostPort: '8095-8096', containerPort: 80 }] });
      assert.strictEqual(ranged.record.ports[0].hostPort, 8096);
      await ranged.delete();
    } finally {
      squatter.close();
    }
    const ep = await net.createEndpoint({ name: 'first', ports: ['8097:80', '8097:53/udp'] });
    await rejects(tcpServer(null, '0.0.0.0', 8097, () => 'x'), 'EADDRINUSE');
    // Held, not listening: before a join gives it a destination, a connection is refused, not accepted.
    await rejects(tcpGet(null, '127.0.0.1', 8097, 2000), 'ECONNREFUSED');
    await rejects(tcpServer(null, '127.0.0.1', 8097, () => 'x'), 'EADDRINUSE');
    await rejects(new Promise((resolve, reject) => { const u = require('dgram').createSocket('udp4'); u.once('error', (e: any) => { u.close(); reject(e); }); u.bind(8097, '0.0.0.0', () => { u.close(); resolve(undefined); }); }), 'EADDRINUSE');
    await ep.delete();
    // Given back with the endpoint.
    (await tcpServer(null, '0.0.0.0', 8097, () => 'x')).close();
  });

  it('isolates networks from each other; enable_icc=false isolates containers', async () => {
    await ctl.createNetwork({ name: 'red' });
    await ctl.createNetwork({ name: 'blue' });
    await ctl.createNetwork({ name: 'noicc', options: { 'com.docker.network.bridge.enable_icc': 'false' } });
    const r1 = await container('red', 'r1');
    const r2 = await container('red', 'r2');
    const b1 = await container('blue', 'b1');
    const n1 = await container('noicc', 'n1');
    const n2 = await container('noicc', 'n2');
    const servers = await Promise.all([r2, b1, n2].map((c) => tcpServer(c.ns, '0.0.0.0', 80, () => 'reached')));
    try {
      assert.strictEqual(await tcpGet(r1.ns, r2.ep.ipv4!, 80), 'reached', 'same network talks');
      assert.ok(!(await canConnect(r1.ns, b1.ep.ipv4!, 80)), 'red cannot reach blue');
      assert.ok(!(await canConnect(b1.ns, r2.ep.ipv4!, 80)), 'blue cannot reach red');
      assert.ok(!(await canConnect(n1.ns, n2.ep.ipv4!, 80)), 'icc=false: no container-to-container');
      assert.ok(!(await canConnect(outside, r2.ep.ipv4!, 80)), 'no direct access from outside');
      // The gateway (host) is still reachable from an icc=false container.
      const hostSrv = await tcpServer(null, ctl.network('noicc').gateway!, 9999, () => 'host');
      assert.strictEqual(await tcpGet(n1.ns, ctl.network('noicc').gateway!, 9999), 'host');
      hostSrv.close();
      const port = ipj(['-d', 'link', 'show', 'dev', n1.ep.record.hostIfname!])[0];
      assert.strictEqual(port.linkinfo.info_slave_data.isolated, true);
    } finally {
      servers.forEach((s) => s.close());
      for (const c of [r1, r2, b1, n1, n2]) c.ns.close();
    }
  });

  it('a published port is no way between networks: another network\'s container (directly or through a host address) and an internal network\'s are dropped, as by Docker\'s isolation chains', async () => {
    await ctl.createNetwork({ name: 'pub', ipv6: true, subnet6: 'fd00:8::/64' });
    await ctl.createNetwork({ name: 'other', ipv6: true, subnet6: 'fd00:9::/64' });
    await ctl.createNetwork({ name: 'sealed', internal: true });
    const web = await container('pub', 'pweb', { ports: ['8090:80'] });
    const peer = await container('pub', 'ppeer');
    const stranger = await container('other', 'pstranger');
    const inside = await container('sealed', 'pinside');
    const srv = await tcpServer(web.ns, '::', 80, () => 'reached');
    try {
      // The paths that stay open: the network's own containers, other hosts.
      assert.strictEqual(await tcpGet(peer.ns, web.ep.ipv4!, 80), 'reached');
      assert.strictEqual(await tcpGet(outside, '198.51.100.1', 8090), 'reached');
      // Another network: neither the container's address nor a host address (its own gateway, the outside one).
      for (const [host, port] of [[web.ep.ipv4!, 80], [web.ep.ipv6!, 80], [ctl.network('other').gateway!, 8090], ['198.51.100.1', 8090]] as const) {
        assert.ok(!(await canConnect(stranger.ns, host, port)), `another network to ${host}:${port}`);
      }
      // An internal network: not through its own gateway either (that would be its way out).
      assert.ok(!(await canConnect(inside.ns, ctl.network('sealed').gateway!, 8090)), 'internal network through its gateway');
      // The drop is one rule per network, before the published ports, on a set of every bridge.
      const inChain = `in-${ctl.network('pub').id.slice(0, 12)}`;
      const rules = nftJson().filter((x: any) => x.rule?.family === 'ip' && x.rule.chain === inChain).map((x: any) => JSON.stringify(x.rule.expr));
      const iso = rules.findIndex((r: string) => r.includes('"@bridges"') && r.includes('"drop"'));
      const pub = rules.findIndex((r: string) => r.includes('"@published"'));
      assert.ok(iso >= 0 && iso < pub, rules.join('\n'));
      const bridges = nftJson().filter((x: any) => x.set?.family === 'ip' && x.set.name === 'bridges')[0].set.elem.map((e: any) => e.elem?.val ?? e);
      assert.deepStrictEqual(bridges.sort(), ['pub', 'other', 'sealed'].map((n) => ctl.network(n).bridge!).sort());
      // Tables of an earlier version, without the set and the rule: reopening puts both in.
      const handle = nftJson().find((x: any) => x.rule?.family === 'ip' && x.rule.chain === inChain && JSON.stringify(x.rule.expr).includes('"@bridges"')).rule.handle;
      sh('nft', ['delete', 'rule', 'ip', 'cnm-netlink', inChain, 'handle', String(handle)]);
      for (const f of ['ip', 'ip6']) {
        for (const n of ['pub', 'other', 'sealed']) {
          const h = nftJson().find((x: any) => x.rule?.family === f && x.rule.chain === `in-${ctl.network(n).id.slice(0, 12)}` && JSON.stringify(x.rule.expr).includes('"@bridges"'))?.rule.handle;
          if (h !== undefined) sh('nft', ['delete', 'rule', f, 'cnm-netlink', `in-${ctl.network(n).id.slice(0, 12)}`, 'handle', String(h)]);
        }
        sh('nft', ['delete', 'set', f, 'cnm-netlink', 'bridges']);
      }
      // (Through a host address: DNATed, so the published-port rule took it.)
      const viaGateway = ctl.network('other').gateway!;
      assert.ok(await canConnect(stranger.ns, viaGateway, 8090), 'the hole of the earlier layout');
      const stateDir = ctl.stateDir;
      await ctl.close();
      ctl = await Controller.open({ stateDir, upstreamDns: [] });
      assert.ok(!(await canConnect(stranger.ns, viaGateway, 8090)), 'closed again after reopening');
      assert.ok(!(await canConnect(stranger.ns, web.ep.ipv6!, 80)), 'over IPv6 too');
      assert.strictEqual(await tcpGet(peer.ns, web.ep.ipv4!, 80), 'reached');
    } finally {
      srv.close();
      for (const c of [web, peer, stranger, inside]) c.ns.close();
    }
  });

  it('IPv6: published ports reach the container over IPv6 too; networks are isolated and masqueraded over IPv6 as over IPv4', async () => {
    // The outside host over IPv6 too.
    await rt.addr.add('ext0', { address: '2001:db8:e::1/64', flags: ['nodad'] });
    const o = await Rtnl.open({ netns: outside });
    await o.addr.add('eth0', { address: '2001:db8:e::2/64', flags: ['nodad'] });
    o.close();
    await ctl.createNetwork({ name: 'six', ipv6: true, subnet6: 'fd00:6::/64' });
    await ctl.createNetwork({ name: 'other6', ipv6: true, subnet6: 'fd00:7::/64' });
    const web = await container('six', 'web6', { ports: ['8086:80'] });
    const peer = await container('six', 'peer6');
    const stranger = await container('other6', 'stranger6');
    const srv = await tcpServer(web.ns, '::', 80, (r) => `v6 ${r}`);
    const srvS = await tcpServer(stranger.ns, '::', 80, () => 'stranger');
    const inet = await tcpServer(outside, '2001:db8:e::2', 81, (r) => `from ${r}`);
    try {
      // -p 8086:80 answers on the host's IPv6 and IPv4 addresses alike.
      // Right after the joins: the bridge's link-local needs no DAD first.
      const brLl = ipj(['-6', 'addr', 'show', 'dev', ctl.network('six').bridge!])[0].addr_info.filter((x: any) => x.local.startsWith('fe80:'));
      assert.ok(brLl.length === 1 && !brLl[0].tentative, JSON.stringify(brLl));
      assert.strictEqual(await tcpGet(outside, '2001:db8:e::1', 8086), 'v6 2001:db8:e::2', 'another host over IPv6 (source kept)');
      assert.match(await tcpGet(outside, '198.51.100.1', 8086), /^v6 /, 'another host over IPv4');
      // [::1] is not forwarded (no route_localnet in IPv6): refused, not left hanging.
      await rejects(tcpGet(null, '::1', 8086), 'ECONNREFUSED');
      assert.match(await tcpGet(peer.ns, '2001:db8:e::1', 8086), /^v6 /, 'another container over IPv6');
      assert.match(await tcpGet(web.ns, '2001:db8:e::1', 8086), /^v6 /, 'hairpin over IPv6');
      assert.strictEqual(await tcpGet(peer.ns, web.ep.ipv6!, 80), `v6 ${peer.ep.ipv6}`, 'same network over IPv6');
      assert.ok(!(await canConnect(web.ns, stranger.ep.ipv6!, 80)), 'another network over IPv6');
      assert.ok(!(await canConnect(outside, web.ep.ipv6!, 80)), 'no direct IPv6 access from outside');
      // Outbound: masqueraded to the host's address (the outside has no route back to fd00:6::/64).
      assert.strictEqual(await tcpGet(web.ns, '2001:db8:e::2', 81), 'from 2001:db8:e::1');
      // One element in the ip6 table's map, as nft reads it.
      const els = nftJson().filter((x: any) => x.map?.family === 'ip6' && x.map?.name === 'ports_any')[0].map.elem;
      assert.strictEqual(els.length, 1);
      assert.ok(JSON.stringify(els[0]).includes(web.ep.ipv6!));
      // A host IP of a family the network lacks is refused.
      const v4only = await ctl.createNetwork({ name: 'v4only' });
      await rejects(v4only.createEndpoint({ name: 'bad6', ports: ['[2001:db8:e::1]:8088:80'] }), 'EINVAL');
    } finally {
      srv.close(); srvS.close(); inet.close();
      for (const c of [web, peer, stranger]) c.ns.close();
      await rt.addr.delete('ext0', '2001:db8:e::1/64').catch(() => {});
    }
  });

  it('embedded DNS forwards names it does not know to the upstream servers', async () => {
    // An upstream resolver on the host's outside address, knowing one name.
    const { DnsServer } = require('../src/cnm/dns');
    const upstream = new DnsServer('198.51.100.1', (name: string, type: string) => (name === 'example.test' && type === 'A' ? ['203.0.113.7'] : undefined), []);
    await upstream.start();
    // One state directory per namespace: this test's controller replaces the
    // one beforeEach made (afterEach destroys it).
    await ctl.destroy();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cnm-dns-'));
    const c2 = ctl = await Controller.open({ stateDir: dir, upstreamDns: ['198.51.100.1'] });
    try {
      const n = await c2.createNetwork({ name: 'fwd' });
      const sb = await c2.createSandbox({ id: 'asker' });
      await (await n.createEndpoint({ name: 'asker' })).join(sb);
      const { run } = require('./net-helpers');
      const ext = await run('ip', ['netns', 'exec', sb.record.netnsName!, 'getent', 'hosts', 'example.test']);
      assert.match(ext.out, /^203\.0\.113\.7\s+example\.test/);
      const own = await run('ip', ['netns', 'exec', sb.record.netnsName!, 'getent', 'hosts', 'asker']);
      assert.match(own.out, /^172\.\d+\.0\.2\s+asker/);
      // An internal network's server forwards nothing (the host's resolvers
      // would be its way out, CVE-2024-29018), but answers its own names.
      const shut = await c2.createNetwork({ name: 'fwd-internal', internal: true });
      const sb2 = await c2.createSandbox({ id: 'shut' });
      await (await shut.createEndpoint({ name: 'shut' })).join(sb2);
      const blocked = await run('ip', ['netns', 'exec', sb2.record.netnsName!, 'getent', 'hosts', 'example.test']);
      assert.strictEqual(blocked.code, 2, blocked.out);
      assert.match((await run('ip', ['netns', 'exec', sb2.record.netnsName!, 'getent', 'hosts', 'shut'])).out, /\sshut/);
    } finally {
      upstream.close();
    }
  });

  it('removed behind a running controller: after `nft flush ruleset` leaves work, joins say what brings the tables back, and reconcile() puts the ruleset back as it was; a bridge deleted with `ip link del` comes back at the next join with every port', async () => {
    const net = await ctl.createNetwork({ name: 'heal' });
    const web = await container('heal', 'web', { ports: ['8090:80'] });
    const a = await container('heal', 'a');
    const b = await container('heal', 'b', { ports: ['8092:80'] });
    const srv = await tcpServer(web.ns, '0.0.0.0', 80, (r) => `healed ${r}`);
    // The ruleset as nft shows it, without handles (made again, they are new) and with set elements in key order.
    const ruleset = () => nftJson().filter((x: any) => !x.metainfo).map((x: any) => {
      const o = JSON.parse(JSON.stringify(x, (k, v) => (k === 'handle' ? undefined : v)));
      const s = o.map ?? o.set;
      if (s?.elem) s.elem = s.elem.map((e: any) => JSON.stringify(e)).sort();
      return JSON.stringify(o);
    }).sort();
    try {
      const before = ruleset();
      assert.strictEqual(await tcpGet(outside, '198.51.100.1', 8090), 'healed 198.51.100.2');
      const flushed = await run('nft', ['flush', 'ruleset']);
      assert.strictEqual(flushed.code, 0, flushed.err);
      assert.ok(!(await canConnect(outside, '198.51.100.1', 8090)), 'no DNAT once flushed');
      // A leave has nothing left to remove from the tables: it works.
      await b.ep.leave();
      assert.ok(!ipj(['link', 'show']).some((l: any) => l.ifname === b.ep.record.hostIfname));
      // A join that needs the tables fails, saying what brings them back, and leaves nothing behind.
      const links = hostLinks();
      const c = await ctl.createSandbox({ id: 'c' });
      const cep = await net.createEndpoint({ name: 'c', ports: ['8091:80'] });
      await rejects(cep.join(c), 'ENOENT', /nftables tables are gone.*Controller\.reconcile\(\)/);
      assert.deepStrictEqual([hostLinks(), cep.record.sandboxId], [links, undefined]);
      // So does a new network (made, it would hide that the others' rules are gone), leaving no bridge.
      await rejects(ctl.createNetwork({ name: 'later' }), 'ENOENT', /Controller\.reconcile\(\)/);
      assert.deepStrictEqual(hostLinks(), links);
      const report = await ctl.reconcile();
      assert.deepStrictEqual([report.droppedEndpoints, report.droppedSandboxes, report.removedLinks], [[], [], []]);
      // (b joins again: its address and host port stayed with the endpoint.)
      await b.ep.join(b.sb);
      assert.deepStrictEqual(ruleset(), before);
      assert.strictEqual(await tcpGet(outside, '198.51.100.1', 8090), 'healed 198.51.100.2');
      await cep.join(c);
      // The bridge deleted: the next join makes it again, with its address, rules and every joined port.
      const mac = ipj(['link', 'show', 'dev', net.bridge!])[0].address;
      const del = await run('ip', ['link', 'del', net.bridge!]);
      assert.strictEqual(del.code, 0, del.err);
      assert.ok(!(await canConnect(outside, '198.51.100.1', 8090)));
      const d = await container('heal', 'd');
      const ports = bridgej(['link', 'show']).filter((l: any) => l.master === net.bridge).map((l: any) => l.ifname).sort();
      assert.deepStrictEqual(ports, [web, a, b, { ep: cep }, d].map((x) => x.ep.record.hostIfname).sort());
      assert.strictEqual(ipj(['link', 'show', 'dev', net.bridge!])[0].address, mac, 'the bridge keeps its MAC');
      assert.deepStrictEqual(ipj(['addr', 'show', 'dev', net.bridge!])[0].addr_info.filter((x: any) => x.family === 'inet').map((x: any) => `${x.local}/${x.prefixlen}`), [`${net.gateway}/16`]);
      assert.strictEqual(await tcpGet(outside, '198.51.100.1', 8090), 'healed 198.51.100.2');
      assert.match(await tcpGet(d.ns, web.ep.ipv4!, 80), /^healed /);
      assert.deepStrictEqual((await ctl.reconcile()).rejoinedEndpoints, []);
      d.ns.close();
    } finally {
      srv.close();
      web.ns.close(); a.ns.close(); b.ns.close();
    }
  });

  it('removes a container\'s rules with it, and a network\'s with the network', async () => {
    const initial = nftJson();
    await ctl.createNetwork({ name: 'tidy' });
    const before = nftJson();
    assert.notDeepStrictEqual(before, initial, 'the network has rules of its own');
    const c = await container('tidy', 'tidy1', { ports: ['8090:80'] });
    c.ns.close();
    assert.ok(JSON.stringify(nftJson()).includes('8090'));
    await c.sb.delete();
    await c.ep.delete();
    assert.deepStrictEqual(nftJson(), before);
    await ctl.network('tidy').delete();
    assert.deepStrictEqual(nftJson(), initial);
  });
});
