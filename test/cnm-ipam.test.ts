// Several subnets per network (Docker's IPAM.Config), against the kernel:
// addresses, gateways on the bridge, routes in the sandbox, traffic across
// subnets and out through NAT, refusals without residue, restore.
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { Controller, Netns, Rtnl, type Network, type Sandbox } from '../src';
import { tmpState } from './cnm-helpers';
import { eventually, hostLinks, ipj, ping, rejects, sh } from './helpers';
import { outsideNamespace, tcpGet, tcpServer } from './net-helpers';

/** "ADDR/LEN" of every address on a link, as `ip -j addr` shows them. */
const addrsOf = (dev: string, ns?: string): string[] => ipj(['addr', 'show', 'dev', dev], ns)[0].addr_info.map((a: any) => `${a.local}/${a.prefixlen}`);

/** [dst, gateway] of a namespace's routes of a family, as `ip -j route` shows them. */
const routesOf = (ns: string, f: 4 | 6): [string, string | undefined][] => ipj([`-${f}`, 'route', 'show'], ns).map((r: any) => [r.dst, r.gateway]);

/** Source subnets our masquerade rules match (ip or ip6 table), as `nft -j` lists them. */
function masqueraded(family: 'ip' | 'ip6'): string[] {
  const rules = JSON.parse(sh('nft', ['-j', 'list', 'chain', family, 'cnm-netlink', 'postrouting'])).nftables.filter((x: any) => x.rule).map((x: any) => x.rule.expr);
  return rules
    .filter((e: any[]) => e.some((x) => 'masquerade' in x) && e.some((x) => x.match?.op === '!=' && x.match.left?.meta?.key === 'oifname'))
    .map((e: any[]) => e.find((x) => x.match?.left?.payload?.field === 'saddr').match.right.prefix)
    .map((p: any) => `${p.addr}/${p.len}`);
}

/** What a refused call must leave unchanged: links, their addresses (not their DAD state), rules. */
const kernel = () => JSON.stringify([
  ipj(['addr', 'show']).map((l: any) => [l.ifname, l.addr_info.map((a: any) => `${a.local}/${a.prefixlen}`)]),
  sh('nft', ['-j', 'list', 'ruleset']),
]);

// This (isolated) namespace is the host; "outside" stands in for the rest of
// the world: host ext0 198.51.100.1/24 <-> outside eth0 198.51.100.2/24, with
// no route back to any container subnet (replies come back only through NAT).
describe('cnm: several subnets per network (IPAM.Config)', function () {
  this.timeout(90000);
  let ctl: Controller;
  let rt: Rtnl;
  let outside: Netns;
  let world: Awaited<ReturnType<typeof outsideNamespace>>;

  before(async () => {
    rt = await Rtnl.open();
    world = await outsideNamespace(rt, ['198.51.100.1/24'], ['198.51.100.2/24']);
    outside = world.ns;
  });
  after(async () => {
    await world.remove();
    rt.close();
  });
  beforeEach(async () => { ctl = await Controller.open({ stateDir: tmpState(), upstreamDns: [] }); });
  afterEach(async () => {
    await ctl.destroy();
    await eventually(() => assert.deepStrictEqual(hostLinks(), ['ext0']));
    assert.deepStrictEqual(Netns.list(), ['outside']);
  });

  async function container(net: Network, id: string, opts: { ip?: string; ip6?: string } = {}): Promise<{ sb: Sandbox; ip4: string; ip6?: string; ns: string }> {
    const sb = await ctl.createSandbox({ id });
    const ep = await net.createEndpoint({ name: id, ...opts });
    await ep.join(sb);
    return { sb, ip4: ep.ipv4!, ip6: ep.ipv6, ns: sb.record.netnsName! };
  }

  it('two IPv4 subnets and one IPv6: the small one fills first, every gateway on the bridge, traffic across subnets and out through NAT', async () => {
    const net = await ctl.createNetwork({ name: 'multi', ipv6: true, ipam: [
      { subnet: '10.70.0.0/29', auxAddresses: { printer: '10.70.0.3' } },
      { subnet: 'fd70::/64', gateway: 'fd70::1', ipRange: 'fd70::100/120' },
      { subnet: '10.70.1.0/24', gateway: '10.70.1.254' },
    ] });
    // Docker's inspect: IPv4 entries first, then IPv6, empty fields omitted,
    // each as configured (the gateway picked for the first is on the bridge, not here).
    assert.deepStrictEqual(net.inspect().IPAM.Config, [
      { Subnet: '10.70.0.0/29', AuxiliaryAddresses: { printer: '10.70.0.3' } },
      { Subnet: '10.70.1.0/24', Gateway: '10.70.1.254' },
      { Subnet: 'fd70::/64', IPRange: 'fd70::100/120', Gateway: 'fd70::1' },
    ]);
    const br = addrsOf(net.bridge!);
    for (const a of ['10.70.0.1/29', '10.70.1.254/24', 'fd70::1/64']) assert.ok(br.includes(a), `${a} on the bridge: ${br}`);
    assert.deepStrictEqual([masqueraded('ip'), masqueraded('ip6')], [['10.70.0.0/29', '10.70.1.0/24'], ['fd70::/64']]);

    // The /29 has .2, .4, .5, .6 to give (.1 the gateway, .3 auxiliary); then the second subnet.
    const c1 = await container(net, 'c1');
    const fill = [];
    for (const name of ['e2', 'e3', 'e4']) fill.push(await net.createEndpoint({ name }));
    const c5 = await container(net, 'c5');
    assert.deepStrictEqual([c1.ip4, ...fill.map((e) => e.ipv4), c5.ip4], ['10.70.0.2', '10.70.0.4', '10.70.0.5', '10.70.0.6', '10.70.1.1']);
    assert.deepStrictEqual([c1.ip6, ...fill.map((e) => e.ipv6), c5.ip6], ['fd70::100', 'fd70::101', 'fd70::102', 'fd70::103', 'fd70::104'], 'IPv6 from its range');
    const c6 = await container(net, 'c6', { ip: '10.70.1.50', ip6: 'fd70::9' });
    assert.deepStrictEqual([c6.ip4, c6.ip6], ['10.70.1.50', 'fd70::9'], 'static, in the second subnet (and outside the IPv6 range)');

    // Inside: the prefix of its own subnet, the default route through its gateway, the other subnet through it too.
    assert.ok(addrsOf('eth0', c5.ns).includes('10.70.1.1/24'));
    assert.ok(addrsOf('eth0', c1.ns).includes('10.70.0.2/29'));
    assert.deepStrictEqual(routesOf(c5.ns, 4).filter(([, gw]) => gw), [['default', '10.70.1.254'], ['10.70.0.0/29', '10.70.1.254']]);
    assert.deepStrictEqual(routesOf(c1.ns, 4).filter(([, gw]) => gw), [['default', '10.70.0.1'], ['10.70.1.0/24', '10.70.0.1']]);
    assert.deepStrictEqual(routesOf(c1.ns, 6).filter(([d]) => d === 'default').map(([, gw]) => gw), ['fd70::1']);

    // Across subnets through the bridge, without NAT; IPv6 on the shared subnet.
    assert.ok(ping(c1.ns, c5.ip4), 'c1 (first subnet) -> c5 (second)');
    assert.ok(ping(c5.ns, c1.ip4), 'c5 -> c1');
    assert.ok(ping(c1.ns, c6.ip6!), 'c1 -> c6 over IPv6');
    const ns1 = await c1.sb.netns();
    const ns5 = await c5.sb.netns();
    const inner = await tcpServer(ns1, '0.0.0.0', 7000, (r) => `from ${r}`);
    const world = await tcpServer(outside, '198.51.100.2', 9000, (r) => `seen ${r}`);
    try {
      assert.strictEqual(await tcpGet(ns5, c1.ip4, 7000), 'from 10.70.1.1', 'the source address kept across subnets');
      // Out: each subnet masqueraded to the host's address (no route back to either subnet outside).
      assert.strictEqual(await tcpGet(ns1, '198.51.100.2', 9000), 'seen 198.51.100.1');
      assert.strictEqual(await tcpGet(ns5, '198.51.100.2', 9000), 'seen 198.51.100.1');
    } finally {
      inner.close();
      world.close();
      ns1.close();
      ns5.close();
    }

    // The auxiliary address is never handed out, and is no static IP either.
    await rejects(net.createEndpoint({ name: 'aux', ip: '10.70.0.3' }), 'EADDRINUSE', /auxiliary address "printer"/);
    for (const e of fill) await e.delete();
    assert.strictEqual((await net.createEndpoint({ name: 'e7' })).ipv4, '10.70.0.4', 'the lowest free of the first subnet, not .3');
  });

  it('every bad input is refused (EINVAL, EBUSY, EADDRINUSE, ENOSPC) and leaves nothing behind', async () => {
    const keep = await ctl.createNetwork({ name: 'keep', ipam: [{ subnet: '10.72.0.0/29', auxAddresses: { r: '10.72.0.6' } }, { subnet: '10.72.1.0/30' }] });
    const before = kernel();
    const nets = () => ctl.networks().map((n) => n.name);
    const nets0 = nets();
    const bad: [object, string, RegExp][] = [
      [{ ipam: [{ subnet: '10.73.0.0/24' }, { subnet: '10.73.0.128/25' }] }, 'EINVAL', /10\.73\.0\.128\/25 overlaps .*10\.73\.0\.0\/24 of the same network/],
      [{ ipam: [{ subnet: '10.73.0.0/24' }, { subnet: '10.72.1.0/24' }] }, 'EBUSY', /overlaps with another network \(10\.72\.1\.0\/30\)/],
      [{ ipam: [{ subnet: 'fd73::/64' }] }, 'EINVAL', /IPv6 has not been enabled/],
      [{ ipam: [{ ipRange: '10.73.0.0/25' }] }, 'EINVAL', /without a subnet/],
      [{ ipam: [{ subnet: '10.73.0.0/24', ipRange: '10.74.0.0/25' }] }, 'EINVAL', /not inside subnet/],
      [{ ipv6: true, ipam: [{ subnet: '10.73.0.0/24' }, { subnet: 'fd73::/64', ipRange: '10.73.0.0/25' }] }, 'EINVAL', /not inside subnet fd73::\/64/],
      [{ ipam: [{ subnet: '10.73.0.0/24', gateway: '10.74.0.1' }] }, 'EINVAL', /ipam\[0\]\.gateway 10\.74\.0\.1 is outside/],
      [{ ipam: [{ subnet: '10.73.0.0/24', auxAddresses: { a: '10.74.0.9' } }] }, 'EINVAL', /auxiliary address "a" .*outside/],
      [{ ipam: [{ subnet: '10.73.0.0/24', auxAddresses: { a: '10.73.0.1' } }] }, 'EINVAL', /is the gateway/],
      [{ ipam: [{ subnet: '10.73.0.0/24', auxAddresses: { a: '10.73.0.9', b: '10.73.0.9' } }] }, 'EINVAL', /also auxiliary address "a"/],
      [{ ipam: [{ subnet: '10.73.0.0/24', auxAddresses: { a: '10.73.0.255' } }] }, 'EINVAL', /broadcast/],
      [{ ipam: [{ subnet: '10.73.0.0/24', auxAddresses: { a: 'fd00::9' } }] }, 'EINVAL', /not IPv4/],
      [{ ipam: [{ subnet: '10.73.0.0/24' }, { subnet: '10.73.1.0/31' }] }, 'EINVAL', /too small/],
      [{ ipam: [{ subnet: '10.73.0.1/24' }] }, 'EINVAL', /host bits/],
      [{ ipam: [{ subnet: '10.73.0.0/24' }], subnet: '10.73.0.0/24' }, 'EINVAL', /not both/],
      [{ ipam: '10.73.0.0/24' }, 'ERR_INVALID_ARG_TYPE', /ipam/],
      [{ ipam: [{ subnet: '10.73.0.0/24', auxAddresses: { a: 9 } }] }, 'ERR_INVALID_ARG_TYPE', /auxAddresses/],
    ];
    for (const [o, code, re] of bad) await rejects(ctl.createNetwork({ name: 'bad', ...o } as any), code, re);
    assert.deepStrictEqual(nets(), nets0);

    // Endpoints: 4 addresses in the /29 (.1 gateway, .6 auxiliary), 1 in the /30 (.1 gateway); then none.
    const eps = [];
    for (let i = 0; i < 5; i++) eps.push(await keep.createEndpoint({ name: `k${i}` }));
    assert.deepStrictEqual(eps.map((e) => e.ipv4), ['10.72.0.2', '10.72.0.3', '10.72.0.4', '10.72.0.5', '10.72.1.2']);
    await rejects(keep.createEndpoint({ name: 'full' }), 'ENOSPC', /10\.72\.0\.0\/29, 10\.72\.1\.0\/30/);
    await eps[4].delete();
    const badEp: [object, string, RegExp][] = [
      [{ ip: '10.72.2.9' }, 'EINVAL', /IP address 10\.72\.2\.9 is outside every IPv4 subnet of network keep \(10\.72\.0\.0\/29, 10\.72\.1\.0\/30\)/],
      [{ ip: '10.72.0.6' }, 'EADDRINUSE', /auxiliary address "r"/],
      [{ ip: '10.72.1.1' }, 'EADDRINUSE', /in use/],
      [{ ip: '10.72.0.2' }, 'EADDRINUSE', /in use/],
      [{ ip: '10.72.1.3' }, 'EINVAL', /broadcast/],
      [{ ip: 'fd00::5' }, 'EINVAL', /not IPv4/],
      [{ ip6: 'fd00::5' }, 'EINVAL', /no IPv6 subnet/],
    ];
    for (const [o, code, re] of badEp) await rejects(keep.createEndpoint({ name: 'x', ...o }), code, re);
    assert.strictEqual((await keep.createEndpoint({ name: 'k4again' })).ipv4, '10.72.1.2', 'a failed call took no address');
    assert.strictEqual(keep.endpoints().length, 5);
    assert.strictEqual(kernel(), before, 'links, addresses and rules unchanged');
  });

  it('IPv6 subnets not given come from one /48 of this host, in order, as Docker 28 picks them; the host keeps its /48 across a reopen', async () => {
    const dir = tmpState();
    await ctl.destroy();
    ctl = await Controller.open({ stateDir: dir, upstreamDns: [] });
    const six = (n: { inspect(): any }) => n.inspect().IPAM.Config.map((c: any) => c.Subnet).find((x: string) => x.includes(':'));
    const a = six(await ctl.createNetwork({ name: 'u1', ipv6: true }));
    const b = six(await ctl.createNetwork({ name: 'u2', ipv6: true }));
    const m = /^(fd[0-9a-f]{2}:[0-9a-f]{1,4}:[0-9a-f]{1,4})::\/64$/.exec(a);
    assert.ok(m, a);
    assert.strictEqual(b, `${m![1]}:1::/64`);
    await ctl.close();
    ctl = await Controller.open({ stateDir: dir, upstreamDns: [] });
    assert.strictEqual(six(await ctl.createNetwork({ name: 'u3', ipv6: true })), `${m![1]}:2::/64`);
  });

  it('restore after a reopen: every subnet, its gateway, auxiliary addresses and the allocations come back', async () => {
    const dir = tmpState();
    await ctl.destroy();
    ctl = await Controller.open({ stateDir: dir, upstreamDns: [] });
    const net = await ctl.createNetwork({ name: 'again', ipv6: true, ipam: [
      { subnet: '10.75.0.0/29', auxAddresses: { a: '10.75.0.2' } }, { subnet: '10.75.1.0/24', ipRange: '10.75.1.64/26' }, { subnet: 'fd75::/64', ipRange: 'fd75::/120' },
    ] });
    const before = net.inspect().IPAM.Config;
    // The /29: .1 the gateway, .2 auxiliary, .3-.6 given; then the range of the second (its first address the gateway).
    for (let i = 0; i < 4; i++) await net.createEndpoint({ name: `r${i}` });
    const c = await container(net, 'r4');
    assert.deepStrictEqual([c.ip4, c.ip6], ['10.75.1.65', 'fd75::6']);
    await ctl.close();
    ctl = await Controller.open({ stateDir: dir, upstreamDns: [] });
    const n2 = ctl.network('again');
    assert.deepStrictEqual(n2.inspect().IPAM.Config, before);
    assert.strictEqual(n2.inspect().Containers.r4.IPv4Address, '10.75.1.65/24');
    const next = await n2.createEndpoint({ name: 'r5' });
    assert.deepStrictEqual([next.ipv4, next.ipv6], ['10.75.1.66', 'fd75::7'], 'nothing handed out twice, the auxiliary address neither');
    await rejects(n2.createEndpoint({ name: 'r6', ip: '10.75.0.2' }), 'EADDRINUSE', /auxiliary/);
    await rejects(n2.createEndpoint({ name: 'r6', ip: '10.75.0.4' }), 'EADDRINUSE', /in use/);
    const br = addrsOf(n2.bridge!);
    for (const a of ['10.75.0.1/29', '10.75.1.64/24', 'fd75::1/64']) assert.ok(br.includes(a), `${a} on the bridge: ${br}`);
    assert.deepStrictEqual(routesOf(c.ns, 4).filter(([, gw]) => gw), [['default', '10.75.1.64'], ['10.75.0.0/29', '10.75.1.64']], 'routes through its own subnet\'s gateway');
  });

  it('state written by the single-subnet version (ipv4Subnet, ipv6Subnet) opens, keeps its allocations and is moved to the list', async () => {
    const dir = tmpState();
    await ctl.destroy();
    ctl = await Controller.open({ stateDir: dir, upstreamDns: [] });
    const net = await ctl.createNetwork({ name: 'legacy', subnet: '10.76.0.0/24', ipRange: '10.76.0.128/25', subnet6: 'fd76::/64' });
    const c = await container(net, 'l1');
    await ctl.close();
    // Rewrite the record as the previous version wrote it.
    const file = path.join(dir, 'state.json');
    const snap = JSON.parse(fs.readFileSync(file, 'utf8'));
    const rec = snap.network[net.id];
    [rec.ipv4Subnet, rec.ipv6Subnet] = rec.subnets;
    delete rec.subnets;
    fs.writeFileSync(file, JSON.stringify(snap));
    ctl = await Controller.open({ stateDir: dir, upstreamDns: [] });
    const n2 = ctl.network('legacy');
    assert.deepStrictEqual(n2.inspect().IPAM.Config, [{ Subnet: '10.76.0.0/24', IPRange: '10.76.0.128/25' }, { Subnet: 'fd76::/64' }]);
    assert.deepStrictEqual([n2.gateway, n2.record.subnets!.map((s) => s.gateway)], ['10.76.0.128', ['10.76.0.128', 'fd76::1']], 'the picked gateways kept');
    assert.deepStrictEqual([c.ip4, c.ip6], ['10.76.0.129', 'fd76::2']);
    const e = await n2.createEndpoint({ name: 'l2' });
    assert.deepStrictEqual([e.ipv4, e.ipv6], ['10.76.0.130', 'fd76::3']);
    assert.ok(ping(c.ns, '10.76.0.128'), 'the container still reaches its gateway');
    await ctl.close();
    const after = JSON.parse(fs.readFileSync(file, 'utf8')).network[net.id];
    assert.deepStrictEqual([after.ipv4Subnet, after.ipv6Subnet, after.subnets.map((s: any) => s.subnet)], [undefined, undefined, ['10.76.0.0/24', 'fd76::/64']]);
    ctl = await Controller.open({ stateDir: dir, upstreamDns: [] });
  });
});
