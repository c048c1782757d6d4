import * as assert from 'assert';
import { Nft, NftGenerationError, ValidationError, NetlinkError, Rule, NftSet, Chain, stmt } from '../src';
import { nftCmd, nftFile, nftJson, strip, withNftNs } from './nft-helpers';
import { rejects } from './helpers';

// One ruleset two ways: as typed objects (what we send and expect back) and
// as nft syntax. Container networking's shape: nat chains with a DNAT map,
// masquerade, filter forward rules, sets, verdict maps, comments.
const T = { family: 'ip' as const, table: 'cnm' };
const IP_SETS: NftSet[] = [
  { ...T, name: 's4', type: 'ipv4_addr', flags: ['interval'], elements: [{ key: '10.0.0.0/8' }, { key: '192.168.1.1' }, { key: '192.168.2.10-192.168.2.20' }] },
  { ...T, name: 'ifs', type: 'ifname', elements: [{ key: 'br0' }, { key: 'veth1' }] },
  { ...T, name: 'ports', type: 'inet_proto . inet_service', map: 'ipv4_addr . inet_service', elements: [{ key: ['tcp', 8080], data: ['10.1.0.2', 80] }, { key: ['udp', 53], data: ['10.1.0.3', 5353] }] },
  { ...T, name: 'vm', type: 'ifname', map: 'verdict', elements: [{ key: 'br0', data: 'accept' }, { key: 'eth0', data: { jump: 'fw' } }] },
  { ...T, name: 'marks', type: 'mark', comment: 'by mark', elements: [{ key: 42 }] },
];
const IP_CHAINS: Chain[] = [
  { ...T, name: 'fw', comment: 'user chain' },
  { ...T, name: 'prerouting', type: 'nat', hook: 'prerouting', priority: -100, policy: 'accept' },
  { ...T, name: 'output', type: 'nat', hook: 'output', priority: -100, policy: 'accept' },
  { ...T, name: 'postrouting', type: 'nat', hook: 'postrouting', priority: 100, policy: 'accept' },
  { ...T, name: 'forward', type: 'filter', hook: 'forward', priority: 0, policy: 'drop' },
];
const IP_RULES: Rule[] = [
  { ...T, chain: 'prerouting', comment: 'published ports', stmts: [{ match: 'fib daddr type', op: '==', value: 'local' }, { counter: { packets: 0, bytes: 0 } }, { nat: 'dnat', family: 'ip', map: { key: ['meta l4proto', 'th dport'], set: 'ports', ports: true } }] },
  { ...T, chain: 'prerouting', stmts: [{ match: 'tcp dport', op: '==', value: 80 }, { redirect: { port: 8080 } }] },
  { ...T, chain: 'output', stmts: [{ match: 'ip daddr', op: '!=', value: '127.0.0.0/8' }, { match: 'fib daddr type', op: '==', value: 'local' }, { nat: 'dnat', family: 'ip', map: { key: ['meta l4proto', 'th dport'], set: 'ports', ports: true } }] },
  { ...T, chain: 'postrouting', comment: 'masquerade br0', stmts: [{ match: 'oifname', op: '!=', value: 'br0' }, { match: 'ip saddr', op: '==', value: '172.18.0.0/16' }, { masquerade: {} }] },
  { ...T, chain: 'postrouting', stmts: [{ match: 'ip saddr', op: '==', value: '10.0.0.0/8' }, { match: 'tcp dport', op: '==', value: 80 }, { nat: 'snat', family: 'ip', addr: '1.2.3.4', port: 1000 }] },
  { ...T, chain: 'postrouting', stmts: [{ match: 'ip saddr', op: '==', value: '10.9.0.0/20' }, { nat: 'snat', family: 'ip', addr: '1.2.3.5' }] },
  { ...T, chain: 'postrouting', stmts: [{ match: 'oifname', op: '==', value: 'br0' }, { match: 'ct status', op: '==', value: 'dnat' }, { masquerade: {} }] },
  { ...T, chain: 'forward', stmts: [{ match: 'iifname', op: '==', value: 'br0' }, { match: 'oifname', op: '==', value: 'br0' }, { match: 'ct state', op: '==', value: ['established', 'related'] }, { verdict: 'accept' }] },
  { ...T, chain: 'forward', stmts: [{ match: 'ct state', op: '==', value: 'new' }, { match: 'ip daddr', op: '==', value: '10.1.0.2' }, { match: 'tcp dport', op: '==', value: 80 }, { counter: { packets: 0, bytes: 0 } }, { verdict: 'accept' }] },
  { ...T, chain: 'forward', stmts: [{ match: 'ip saddr', op: '==', set: 's4' }, { verdict: 'drop' }] },
  { ...T, chain: 'forward', stmts: [{ match: 'iifname', op: '!=', set: 'ifs' }, { verdict: 'drop' }] },
  { ...T, chain: 'forward', stmts: [{ vmap: 'vm', key: 'iifname' }] },
  { ...T, chain: 'forward', stmts: [{ match: 'udp dport', op: '==', value: 53 }, { verdict: 'accept' }] },
  { ...T, chain: 'forward', stmts: [{ match: 'th dport', op: '==', value: 443 }, { verdict: 'continue' }] },
  { ...T, chain: 'forward', stmts: [{ match: 'iifname', op: '==', value: 'veth*' }, { verdict: { goto: 'fw' } }] },
  { ...T, chain: 'forward', stmts: [{ match: 'oifname', op: '==', value: 'br0' }, { verdict: { jump: 'fw' } }] },
  { ...T, chain: 'forward', stmts: [{ match: 'meta mark', op: '==', set: 'marks' }, { match: 'tcp dport', op: '==', value: '1000-2000' }, { verdict: 'accept' }] },
  { ...T, chain: 'forward', stmts: [{ match: 'tcp dport', op: '==', value: [22, 80, 443] }, { verdict: 'accept' }] },
  { ...T, chain: 'forward', stmts: [{ match: 'ip daddr', op: '!=', value: ['10.0.0.0/8', '192.168.1.1', '192.168.7.1-192.168.7.9'] }, { match: 'oifname', op: '==', value: ['eth0', 'eth1'] }, { verdict: 'drop' }] },
  // nft puts reject's `meta l4proto tcp` first in the rule and lists it; so do we.
  { ...T, chain: 'forward', stmts: [{ match: 'meta l4proto', op: '==', value: 'tcp' }, { match: 'iifname', op: '==', value: 'eth9' }, { log: { prefix: 'dropped: ', level: 'info' } }, { limit: { rate: 10, per: 'second' } }, { reject: { with: 'tcp reset' } }] },
  { ...T, chain: 'forward', stmts: [{ match: 'iifname', op: '==', value: 'eth8' }, { mangle: 'meta mark', value: 42 }, { mangle: 'ct mark', value: 7 }, { log: {} }, { reject: {} }] },
  { ...T, chain: 'forward', stmts: [{ match: 'iifname', op: '==', value: 'eth7' }, { reject: { with: 'icmp host-unreachable' } }] },
  { ...T, chain: 'fw', stmts: [{ match: 'ip daddr', op: '!=', value: '10.0.0.1' }, { verdict: 'return' }] },
  { ...T, chain: 'fw', comment: 'the end', stmts: [{ verdict: 'drop' }] },
];
const IP_TEXT = `
table ip cnm {
  comment "cnm table"
  chain fw { comment "user chain"; }
  set s4 { type ipv4_addr; flags interval; elements = { 10.0.0.0/8, 192.168.1.1, 192.168.2.10-192.168.2.20 } }
  set ifs { type ifname; elements = { "br0", "veth1" } }
  map ports { type inet_proto . inet_service : ipv4_addr . inet_service; elements = { tcp . 8080 : 10.1.0.2 . 80, udp . 53 : 10.1.0.3 . 5353 } }
  map vm { type ifname : verdict; elements = { "br0" : accept, "eth0" : jump fw } }
  set marks { type mark; comment "by mark"; elements = { 42 } }
  chain prerouting { type nat hook prerouting priority dstnat; policy accept;
    fib daddr type local counter dnat ip to meta l4proto . th dport map @ports comment "published ports"
    tcp dport 80 redirect to :8080
  }
  chain output { type nat hook output priority -100; policy accept;
    ip daddr != 127.0.0.0/8 fib daddr type local dnat ip to meta l4proto . th dport map @ports
  }
  chain postrouting { type nat hook postrouting priority srcnat; policy accept;
    oifname != "br0" ip saddr 172.18.0.0/16 masquerade comment "masquerade br0"
    ip saddr 10.0.0.0/8 tcp dport 80 snat to 1.2.3.4:1000
    ip saddr 10.9.0.0/20 snat to 1.2.3.5
    oifname "br0" ct status dnat masquerade
  }
  chain forward { type filter hook forward priority filter; policy drop;
    iifname "br0" oifname "br0" ct state established,related accept
    ct state new ip daddr 10.1.0.2 tcp dport 80 counter accept
    ip saddr @s4 drop
    iifname != @ifs drop
    iifname vmap @vm
    udp dport 53 accept
    th dport 443 continue
    iifname "veth*" goto fw
    oifname "br0" jump fw
    meta mark @marks tcp dport 1000-2000 accept
    tcp dport { 22, 80, 443 } accept
    ip daddr != { 10.0.0.0/8, 192.168.1.1, 192.168.7.1-192.168.7.9 } oifname { "eth0", "eth1" } drop
    iifname "eth9" log prefix "dropped: " level info limit rate 10/second reject with tcp reset
    iifname "eth8" meta mark set 42 ct mark set 7 log reject
    iifname "eth7" reject with icmp host-unreachable
  }
}
add rule ip cnm fw ip daddr != 10.0.0.1 return
add rule ip cnm fw drop comment "the end"
`;

const I = { family: 'inet' as const, table: 'cnm6' };
const INET_SETS: NftSet[] = [
  { ...I, name: 'v6', type: 'ipv6_addr', flags: ['interval'], elements: [{ key: 'fd00::/64' }, { key: '2001:db8::1' }] },
  { ...I, name: 'svc', type: 'ipv4_addr . inet_proto . inet_service', elements: [{ key: ['10.0.0.1', 'tcp', 22] }] },
  { ...I, name: 'acl', type: 'ipv4_addr . inet_service', flags: ['interval'], elements: [{ key: ['1.2.3.4', 22] }, { key: ['10.0.0.0/8', '80-90'] }, { key: ['192.168.0.1-192.168.0.9', 443] }] },
];
const INET_CHAINS: Chain[] = [
  { ...I, name: 'input', type: 'filter', hook: 'input', priority: 0, policy: 'accept' },
  { ...I, name: 'pre', type: 'nat', hook: 'prerouting', priority: -100, policy: 'accept' },
];
const INET_RULES: Rule[] = [
  { ...I, chain: 'input', stmts: [{ match: 'ct state', op: '==', value: 'invalid' }, { verdict: 'drop' }] },
  { ...I, chain: 'input', stmts: [{ match: 'ip saddr', op: '==', value: '10.1.0.0/16' }, { match: 'tcp dport', op: '==', value: 22 }, { verdict: 'accept' }] },
  { ...I, chain: 'input', stmts: [{ match: 'ip6 saddr', op: '==', set: 'v6' }, { match: 'udp dport', op: '!=', value: 53 }, { verdict: 'accept' }] },
  { ...I, chain: 'input', stmts: [{ match: 'ip6 daddr', op: '==', value: 'fd00:1::/48' }, { verdict: 'drop' }] },
  { ...I, chain: 'input', stmts: [{ match: ['ip daddr', 'meta l4proto', 'th dport'], op: '==', set: 'svc' }, { verdict: 'accept' }] },
  { ...I, chain: 'input', stmts: [{ match: 'meta l4proto', op: '==', value: 'icmp' }, { verdict: 'accept' }] },
  { ...I, chain: 'input', stmts: [{ match: ['ip saddr', 'tcp dport'], op: '==', set: 'acl' }, { verdict: 'accept' }] },
  { ...I, chain: 'input', stmts: [{ match: 'ip6 saddr', op: '==', value: ['2001:db8::5', 'fd00::/8'] }, { match: 'udp dport', op: '==', value: [53, 5353] }, { verdict: 'accept' }] },
  { ...I, chain: 'input', stmts: [{ match: 'iifname', op: '==', value: 'x1' }, { reject: {} }] },
  { ...I, chain: 'input', stmts: [{ match: 'ip saddr', op: '==', value: '1.2.3.4' }, { reject: {} }] },
  { ...I, chain: 'input', stmts: [{ match: 'ip6 saddr', op: '==', value: '::1' }, { reject: { with: 'icmpv6 admin-prohibited' } }] },
  { ...I, chain: 'input', stmts: [{ match: 'iifname', op: '==', value: 'x2' }, { limit: { rate: 5, per: 'minute', burst: 10, over: true } }, { log: { group: 2 } }, { reject: { with: 'icmpx admin-prohibited' } }] },
  { ...I, chain: 'pre', stmts: [{ match: 'ip daddr', op: '==', value: '1.2.3.4' }, { match: 'tcp dport', op: '==', value: 80 }, { nat: 'dnat', family: 'ip', addr: '10.0.0.2', port: 8080 }] },
  { ...I, chain: 'pre', stmts: [{ match: 'ip6 daddr', op: '==', value: '2001:db8::1' }, { match: 'tcp dport', op: '==', value: 80 }, { nat: 'dnat', family: 'ip6', addr: 'fd00::2', port: 8080 }] },
];
const INET_TEXT = `
table inet cnm6 {
  set v6 { type ipv6_addr; flags interval; elements = { fd00::/64, 2001:db8::1 } }
  set svc { type ipv4_addr . inet_proto . inet_service; elements = { 10.0.0.1 . tcp . 22 } }
  set acl { type ipv4_addr . inet_service; flags interval; elements = { 1.2.3.4 . 22, 10.0.0.0/8 . 80-90, 192.168.0.1-192.168.0.9 . 443 } }
  chain input { type filter hook input priority 0; policy accept;
    ct state invalid drop
    ip saddr 10.1.0.0/16 tcp dport 22 accept
    ip6 saddr @v6 udp dport != 53 accept
    ip6 daddr fd00:1::/48 drop
    ip daddr . meta l4proto . th dport @svc accept
    meta l4proto icmp accept
    ip saddr . tcp dport @acl accept
    ip6 saddr { fd00::/8, 2001:db8::5 } udp dport { 53, 5353 } accept
    iifname "x1" reject
    ip saddr 1.2.3.4 reject
    ip6 saddr ::1 reject with icmpv6 admin-prohibited
    iifname "x2" limit rate over 5/minute burst 10 packets log group 2 reject with icmpx admin-prohibited
  }
  chain pre { type nat hook prerouting priority dstnat; policy accept;
    ip daddr 1.2.3.4 tcp dport 80 dnat ip to 10.0.0.2:8080
    ip6 daddr 2001:db8::1 tcp dport 80 dnat ip6 to [fd00::2]:8080
  }
}
`;

const S = { family: 'ip6' as const, table: 'cnm6x' };
const IP6_SETS: NftSet[] = [
  { ...S, name: 'v6', type: 'ipv6_addr', elements: [{ key: 'fd00::1' }, { key: 'fd00::2' }] },
  { ...S, name: 'p6', type: 'inet_proto . inet_service', map: 'ipv6_addr . inet_service', elements: [{ key: ['tcp', 8080], data: ['fd00::2', 80] }] },
];
const IP6_CHAINS: Chain[] = [
  { ...S, name: 'pre', type: 'nat', hook: 'prerouting', priority: -100, policy: 'accept' },
  { ...S, name: 'post', type: 'nat', hook: 'postrouting', priority: 100, policy: 'accept' },
  { ...S, name: 'forward', type: 'filter', hook: 'forward', priority: 0, policy: 'accept' },
];
const IP6_RULES: Rule[] = [
  { ...S, chain: 'pre', stmts: [{ match: 'fib daddr type', op: '==', value: 'local' }, { nat: 'dnat', family: 'ip6', map: { key: ['meta l4proto', 'th dport'], set: 'p6', ports: true } }] },
  { ...S, chain: 'post', stmts: [{ match: 'oifname', op: '!=', value: 'br0' }, { match: 'ip6 saddr', op: '==', value: 'fd00::/64' }, { masquerade: {} }] },
  { ...S, chain: 'post', stmts: [{ match: 'ip6 saddr', op: '==', value: 'fd01::/63' }, { nat: 'snat', family: 'ip6', addr: '2001:db8::1' }] },
  { ...S, chain: 'forward', stmts: [{ match: 'ip6 daddr', op: '==', set: 'v6' }, { match: 'tcp dport', op: '==', value: 22 }, { verdict: 'drop' }] },
  { ...S, chain: 'forward', stmts: [{ match: 'ip6 nexthdr', op: '==', value: 'udp' }, { verdict: 'accept' }] },
];
const IP6_TEXT = `
table ip6 cnm6x {
  set v6 { type ipv6_addr; elements = { fd00::1, fd00::2 } }
  map p6 { type inet_proto . inet_service : ipv6_addr . inet_service; elements = { tcp . 8080 : fd00::2 . 80 } }
  chain pre { type nat hook prerouting priority dstnat; policy accept;
    fib daddr type local dnat ip6 to meta l4proto . th dport map @p6
  }
  chain post { type nat hook postrouting priority srcnat; policy accept;
    oifname != "br0" ip6 saddr fd00::/64 masquerade
    ip6 saddr fd01::/63 snat ip6 to 2001:db8::1
  }
  chain forward { type filter hook forward priority filter; policy accept;
    ip6 daddr @v6 tcp dport 22 drop
    ip6 nexthdr udp accept
  }
}
`;

async function apply(nft: Nft, sets: NftSet[], chains: Chain[], rules: Rule[], family: 'ip' | 'ip6' | 'inet', table: string) {
  const added: { handle?: number }[] = [];
  await nft.transaction((tx) => {
    tx.addTable({ family, name: table, comment: family === 'ip' ? 'cnm table' : undefined });
    // Chains first: verdict map elements jump to them.
    for (const c of chains) tx.addChain(c);
    for (const s of sets) tx.addSet(s);
    for (const r of rules) added.push(tx.addRule(r));
  });
  return added;
}

/** Rules as the kernel lists them: grouped by chain, in chain order. */
function byChain(rules: readonly Rule[], chains: readonly Chain[]): Rule[] {
  const order = chains.map((c) => c.name);
  return [...rules].map((r, i) => ({ r, i })).sort((a, b) => order.indexOf(a.r.chain) - order.indexOf(b.r.chain) || a.i - b.i).map((x) => x.r);
}

async function readBack(nft: Nft, family: 'ip' | 'ip6' | 'inet', table: string) {
  const sets = await nft.listSets({ family, table });
  for (const s of sets) s.elements = await nft.listElements({ family, table, set: s.name });
  return {
    chains: strip(await nft.listChains({ family, table })),
    sets: strip(sets),
    rules: strip(await nft.listRules({ family, table })),
  };
}

const sortEl = (s: NftSet[]) => s.map((x) => ({ ...x, elements: [...(x.elements ?? [])].sort((a, b) => JSON.stringify(a.key).localeCompare(JSON.stringify(b.key))) }));

describe('nftables', function () {
  this.timeout(30000);

  for (const [name, family, table, sets, chains, rules, text] of [
    ['ip', 'ip', 'cnm', IP_SETS, IP_CHAINS, IP_RULES, IP_TEXT],
    ['inet', 'inet', 'cnm6', INET_SETS, INET_CHAINS, INET_RULES, INET_TEXT],
    ['ip6', 'ip6', 'cnm6x', IP6_SETS, IP6_CHAINS, IP6_RULES, IP6_TEXT],
  ] as const) {
    it(`${name}: what we create, nft -j lists exactly like the same ruleset loaded with nft -f`, async () => {
      await withNftNs(async (nft, ns) => {
        const added = await apply(nft, sets as NftSet[], chains as Chain[], rules as Rule[], family, table);
        assert.ok(added.every((r) => typeof r.handle === 'number' && r.handle > 0), 'every new rule got its handle back');
        const ours = nftJson(ns.name!);
        await withNftNs(async (_n2, ns2) => {
          nftFile(ns2.name!, text);
          assert.deepStrictEqual(ours, nftJson(ns2.name!));
        });
        // And our own reading gives back what we sent.
        const back = await readBack(nft, family, table);
        assert.deepStrictEqual(back.rules, strip(byChain(rules, chains)));
        assert.deepStrictEqual(sortEl(back.sets), sortEl(strip(sets as NftSet[])));
        assert.deepStrictEqual(back.chains, strip(chains));
        await nft.transaction((tx) => { tx.deleteTable({ family, name: table }); });
        assert.deepStrictEqual(nftJson(ns.name!), []);
      });
    });

    it(`${name}: what nft -f creates, we read back as the typed ruleset`, async () => {
      await withNftNs(async (nft, ns) => {
        nftFile(ns.name!, text);
        const back = await readBack(nft, family, table);
        assert.deepStrictEqual(back.rules, strip(byChain(rules, chains)));
        assert.deepStrictEqual(sortEl(back.sets), sortEl(strip(sets as NftSet[])));
        assert.deepStrictEqual(back.chains, strip(chains));
        const rs = await nft.ruleset();
        assert.strictEqual(rs.tables.length, 1);
        assert.strictEqual(rs.tables[0].comment, family === 'ip' ? 'cnm table' : undefined);
        assert.strictEqual(rs.rules.length, rules.length);
        // Re-applying what we read into a fresh namespace gives the same ruleset.
        await withNftNs(async (nft2, ns2) => {
          await apply(nft2, back.sets as NftSet[], back.chains as Chain[], back.rules as Rule[], family, table);
          assert.deepStrictEqual(nftJson(ns2.name!), nftJson(ns.name!));
        });
      });
    });
  }

  it('bridge family: tables, base chains and interface rules, same as nft -f', async () => {
    const B = { family: 'bridge' as const, table: 'br' };
    const chains: Chain[] = [{ ...B, name: 'forward', type: 'filter', hook: 'forward', priority: -200, policy: 'accept' }];
    const rules: Rule[] = [
      { ...B, chain: 'forward', comment: 'isolate', stmts: [{ match: 'iifname', op: '==', value: 'veth*' }, { match: 'oifname', op: '==', value: 'veth*' }, { verdict: 'drop' }] },
      { ...B, chain: 'forward', stmts: [{ match: 'meta mark', op: '!=', value: 7 }, { counter: { packets: 0, bytes: 0 } }] },
      // What legacy links use: ports and the L4 header in one lookup, the EtherType.
      { ...B, chain: 'forward', stmts: [{ match: ['iifname', 'oifname', 'meta l4proto', 'th dport'], op: '==', set: 'pairs' }, { verdict: 'accept' }] },
      { ...B, chain: 'forward', stmts: [{ match: 'meta protocol', op: '==', value: 'ip6' }, { verdict: 'drop' }] },
    ];
    await withNftNs(async (nft, ns) => {
      await nft.transaction((tx) => {
        tx.addTable({ family: 'bridge', name: 'br' });
        tx.addSet({ ...B, name: 'pairs', type: 'ifname . ifname . inet_proto . inet_service' });
        for (const c of chains) tx.addChain(c);
        for (const r of rules) tx.addRule(r);
      });
      const ours = nftJson(ns.name!);
      await withNftNs(async (_n, ns2) => {
        nftFile(ns2.name!, 'table bridge br {\n set pairs { type ifname . ifname . inet_proto . inet_service; }\n' +
          ' chain forward { type filter hook forward priority filter; policy accept;\n' +
          ' iifname "veth*" oifname "veth*" drop comment "isolate"\n meta mark != 7 counter\n' +
          ' iifname . oifname . meta l4proto . th dport @pairs accept\n meta protocol ip6 drop\n }\n}\n');
        assert.deepStrictEqual(ours, nftJson(ns2.name!));
      });
      assert.deepStrictEqual(strip(await nft.listRules({ family: 'bridge' })), strip(rules));
      assert.deepStrictEqual(strip(await nft.listChains({ family: 'bridge' })), strip(chains));
      await rejects(nft.transaction((tx) => { tx.addRule({ ...B, chain: 'forward', stmts: [{ match: 'ip saddr', value: '10.0.0.1' }] }); }), 'EINVAL', /cannot be matched in a bridge table/);
      await nft.transaction((tx) => { tx.deleteTable({ family: 'bridge', name: 'br' }); });
    });
  });

  it('unknown expressions are kept raw and survive a round trip', async () => {
    await withNftNs(async (nft, ns) => {
      nftFile(ns.name!, 'table ip t {\n chain c {\n limit rate 10/second accept\n ip ttl 64 log prefix "x" quota 10 mbytes\n tcp flags syn counter\n }\n' +
        ' chain d {\n tcp flags syn tcp option maxseg size set 1400\n }\n}\n');
      const rules = await nft.listRules({ family: 'ip', table: 't', chain: 'c' });
      assert.strictEqual(rules.length, 3);
      const raw = (rs: typeof rules) => rs.flatMap((r) => r.stmts.filter((s: any) => s.expr).map((s: any) => s.expr.type));
      assert.deepStrictEqual(raw(rules), ['payload', 'cmp', 'quota', 'payload', 'bitwise', 'cmp']);
      assert.deepStrictEqual(rules[0].stmts, [{ limit: { rate: 10, per: 'second' } }, { verdict: 'accept' }]);
      // An expression libnftnl-free decoding does not know (exthdr) stays as its attribute bytes.
      const d = await nft.listRules({ family: 'ip', table: 't', chain: 'd' });
      const ex: any = d[0].stmts.find((s: any) => s.expr?.type === 'exthdr');
      assert.ok(Buffer.isBuffer(ex.expr.raw) && ex.expr.raw.length > 0);
      const before = nftJson(ns.name!);
      await nft.transaction((tx) => {
        tx.flushChain({ family: 'ip', table: 't', name: 'c' });
        for (const r of rules) tx.addRule(r);
      });
      assert.deepStrictEqual(nftJson(ns.name!), before);
      nftCmd(ns.name!, ['delete', 'table', 'ip', 't']);
    });
  });

  it('64-bit counts read back exactly (a BigInt above 2^53 - 1, never rounded); a raw quota with a BigInt goes in whole', async () => {
    await withNftNs(async (nft, ns) => {
      nftFile(ns.name!, 'table ip t {\n chain c {\n counter packets 1152921504606846977 bytes 18446744073709551615 accept\n counter packets 5 bytes 300\n }\n}\n');
      const [big, small] = await nft.listRules({ family: 'ip', table: 't', chain: 'c' });
      assert.deepStrictEqual(big.stmts[0], { counter: { packets: 1152921504606846977n, bytes: 18446744073709551615n } });
      assert.deepStrictEqual(small.stmts[0], { counter: { packets: 5, bytes: 300 } });
      await nft.transaction((tx) => { tx.addRule({ family: 'ip', table: 't', chain: 'c', stmts: [{ expr: { type: 'quota', bytes: 9007199254740993n, flags: 0 } as any }, { verdict: 'accept' }] }); });
      assert.match(nftCmd(ns.name!, ['list', 'chain', 'ip', 't', 'c']).stdout, /quota 9007199254740993 bytes accept/);
      await rejects(nft.transaction((tx) => { tx.addRule({ family: 'ip', table: 't', chain: 'c', stmts: [{ expr: { type: 'quota', bytes: -1n } as any }] }); }), 'EINVAL', /out of range/);
      await rejects(nft.transaction((tx) => { tx.addRule({ family: 'ip', table: 't', chain: 'c', stmts: [{ expr: { type: 'quota', bytes: 2n ** 64n } as any }] }); }), 'EINVAL', /out of range/);
      nftCmd(ns.name!, ['delete', 'table', 'ip', 't']);
    });
  });

  it('insert at a position, replace and delete rules by handle', async () => {
    await withNftNs(async (nft, ns) => {
      const C = { family: 'ip' as const, table: 'f', chain: 'c' };
      let a: any, b: any;
      await nft.transaction((tx) => {
        tx.addTable({ family: 'ip', name: 'f' });
        tx.addChain({ family: 'ip', table: 'f', name: 'c' });
        a = tx.addRule({ ...C, stmts: [{ match: 'iifname', value: 'a' }, { verdict: 'accept' }] });
        b = tx.addRule({ ...C, stmts: [{ match: 'iifname', value: 'b' }, { verdict: 'accept' }] });
      });
      let first: any, mid: any, after: any;
      await nft.transaction((tx) => {
        first = tx.insertRule({ ...C, stmts: [{ match: 'iifname', value: 'first' }, { verdict: 'drop' }] });
        mid = tx.insertRule({ ...C, position: b.handle, stmts: [{ match: 'iifname', value: 'mid' }, { verdict: 'drop' }] });
        after = tx.addRule({ ...C, position: a.handle, comment: 'after a', stmts: [{ match: 'iifname', value: 'after' }, { verdict: 'drop' }] });
      });
      const names = async () => (await nft.listRules(C)).map((r) => (r.stmts[0] as any).value);
      assert.deepStrictEqual(await names(), ['first', 'a', 'after', 'mid', 'b']);
      const listed = await nft.listRules(C);
      assert.deepStrictEqual(listed.map((r) => r.handle), [first.handle, a.handle, after.handle, mid.handle, b.handle]);
      await nft.transaction((tx) => {
        tx.replaceRule({ ...C, handle: a.handle, stmts: [{ match: 'iifname', value: 'A' }, { counter: {} }, { verdict: 'return' }] });
        tx.deleteRule({ ...C, handle: mid.handle });
      });
      assert.deepStrictEqual(await names(), ['first', 'A', 'after', 'b']);
      const text = nftCmd(ns.name!, ['-a', 'list', 'chain', 'ip', 'f', 'c']).stdout;
      assert.match(text, new RegExp(`iifname "A" counter packets 0 bytes 0 return # handle ${a.handle}`));
      assert.match(text, /iifname "after" drop comment "after a"/);
      await nft.transaction((tx) => { tx.deleteTable({ family: 'ip', name: 'f' }); });
    });
  });

  it('a transaction with one bad operation changes nothing and names the failing operation', async () => {
    await withNftNs(async (nft, ns) => {
      nftFile(ns.name!, IP_TEXT);
      const before = nftJson(ns.name!);
      const err = await rejects(nft.transaction((tx) => {
        tx.addTable({ family: 'ip', name: 'other' });
        tx.addChain({ family: 'ip', table: 'other', name: 'c' });
        tx.addElements({ family: 'ip', table: 'cnm', set: 'ports' }, [{ key: ['tcp', 9999], data: ['10.1.0.9', 99] }]);
        tx.addRule({ family: 'ip', table: 'cnm', chain: 'forward', stmts: [{ verdict: 'accept' }] });
        tx.flushChain({ family: 'ip', table: 'cnm', name: 'forward' });
        tx.addRule({ family: 'ip', table: 'cnm', chain: 'nope', stmts: [{ verdict: 'accept' }] });  // fails
        tx.deleteElements({ family: 'ip', table: 'cnm', set: 's4' }, ['192.168.1.1']);
      }), 'ENOENT');
      assert.ok(err instanceof NetlinkError);
      assert.match(err.message, /#5 add rule ip cnm nope/);
      assert.strictEqual((err as any).attribute, 'chain');
      const e3 = await rejects(nft.transaction((tx) => {
        tx.addRule({ family: 'ip', table: 'cnm', chain: 'forward', stmts: [{ match: 'ip saddr', set: 'missing' }, { verdict: 'drop' }] });
      }), 'ENOENT');
      assert.strictEqual(e3.attribute, 'expression #1 (lookup)');
      assert.deepStrictEqual(nftJson(ns.name!), before);
      // A duplicate with create: EEXIST, the kernel's extack text when it sends one.
      const e2 = await rejects(nft.transaction((tx) => {
        tx.addSet({ family: 'ip', table: 'cnm', name: 'new1', type: 'ipv4_addr' });
        tx.addTable({ family: 'ip', name: 'cnm' }, { create: true });
      }), 'EEXIST');
      assert.match(e2.message, /#1 add table ip cnm/);
      assert.deepStrictEqual(nftJson(ns.name!), before);
      nftCmd(ns.name!, ['flush', 'ruleset']);
    });
  });

  it('generation check: a transaction tied to a stale generation fails cleanly', async () => {
    await withNftNs(async (nft, ns) => {
      const g0 = await nft.generation();
      const r = await nft.transaction((tx) => { tx.addTable({ family: 'ip', name: 'g' }); }, { generation: g0 });
      assert.ok(r.generation > g0);
      const g1 = await nft.generation();
      assert.strictEqual(g1, r.generation);
      nftCmd(ns.name!, ['add', 'table', 'ip', 'someone_else']);
      const before = nftJson(ns.name!);
      const e = await rejects(nft.transaction((tx) => { tx.addChain({ family: 'ip', table: 'g', name: 'c' }); }, { generation: g1 }), 'ERESTART');
      assert.ok(e instanceof NftGenerationError);
      assert.strictEqual(e.generation, g1);
      assert.deepStrictEqual(nftJson(ns.name!), before);
      await nft.transaction((tx) => { tx.addChain({ family: 'ip', table: 'g', name: 'c' }); }, { generation: await nft.generation() });
      await nft.transaction((tx) => { tx.addTable({ family: 'ip6', name: 'six' }); tx.flushRuleset('ip'); });
      assert.deepStrictEqual((await nft.listTables()).map((t) => `${t.family} ${t.name}`), ['ip6 six']);
      await nft.transaction((tx) => { tx.flushRuleset(); });
      assert.deepStrictEqual(nftJson(ns.name!), []);
    });
  });

  it('map elements: add, delete, read back; sets of known tables resolve their types', async () => {
    await withNftNs(async (nft, ns) => {
      nftFile(ns.name!, IP_TEXT);
      const P = { family: 'ip' as const, table: 'cnm', set: 'ports' };
      await nft.transaction((tx) => {
        tx.addElements(P, [{ key: ['tcp', 9000], data: ['10.1.0.4', 90] }]);
        tx.deleteElements(P, [['udp', 53]]);
        tx.addElements({ ...T, set: 's4' }, [{ key: '172.16.0.0/12' }]);
        tx.deleteElements({ ...T, set: 's4' }, ['192.168.1.1']);
        tx.addElements({ ...T, set: 'vm' }, [{ key: 'eth1', data: 'drop' }]);
      });
      const els = await nft.listElements(P);
      assert.deepStrictEqual(els.map((e) => [e.key, e.data]).sort(), [[['tcp', 8080], ['10.1.0.2', 80]], [['tcp', 9000], ['10.1.0.4', 90]]]);
      const j = nftJson(ns.name!);
      const s4 = j.find((x) => x.set?.name === 's4').set.elem;
      assert.deepStrictEqual(s4, [{ prefix: { addr: '10.0.0.0', len: 8 } }, { prefix: { addr: '172.16.0.0', len: 12 } }, { range: ['192.168.2.10', '192.168.2.20'] }]);
      const vm = j.find((x) => x.map?.name === 'vm').map.elem;
      assert.deepStrictEqual(vm.find((e: any) => e[0] === 'eth1'), ['eth1', { drop: null }]);
      // destroy (`ifExists`): missing objects are no error, present ones go.
      await nft.transaction((tx) => {
        tx.deleteElements(P, [['tcp', 1], ['tcp', 9000]], { ifExists: true });
        tx.deleteSet({ ...T, name: 'nope' }, { ifExists: true });
        tx.deleteChain({ ...T, name: 'nope' }, { ifExists: true });
        tx.deleteRule({ ...T, chain: 'forward', handle: 99999 }, { ifExists: true });
        tx.deleteTable({ family: 'ip', name: 'nope' }, { ifExists: true });
      });
      assert.deepStrictEqual((await nft.listElements(P)).map((e) => e.key), [['tcp', 8080]]);
      await rejects(nft.transaction((tx) => { tx.deleteElements(P, [['tcp', 1]]); }), 'ENOENT', /delete element ip cnm ports/);
      await nft.transaction((tx) => tx.flushSet(P) && undefined);
      assert.deepStrictEqual(await nft.listElements(P), []);
      nftCmd(ns.name!, ['flush', 'ruleset']);
    });
  });

  it('events: changes by us and by nft arrive typed, each transaction ends with a generation', async () => {
    await withNftNs(async (nft, ns) => {
      const ev = nft.events();
      try {
        const { generation } = await nft.transaction((tx) => {
          tx.addTable({ family: 'ip', name: 'm' });
          tx.addChain({ family: 'ip', table: 'm', name: 'c' });
          tx.addSet({ family: 'ip', table: 'm', name: 'p', type: 'inet_proto . inet_service', map: 'ipv4_addr . inet_service' });
          tx.addRule({ family: 'ip', table: 'm', chain: 'c', comment: 'hi', stmts: [{ match: 'tcp dport', value: [80, 443] }, { verdict: 'accept' }] });
          tx.addElements({ family: 'ip', table: 'm', set: 'p' }, [{ key: ['tcp', 80], data: ['10.0.0.1', 8080] }]);
        });
        const t: any = await ev.waitFor((e) => e.type === 'table');
        assert.deepStrictEqual([t.action, t.object.name], ['new', 'm']);
        const r: any = await ev.waitFor((e) => e.type === 'rule');
        assert.strictEqual(r.object.comment, 'hi');
        const el: any = await ev.waitFor((e) => e.type === 'elements' && (e as any).object.set === 'p');
        assert.deepStrictEqual(el.object.elements, [{ key: ['tcp', 80], data: ['10.0.0.1', 8080] }]);
        const g: any = await ev.waitFor((e) => e.type === 'generation');
        assert.strictEqual(g.id, generation);
        nftCmd(ns.name!, ['delete', 'table', 'ip', 'm']);
        const d: any = await ev.waitFor((e) => e.type === 'table' && (e as any).action === 'del');
        assert.strictEqual(d.object.name, 'm');
      } finally {
        ev.close();
      }
    });
  });

  it('a transaction bigger than the socket buffers (30,000 rules, handles echoed) applies whole', async () => {
    await withNftNs(async (nft, ns) => {
      const T2 = { family: 'ip' as const, table: 'big' };
      const added: any[] = [];
      await nft.transaction((tx) => {
        tx.addTable({ family: 'ip', name: 'big' });
        tx.addChain({ ...T2, name: 'c' });
        for (let i = 0; i < 30000; i++) {
          added.push(tx.addRule({ ...T2, chain: 'c', comment: `rule ${i} with a comment`, stmts: [
            { match: 'ip daddr', value: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}` }, { match: 'tcp dport', value: i % 65536 }, { nat: 'dnat', addr: '10.1.1.1', port: 80 }] }));
        }
      });
      const handles = new Set(added.map((r) => r.handle));
      assert.strictEqual(handles.size, 30000);
      assert.ok(!handles.has(undefined));
      const listed = await nft.listRules(T2);
      assert.deepStrictEqual(listed.map((r) => r.handle), added.map((r) => r.handle));
      assert.strictEqual(listed[29999].comment, 'rule 29999 with a comment');
      nftCmd(ns.name!, ['flush', 'ruleset']);
    });
  });

  it('statement helpers build the typed form', () => {
    const { match, notMatch, inSet, vmap, counter, accept, drop, jump, goTo, dnat, dnatMap, masquerade, redirect, reject, log } = stmt;
    assert.deepStrictEqual([notMatch('oifname', 'br0'), match('ip saddr', '172.18.0.0/16'), masquerade()],
      [{ match: 'oifname', op: '!=', value: 'br0' }, { match: 'ip saddr', op: '==', value: '172.18.0.0/16' }, { masquerade: {} }]);
    assert.deepStrictEqual(dnatMap(['meta l4proto', 'th dport'], 'ports'), { nat: 'dnat', family: 'ip', map: { key: ['meta l4proto', 'th dport'], set: 'ports', ports: undefined } });
    assert.deepStrictEqual([inSet('ip saddr', 's'), vmap('iifname', 'vm'), counter(), accept(), drop(), jump('a'), goTo('b')],
      [{ match: 'ip saddr', op: '==', set: 's' }, { vmap: 'vm', key: 'iifname' }, { counter: {} }, { verdict: 'accept' }, { verdict: 'drop' }, { verdict: { jump: 'a' } }, { verdict: { goto: 'b' } }]);
    assert.deepStrictEqual([dnat('10.0.0.2', 80), redirect(8080), reject('tcp reset'), log('x: ')],
      [{ nat: 'dnat', addr: '10.0.0.2', port: 80, family: undefined }, { redirect: { port: 8080 } }, { reject: { with: 'tcp reset' } }, { log: { prefix: 'x: ' } }]);
  });

  it('bad input is refused before anything is sent', async () => {
    await withNftNs(async (nft, ns) => {
      const bad: [string, (tx: any) => void, RegExp][] = [
        ['unknown family', (tx) => tx.addTable({ family: 'ipx', name: 't' }), /unknown nftables family/],
        ['chain without table', (tx) => tx.addChain({ family: 'ip', name: 'c' }), /table name is required/],
        ['name too long', (tx) => tx.addTable({ family: 'ip', name: 'x'.repeat(300) }), /name too long/],
        ['bad hook', (tx) => tx.addChain({ family: 'ip', table: 't', name: 'c', type: 'nat', hook: 'ingress', priority: 0 }), /hook "ingress" is not valid/],
        ['bad priority', (tx) => tx.addChain({ family: 'ip', table: 't', name: 'c', hook: 'input', priority: 'loud' }), /invalid .* priority/],
        ['unknown key type', (tx) => tx.addSet({ family: 'ip', table: 't', name: 's', type: 'ipv5_addr' }), /unknown set key type/],
        ['wrong key type', (tx) => tx.addSet({ family: 'ip', table: 't', name: 's', type: 'ipv4_addr', elements: [{ key: 'br0' }] }), /IPv4 address/],
        ['wrong concat arity', (tx) => tx.addSet({ family: 'ip', table: 't', name: 's', type: 'inet_proto . inet_service', elements: [{ key: 'tcp' }] }), /expected 2 values/],
        ['bad address', (tx) => tx.addRule({ family: 'ip', table: 't', chain: 'c', stmts: [{ match: 'ip saddr', value: '300.1.1.1' }] }), /IPv4 address/],
        ['bad prefix', (tx) => tx.addRule({ family: 'ip', table: 't', chain: 'c', stmts: [{ match: 'ip saddr', value: '10.0.0.1/8' }] }), /host bits/],
        ['bad port', (tx) => tx.addRule({ family: 'ip', table: 't', chain: 'c', stmts: [{ match: 'tcp dport', value: 70000 }] }), /port/],
        ['ip6 in ip table', (tx) => tx.addRule({ family: 'ip', table: 't', chain: 'c', stmts: [{ match: 'ip6 saddr', value: '::1' }] }), /cannot be matched in a ip table/],
        ['long ifname', (tx) => tx.addRule({ family: 'ip', table: 't', chain: 'c', stmts: [{ match: 'iifname', value: 'x'.repeat(16) }] }), /interface name/],
        ['unknown field', (tx) => tx.addRule({ family: 'ip', table: 't', chain: 'c', stmts: [{ match: 'ip ttl', value: 1 }] }), /unknown match field/],
        ['nat port without protocol', (tx) => tx.addRule({ family: 'ip', table: 't', chain: 'c', stmts: [{ nat: 'dnat', addr: '10.0.0.1', port: 80 }] }), /transport protocol/],
        ['bad verdict', (tx) => tx.addRule({ family: 'ip', table: 't', chain: 'c', stmts: [{ verdict: 'maybe' }] }), /invalid verdict/],
        ['comment too long', (tx) => tx.addRule({ family: 'ip', table: 't', chain: 'c', comment: 'c'.repeat(200), stmts: [] }), /comment/],
        ['map element without data', (tx) => tx.addSet({ family: 'ip', table: 't', name: 'm', type: 'ifname', map: 'verdict', elements: [{ key: 'x' }] }), /needs data/],
        // Misspelt fields are errors, not defaults (a priority 0, a set without intervals, == instead of !=).
        ['misspelt chain field', (tx) => tx.addChain({ family: 'ip', table: 't', name: 'c', type: 'filter', hook: 'input', prority: 10 }), /unknown option "prority"/],
        ['misspelt set field', (tx) => tx.addSet({ family: 'ip', table: 't', name: 's', type: 'ipv4_addr', flgs: ['interval'] }), /unknown option "flgs"/],
        ['misspelt statement field', (tx) => tx.addRule({ family: 'ip', table: 't', chain: 'c', stmts: [{ match: 'ip saddr', value: '1.2.3.4', opp: '!=' }] }), /unknown option "opp"/],
        ['unknown element field', (tx) => tx.addSet({ family: 'ip', table: 't', name: 's', type: 'ipv4_addr', elements: [{ key: '1.2.3.4', timout: 5 }] }), /unknown option "timout"/],
        ['a port as a string', (tx) => tx.addRule({ family: 'ip', table: 't', chain: 'c', stmts: [{ match: 'tcp dport', value: '80' }] }), /a number, not a string/],
        ['burst past 32 bits', (tx) => tx.addRule({ family: 'ip', table: 't', chain: 'c', stmts: [{ limit: { rate: 1, per: 'second', burst: 2 ** 32 + 7 } }] }), /invalid burst/],
        // Raw expressions reach the addon as given: it bounds and checks them (these wrote past its buffer).
        ['raw expression with a 1 MB type', (tx) => tx.addRule({ family: 'ip', table: 't', chain: 'c', stmts: [{ expr: { type: 'x'.repeat(1 << 20), raw: Buffer.alloc(0) } }] }), /expression type: 1 to 255 bytes/],
        ['raw data that grows when read again', (tx) => {
          let n = 0;
          const expr = { type: 'foo', get raw() { return ++n === 1 ? Buffer.alloc(0) : Buffer.alloc(64000, 0x41); } };
          tx.addRule({ family: 'ip', table: 't', chain: 'c', stmts: [{ expr }] });
        }, /do not fit one message/],
        ['raw field out of range', (tx) => tx.addRule({ family: 'ip', table: 't', chain: 'c', stmts: [{ expr: { type: 'limit', burst: 2 ** 32 + 7 } }] }), /limit\.burst: out of range/],
        ['jump and goto at once', (tx) => tx.addRule({ family: 'ip', table: 't', chain: 'c', stmts: [{ verdict: { jump: 'c', goto: 'c' } }] }), /verdict: unknown option "goto"/],
        ['an empty dnat port range', (tx) => tx.addRule({ family: 'ip', table: 't', chain: 'c', stmts: [{ match: 'meta l4proto', value: 'tcp' }, { nat: 'dnat', addr: '10.0.0.1', port: 90, portMax: 80 }] }), /empty port range 90-80/],
        ['raw field of the wrong type', (tx) => tx.addRule({ family: 'ip', table: 't', chain: 'c', stmts: [{ expr: { type: 'counter', packets: 'x' } }] }), /counter\.packets: wrong type/],
        // Destructive ones with a part missing or wrong are refused, not widened (these flushed everything).
        ['flush ruleset of family ""', (tx) => tx.flushRuleset(''), /unknown nftables family ""/],
        ['flush chain without its name', (tx) => tx.flushChain({ family: 'ip', table: 't' }), /chain name/],
        ['delete chain without name or handle', (tx) => tx.deleteChain({ family: 'ip', table: 't' }), /name or handle is required/],
        ['misspelt delete rule field', (tx) => tx.deleteRule({ family: 'ip', table: 't', chain: 'c', handle: 1, hnadle: 2 }), /unknown option "hnadle"/],
        ['a nat family given empty', (tx) => tx.addRule({ family: 'inet', table: 't', chain: 'c', stmts: [{ nat: 'dnat', family: '', addr: '10.0.0.1' }] }), /invalid family/],
      ];
      const before = nftJson(ns.name!);
      for (const [what, fn, re] of bad) {
        const e = await rejects(nft.transaction((tx) => { tx.addTable({ family: 'ip', name: 't' }); fn(tx); }), 'EINVAL', re).catch((x) => { throw new Error(`${what}: ${x.message}`); });
        assert.ok(e instanceof ValidationError, what);
      }
      assert.deepStrictEqual(nftJson(ns.name!), before);
      // A transaction kept past its callback: an error, not changes silently lost.
      let kept: any;
      await nft.transaction((tx) => { kept = tx; });
      assert.throws(() => kept.addTable({ family: 'ip', name: 'late' }), (x: any) => x.code === 'EINVAL' && /already committed/.test(x.message));
      // Wrong types anywhere are ERR_INVALID_ARG_TYPE, never a TypeError of their own.
      for (const [what, fn] of [
        ['a BigInt mark', (tx: any) => tx.addRule({ family: 'ip', table: 't', chain: 'c', stmts: [{ match: 'meta mark', value: 10n }] })],
        ['a Symbol family', (tx: any) => tx.addRule({ family: Symbol('ip'), table: 't', chain: 'c', stmts: [] })],
        ['a Symbol set table', (tx: any) => tx.addElements({ family: 'ip', table: Symbol('t'), set: 's' }, [{ key: 1 }])],
        ['flush ruleset of family null', (tx: any) => tx.flushRuleset(null)],
        ['a counter of the wrong type', (tx: any) => tx.addRule({ family: 'ip', table: 't', chain: 'c', stmts: [{ counter: 42 }] })],
        ['counter packets of the wrong type', (tx: any) => tx.addRule({ family: 'ip', table: 't', chain: 'c', stmts: [{ counter: { packets: 'lots' } }] })],
      ] as [string, (tx: any) => void][]) {
        await rejects(nft.transaction((tx) => { tx.addTable({ family: 'ip', name: 't' }); fn(tx); }), 'ERR_INVALID_ARG_TYPE').catch((x) => { throw new Error(`${what}: ${x.message}`); });
      }
      // Elements for a set that does not exist: the lookup fails (ENOENT, as the kernel says), nothing sent.
      const gone = await rejects(nft.transaction((tx) => { tx.addElements({ family: 'ip', table: 'nope', set: 'x' }, [{ key: 1 }]); }), 'ENOENT', /add element ip nope x \(1\): no such set$/);
      assert.ok(gone instanceof ValidationError);
      assert.deepStrictEqual(nftJson(ns.name!), before);
    });
  });
});
