// Golden files of the nftables ruleset the bridge driver asks for, one per
// option combination, as moby's nftabler/testdata/*.golden. Built without
// the kernel: the transaction is recorded, one operation a line. A golden
// file is rewritten by `UPDATE_GOLDEN=1 npm run test:unit`, never by hand.
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import type { CnmContext } from '../../src/cnm/context';
import { parseBridgeOptions } from '../../src/cnm/drivers/bridge/options';
import { bridgeRules } from '../../src/cnm/drivers/bridge/rules';
import { BASE_COMMENT, V4, V6, linkElements, putBase, putLinkBase, putLinks, putNetwork, putPorts, type TxLike } from '../../src/cnm/firewall/nft-ruleset';
import { linkRules } from '../../src/cnm/drivers/bridge/links';
import { portRules } from '../../src/cnm/firewall/rules';
import type { SubnetState } from '../../src/cnm/ipam';
import { hostAddresses, portRequests } from '../../src/cnm/ports';
import type { EndpointRecord, NetworkRecord } from '../../src/cnm/types';

const GOLDEN = path.resolve(__dirname, '../../../test/unit/golden');
const NET_ID = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90';
const EP_ID = 'e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff';

/** A transaction that writes down what it is asked, one JSON line per operation. */
function recorder(): { tx: TxLike; lines: string[] } {
  const lines: string[] = [];
  const tx = new Proxy({}, {
    get: (_t, op: string) => (...args: unknown[]) => { lines.push(`${op} ${args.map((a) => JSON.stringify(a)).join(' ')}`); },
  }) as TxLike;
  return { tx, lines };
}

interface Case {
  name: string;
  options?: Record<string, string>;
  internal?: boolean;
  ipv6?: boolean;
  ports?: string[];
  /** The network's subnets (default: 192.0.2.0/24, and fd00:db8::/64 with ipv6). */
  subnets?: SubnetState[];
}

const CASES: Case[] = [
  { name: 'default', ports: ['8080:80'] },
  { name: 'icc-off', options: { 'com.docker.network.bridge.enable_icc': 'false' }, ports: ['8080:80'] },
  { name: 'internal', internal: true },
  { name: 'masquerade-off', options: { 'com.docker.network.bridge.enable_ip_masquerade': 'false' }, ports: ['8080:80'] },
  { name: 'host-binding', options: { 'com.docker.network.bridge.host_binding_ipv4': '127.0.0.1' }, ports: ['8080:80', '9000:9000/udp'] },
  { name: 'host-ipv4-snat', options: { 'com.docker.network.host_ipv4': '192.0.2.10' }, ports: ['8080:80'] },
  { name: 'ipv6', ipv6: true, ports: ['8080:80', '[2001:db8::1]:8443:443'] },
  { name: 'routed', options: { 'com.docker.network.bridge.gateway_mode_ipv4': 'routed' }, ports: ['8080:80'] },
  { name: 'nat-unprotected', options: { 'com.docker.network.bridge.gateway_mode_ipv4': 'nat-unprotected' }, ports: ['8080:80'] },
  { name: 'isolated', internal: true, options: { 'com.docker.network.bridge.gateway_mode_ipv4': 'isolated' } },
  { name: 'ipv6-routed-v4-nat', ipv6: true, options: { 'com.docker.network.bridge.gateway_mode_ipv6': 'routed' }, ports: ['8080:80'] },
  { name: 'several-subnets', ipv6: true, ports: ['8080:80'], subnets: [
    { subnet: '192.0.2.0/29', gateway: '192.0.2.1', used: ['192.0.2.1'] },
    { subnet: '198.51.100.0/24', gateway: '198.51.100.1', range: '198.51.100.128/25', aux: { router: '198.51.100.254' }, used: ['198.51.100.1'] },
    { subnet: 'fd00:db8::/64', gateway: 'fd00:db8::1', used: ['fd00:db8::1'] },
  ] },
];

function render(c: Case): string {
  const opts = parseBridgeOptions(c.options ?? {});
  const n: NetworkRecord = {
    id: NET_ID, name: c.name, driver: 'bridge', created: '2026-01-01T00:00:00.000Z', internal: !!c.internal, ipv6: !!c.ipv6,
    options: c.options ?? {}, labels: {}, dns: true, bridge: 'br-a1b2c3d4e5f6',
    icc: opts.icc, masquerade: opts.masquerade, hostBindingIpv4: opts.hostBindingIpv4, mtu: opts.mtu,
    gatewayMode4: opts.gatewayMode4, gatewayMode6: opts.gatewayMode6,
    subnets: c.subnets ?? [
      { subnet: '192.0.2.0/24', gateway: '192.0.2.1', used: ['192.0.2.1'] },
      ...(c.ipv6 ? [{ subnet: 'fd00:db8::/64', gateway: 'fd00:db8::1', used: ['fd00:db8::1'] }] : []),
    ],
  };
  const ctx = { ipam: new Map() } as unknown as CnmContext;
  const ep: EndpointRecord = {
    id: EP_ID, name: 'web', networkId: NET_ID, created: n.created, aliases: [], ipv4: '192.0.2.2', ipv6: c.ipv6 ? 'fd00:db8::2' : undefined,
    // As createEndpoint makes them: a binding per host address (per family for a default mapping).
    ports: (c.ports ?? []).flatMap((p) => portRequests(p).flatMap((r) => hostAddresses(r, { v4: true, v6: !!c.ipv6 }, 'network', n.hostBindingIpv4)
      .map((hostIp) => ({ hostIp, hostPort: r.lo, containerPort: r.containerPort, proto: r.proto })))),
  };
  const fams = c.ipv6 ? [V4, V6] : [V4];
  const out: string[] = [];
  for (const f of fams) {
    const { tx, lines } = recorder();
    putBase(tx, f, BASE_COMMENT, true);
    putNetwork(tx, bridgeRules(ctx, n), f);
    putPorts(tx, portRules(ep, n), false, [f]);
    out.push(`# table ${f.F} cnm-netlink`, ...lines);
  }
  return out.join('\n') + '\n';
}

/**
 * Legacy links on an icc-off default bridge: web -> db (5432/tcp, 53/udp
 * exposed), as the bridge driver hands them to the firewall: the tables,
 * the network, the bridge table, then one join's elements.
 */
function renderLinks(): string {
  const net: NetworkRecord = {
    id: NET_ID, name: 'bridge', driver: 'bridge', created: '2026-01-01T00:00:00.000Z', internal: false, ipv6: false,
    options: { 'com.docker.network.bridge.enable_icc': 'false' }, labels: {}, dns: false, builtin: true, bridge: 'cnm0', icc: false,
    subnets: [{ subnet: '172.17.0.0/16', gateway: '172.17.0.1', used: ['172.17.0.1'] }],
  };
  const ep = (id: string, ip: string, ifname: string): EndpointRecord =>
    ({ id, name: id, networkId: NET_ID, created: net.created, aliases: [], ipv4: ip, ports: [], sandboxId: id, hostIfname: ifname });
  const db = { ...ep('db', '172.17.0.2', 'veth0000001'), exposedPorts: ['5432/tcp', '53/udp'] };
  const rules = linkRules([{ parent: ep('web', '172.17.0.3', 'veth0000002'), child: db, ports: [{ port: 53, proto: 'udp' }, { port: 5432, proto: 'tcp' }] }]);
  const { tx, lines } = recorder();
  putBase(tx, V4, BASE_COMMENT, true);
  putNetwork(tx, bridgeRules({ ipam: new Map() } as unknown as CnmContext, net), V4);
  putLinkBase(tx, BASE_COMMENT);
  putLinks(tx, linkElements(NET_ID, rules), false);
  return ['# tables ip and bridge cnm-netlink', ...lines].join('\n') + '\n';
}

describe('unit: bridge firewall golden files', () => {
  for (const c of [...CASES, { name: 'links' }]) {
    it(c.name, () => {
      const file = path.join(GOLDEN, `bridge-${c.name}.golden`);
      const got = c.name === 'links' ? renderLinks() : render(c);
      if (process.env.UPDATE_GOLDEN) fs.writeFileSync(file, got);
      assert.ok(fs.existsSync(file), `${file} is missing: run UPDATE_GOLDEN=1 npm run test:unit`);
      assert.strictEqual(got, fs.readFileSync(file, 'utf8'));
    });
  }

  it('options are parsed as Docker parses them, and refused when bad', () => {
    assert.strictEqual(parseBridgeOptions({ 'com.docker.network.bridge.enable_icc': 'False' }).icc, false);
    assert.strictEqual(parseBridgeOptions({ 'com.docker.network.bridge.enable_icc': '1' }).icc, true);
    const bad: Record<string, string>[] = [
      { 'com.docker.network.bridge.enable_icc': 'maybe' },
      { 'com.docker.network.bridge.enable_ip_masquerade': 'yes' },
      { 'com.docker.network.driver.mtu': '0x5dc' },
      { 'com.docker.network.driver.mtu': '67' },
      { 'com.docker.network.driver.mtu': '65536' },
      { 'com.docker.network.bridge.host_binding_ipv4': '::1' },
      { 'com.docker.network.bridge.name': 'a/b' },
      { 'com.docker.network.bridge.name': 'a\0b' },
      { 'com.docker.network.bridge.nosuch': 'x' },
      { 'com.docker.network.bridge.gateway_mode_ipv4': 'bogus' },
      { 'com.docker.network.bridge.gateway_mode_ipv6': 'NAT' },
    ];
    for (const o of bad) assert.throws(() => parseBridgeOptions(o), (e: any) => e.code === 'EINVAL' && e.message.includes(Object.keys(o)[0]), JSON.stringify(o));
  });
});
