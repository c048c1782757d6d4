// Bad input at the lower layers (Rtnl, Nft, Netns): every rejection is an
// Error with a string code (ERR_INVALID_ARG_TYPE for wrong types, EINVAL for
// bad values, EBADF for a closed namespace), nothing is coerced or
// truncated, and nothing reaches the kernel. Cross-checked with `ip -j`.
import * as assert from 'assert';
import { Netns, Nft, Rtnl, ValidationError } from '../src';
import { InvalidArgTypeError } from '../src/errors';
import { hostLinks, ipj, ipLink, uniq } from './helpers';

/** Runs fn (sync or async) and returns the error it fails with, checking its code. */
async function fails(what: string, fn: () => unknown, code: string, re?: RegExp): Promise<any> {
  let err: any;
  try {
    await fn();
  } catch (e: any) {
    err = e;
  }
  const isError = err instanceof Error;
  assert.ok(err, `${what}: expected ${code}, but it succeeded`);
  assert.ok(isError, `${what}: not an Error: ${err}`);
  assert.strictEqual(typeof err.code, 'string', `${what}: no string code (${err.constructor?.name}: ${err.message})`);
  assert.strictEqual(err.code, code, `${what}: expected ${code}, got ${err.code}: ${err.message}`);
  if (re) assert.match(err.message, re, what);
  return err;
}

describe('validation: coded errors, nothing coerced', () => {
  let rt: Rtnl;
  let nft: Nft;
  before(async () => { rt = await Rtnl.open(); nft = await Nft.open(); });
  after(() => { rt.close(); nft.close(); });
  afterEach(async () => {
    for (const l of await rt.link.list()) if (l.name !== 'lo') await rt.link.delete(l.index).catch(() => {});
  });

  it('wrong argument types are ERR_INVALID_ARG_TYPE naming the field, never a TypeError', async () => {
    const ns = await Netns.create();
    try {
      const cases: [string, () => unknown, RegExp][] = [
        ['link.add(null)', () => rt.link.add(null as any), /link.add request must be an object \(received null\)/],
        ['link.set(x, null)', () => rt.link.set('lo', null as any), /link.set request must be an object/],
        ['link.set(null, {})', () => rt.link.set(null as any, { up: true }), /link must be a link name, an ifindex or a Link/],
        ['link.get({})', () => rt.link.get({} as any), /link must be/],
        ['link.delete(true)', () => rt.link.delete(true as any), /link must be/],
        ['addr.add(l, null)', () => rt.addr.add('lo', null as any), /address must be a CIDR string or \{ address/],
        ['addr.add({dev, address})', () => (rt.addr.add as any)({ dev: 'lo', address: '10.9.0.1/24' }), /address must be a CIDR string or \{ address, \.\.\. \} \(received undefined\)/],
        ['addr.add({dev}, cidr)', () => rt.addr.add({ dev: 'lo' } as any, '10.9.0.1/24'), /link must be a link name, an ifindex or a Link \(received an object\)/],
        ['addr.add(cidr) without a link', () => (rt.addr.add as any)('fe80::1%eth0/64'), /address must be a CIDR string or \{ address, \.\.\. \} \(received undefined\)/],
        ['addr flags as a string', () => rt.addr.add('lo', { address: '10.9.0.1/24', flags: 'nodad' as any }), /^flags must be a list \(received string "nodad"\)/],
        ['addr.list family', () => rt.addr.list({ family: '4' as any }), /family must be 4 or 6/],
        ['Rtnl.open({ netns: {} })', () => Rtnl.open({ netns: {} as any }), /netns must be a Netns \(received an object\)/],
        ['link.add netns: {}', () => rt.link.add({ kind: 'bridge', name: 'b0', netns: {} as any }), /^netns must be a Netns \(received an object\)/],
        ['peer netns: {}', () => rt.link.add({ kind: 'veth', name: 'v0', peer: { name: 'v1', netns: {} as any } }), /^peer\.netns must be a Netns/],
        ['link.set netns: 5', () => rt.link.set('lo', { netns: 5 as any }), /^netns must be a Netns \(received number 5\)/],
        ['Rtnl.open(5)', () => Rtnl.open(5 as any), /options must be an object/],
        ['Nft.open({ netns: 3 })', () => Nft.open({ netns: 3 as any }), /netns must be a Netns/],
        ['transaction(42)', () => nft.transaction(42 as any), /transaction callback must be a function \(received number 42\)/],
        ['tx.addTable(null)', () => nft.transaction((tx) => { tx.addTable(null as any); }), /table must be an object/],
        ['rule stmts as a string', () => nft.transaction((tx) => { tx.addRule({ family: 'ip', table: 't', chain: 'c', stmts: 'accept' as any }); }), /stmts must be a list/],
        ['table flags as a string', () => nft.transaction((tx) => { tx.addTable({ family: 'ip', name: 't', flags: 'dormant' as any }); }), /table flags must be a list/],
        ['family as a number', () => nft.listRules({ family: 2 as any }), /family must be one of/],
        ['listRules(5)', () => nft.listRules(5 as any), /list options must be an object/],
        ['mtu as a string', () => rt.link.add({ kind: 'bridge', name: 'b0', mtu: '0x5dc' as any }), /^mtu must be an integer \(received string "0x5dc"\)/],
        ['peer mtu as a string', () => rt.link.add({ kind: 'veth', name: 'v0', peer: { name: 'v1', mtu: '1500' as any } }), /^peer\.mtu must be an integer/],
        ['bridge.stp: "yes"', () => rt.link.add({ kind: 'bridge', name: 'b0', bridge: { stp: 'yes' as any } }), /^bridge\.stp must be a boolean \(received string "yes"\)/],
        ['up: 1', () => rt.link.set('lo', { up: 1 as any }), /^up must be a boolean/],
        ['peer: "x"', () => rt.link.add({ kind: 'veth', name: 'v0', peer: 'v1' as any }), /^peer must be an object/],
        ['route.add(null)', () => rt.route.add(null as any), /route must be an object/],
        ['route family: "4"', () => rt.route.add({ dst: 'default', family: '4' as any }), /family must be 4 or 6/],
        ['route metric: "5"', () => rt.route.add({ dst: '10.9.0.0/24', dev: 'lo', metric: '5' as any }), /metric must be an integer/],
        ['neigh.add(l, null)', () => rt.neigh.add('lo', null as any), /neighbour must be an object/],
        ['neigh proxy: "yes"', () => rt.neigh.add('lo', { dst: '10.9.0.5', proxy: 'yes' as any }), /proxy must be a boolean/],
        ['fdb vlan: "1"', () => rt.neigh.fdbAdd('lo', { lladdr: '02:00:00:00:00:01', vlan: '1' as any }), /vlan must be an integer/],
        ['ns.socket("4")', () => ns.socket('4' as any, 'tcp'), /family must be 4 or 6/],
        ['ns.socket port "80"', () => ns.socket(4, 'tcp', { port: '80' as any }), /port must be an integer/],
        ['sysctl value true', () => ns.sysctl('ipv4.ip_forward', true as any), /sysctl ipv4.ip_forward must be a string/],
        ['Netns.open({})', () => Netns.open({} as any), /Netns.open argument must be/],
        ['Netns.open(null)', () => Netns.open(null as any), /Netns.open argument must be/],
        ['Netns.create(name, 5)', () => Netns.create(undefined, 5 as any), /options must be an object/],
      ];
      for (const [what, fn, re] of cases) {
        const e = await fails(what, fn, 'ERR_INVALID_ARG_TYPE', re);
        assert.ok(e instanceof InvalidArgTypeError && e instanceof ValidationError, what);
        assert.ok(!(e instanceof TypeError), what);
      }
      assert.deepStrictEqual(hostLinks(), []);
      assert.deepStrictEqual(ipj(['addr', 'show', 'dev', 'lo']).flatMap((l: any) => l.addr_info.map((a: any) => a.local)).sort(), ['127.0.0.1', '::1'].sort());
    } finally {
      ns.close();
    }
  });

  it('refuses instead of coercing or truncating: NUL in names, zone indexes, families, ports, unknown options', async () => {
    await rt.link.add({ kind: 'bridge', name: 'victim' });
    // 'a\0b' reached the kernel as 'a'; 'victim\0x' deleted 'victim'.
    await fails('NUL in a new name', () => rt.link.add({ kind: 'bridge', name: 'a\0b' }), 'EINVAL', /NUL/);
    await fails('NUL in a peer name', () => rt.link.add({ kind: 'veth', name: 'v0', peer: { name: 'a\0b' } }), 'EINVAL', /NUL/);
    await fails('NUL in delete', () => rt.link.delete('victim\0x'), 'EINVAL', /NUL/);
    await fails('NUL in set', () => rt.link.set('victim\0x', { mtu: 1400 }), 'EINVAL', /NUL/);
    await fails('NUL in get', () => rt.link.get('victim\0x'), 'EINVAL', /NUL/);
    await fails('NUL in alias', () => rt.link.set('victim', { alias: 'ok\0tail' }), 'EINVAL', /NUL/);
    assert.deepStrictEqual(hostLinks(), ['victim']);
    assert.strictEqual(ipLink('victim').mtu, 1500);
    await fails('zone index', () => rt.addr.add('victim', 'fe80::1%eth0/64'), 'EINVAL', /zone/);
    await fails('zone index in a gateway', () => rt.route.add({ dst: 'default', gateway: 'fe80::1%victim' }), 'EINVAL', /zone/);
    await fails('family 5', () => rt.route.add({ dst: 'default', family: 5 as any }), 'EINVAL', /family must be 4 or 6 \(received 5\)/);
    await fails('family against dst', () => rt.route.add({ dst: '10.9.0.0/24', family: 6, dev: 'victim' }), 'EINVAL', /not IPv6/);
    await fails('unknown table name', () => rt.route.list({ table: 'nosuch' as any }), 'EINVAL', /invalid table/);
    await fails('mtu 1.5', () => rt.link.set('victim', { mtu: 1500.5 }), 'EINVAL', /mtu must be an integer in 68\.\.65535/);
    await fails('unknown option', () => rt.link.add({ kind: 'bridge', name: 'b0', mtuu: 1400 } as any), 'EINVAL', /unknown option "mtuu"/);
    await fails('unknown bridge option', () => rt.link.add({ kind: 'bridge', name: 'b0', bridge: { stpp: true } as any }), 'EINVAL', /unknown option "stpp"/);
    await fails('unknown set option', () => rt.link.set('victim', { upp: true } as any), 'EINVAL', /unknown option "upp"/);
    await fails('bad macvlan mode', () => rt.link.add({ kind: 'macvlan', name: 'm0', parent: 'victim', macvlan: { mode: 'bridged' as any } }), 'EINVAL', /macvlan\.mode must be one of/);
    await fails('route type', () => rt.route.add({ dst: '10.9.0.0/24', type: 'nosuch' as any }), 'EINVAL', /route type/);
    await fails('neigh state', () => rt.neigh.add('victim', { dst: '10.9.0.5', state: 'gone' as any }), 'EINVAL', /state must be one of/);
    assert.deepStrictEqual(hostLinks(), ['victim']);
    assert.deepStrictEqual(ipj(['route', 'show', 'table', 'all', 'dev', 'victim']), []);
    const ns = await Netns.create();
    try {
      await fails('ns.socket(5)', () => ns.socket(5 as any, 'tcp'), 'EINVAL', /family must be 4 or 6 \(received 5\)/);
      await fails('socket type', () => ns.socket(4, 'sctp' as any), 'EINVAL', /socket type must be one of tcp, udp, raw/);
      // The kernel keeps the low 16 bits: 70000 bound 4464.
      await fails('port 70000', () => ns.socket(4, 'tcp', { port: 70000 }), 'EINVAL', /port must be an integer in 0\.\.65535 \(received 70000\)/);
      await fails('bind address of the other family', () => ns.socket(4, 'udp', { address: '::1' }), 'EINVAL', /not IPv4/);
      await fails('sysctl value with NUL', () => ns.sysctl('ipv4.ip_forward', '1\0'), 'EINVAL', /NUL/);
      const fd = ns.socket(4, 'tcp', { address: '127.0.0.1', port: 65535 });
      require('fs').closeSync(fd);
    } finally {
      ns.close();
    }
  });

  it('a closed Netns is EBADF everywhere, even once its fd number names another namespace', async () => {
    const closed = await Netns.create();
    const num = closed.fd;
    closed.close();
    const other = await Netns.create(uniq('reuse'));
    try {
      // The number is reused by the next namespace: the danger this guards against.
      assert.strictEqual(other.fd, num);
      await fails('peer netns', () => rt.link.add({ kind: 'veth', name: 'vx0', peer: { name: 'vx1', netns: closed } }), 'EBADF', /closed/);
      await fails('link netns', () => rt.link.add({ kind: 'bridge', name: 'bx0', netns: closed }), 'EBADF');
      await rt.link.add({ kind: 'bridge', name: 'bx1' });
      await fails('move', () => rt.link.set('bx1', { netns: closed }), 'EBADF');
      await fails('Rtnl.open', () => Rtnl.open({ netns: closed }), 'EBADF');
      await fails('Nft.open', () => Nft.open({ netns: closed }), 'EBADF');
      await fails('Netns.open', () => Netns.open(closed), 'EBADF');
      await fails('socket', () => closed.socket(4, 'tcp'), 'EBADF');
      await fails('sysctl', () => closed.sysctl('ipv4.ip_forward'), 'EBADF');
      await fails('id', () => closed.id(), 'EBADF');
      await fails('fd', () => closed.fd, 'EBADF');
      assert.strictEqual(closed.isClosed, true);
      closed.close();  // twice is fine
      // Nothing was made here, nothing in the namespace that took the number.
      assert.deepStrictEqual(hostLinks(), ['bx1']);
      assert.deepStrictEqual(ipj(['link', 'show'], other.name).map((l: any) => l.ifname), ['lo']);
    } finally {
      await other.delete();
    }
  });

  it('link.set with several settings applies all or none', async () => {
    await rt.link.add({ kind: 'bridge', name: 'br0' });
    await rt.link.add({ kind: 'veth', name: 'vh0', peer: { name: 'vh1' } });
    await fails('bad port cost', () => rt.link.set('vh0', { master: 'br0', bridgePort: { cost: 'x' as any } }), 'ERR_INVALID_ARG_TYPE', /bridgePort\.cost must be an integer/);
    assert.strictEqual(ipLink('vh0').master, undefined);
    await fails('bad mtu after master', () => rt.link.set('vh0', { master: 'br0', mtu: 5 }), 'EINVAL', /mtu/);
    assert.strictEqual(ipLink('vh0').master, undefined);
    await fails('unknown master', () => rt.link.set('vh0', { master: 'nosuch0', bridgePort: { hairpin: true } }), 'ENODEV');
    // The kernel refuses the second request (the new name is taken): the
    // master set by the first is undone.
    await fails('rename onto vh1', () => rt.link.set('vh0', { master: 'br0', name: 'vh1', bridgePort: { hairpin: true } }), 'EEXIST');
    assert.strictEqual(ipLink('vh0').master, undefined);
    // And a good one applies all of it.
    await rt.link.set('vh0', { master: 'br0', bridgePort: { hairpin: true, cost: 7 }, mtu: 1400 });
    const l = ipLink('vh0');
    assert.strictEqual(l.master, 'br0');
    assert.strictEqual(l.mtu, 1400);
    assert.strictEqual(l.linkinfo.info_slave_data.hairpin, true);
    assert.strictEqual(l.linkinfo.info_slave_data.cost, 7);
  });

  it('EOPNOTSUPP says the kind is missing only when it is, else what the kernel refused', async () => {
    // A kind this kernel lacks (the suite's kernels have no dummy module).
    const missing = await fails('dummy', () => rt.link.add({ kind: 'dummy', name: 'd0' }), 'EOPNOTSUPP', /link kind "dummy" is not supported by this kernel/);
    assert.strictEqual(missing.errno, 95);
    assert.strictEqual(await rt.link.hasKind('dummy'), false);
    assert.strictEqual(await rt.link.hasKind('bridge'), true);
    assert.strictEqual(await rt.link.hasKind('veth'), true);
    // Kinds that exist, with something else the kernel refuses.
    const lo = await fails('master lo', () => rt.link.add({ kind: 'veth', name: 'vl0', master: 'lo', peer: { name: 'vl1' } }), 'EOPNOTSUPP', /master "lo" \(no kind\) cannot take ports/);
    assert.doesNotMatch(lo.message, /not supported by this kernel/);
    assert.strictEqual(lo.errno, 95);
    const vf = await rt.link.add({ kind: 'bridge', name: 'bv0', bridge: { vlanFiltering: true } }).then(() => undefined, (e) => e);
    if (vf) {
      assert.strictEqual(vf.code, 'EOPNOTSUPP', vf.message);
      assert.match(vf.message, /kernel has link kind "bridge" but refused part of the request \(bridge\.vlanFiltering\)/);
    }
    assert.deepStrictEqual(hostLinks().filter((n) => n !== 'bv0'), []);
  });

  it('the bridge port limit is EXFULL (not EUNKNOWN) and says a bridge holds at most 1,023 ports', async function () {
    this.timeout(120000);
    const ns = await Netns.create(uniq('full'));
    const r = await Rtnl.open({ netns: ns });
    try {
      await r.link.add({ kind: 'bridge', name: 'brf' }, { echo: false });
      const br = (await r.link.get('brf')).index;
      for (let i = 0; i < 1023; i += 256) {
        await Promise.all(Array.from({ length: Math.min(256, 1023 - i) }, (_, j) => r.link.add({
          kind: 'veth', name: `p${i + j}`, master: br, numTxQueues: 1, numRxQueues: 1, peer: { name: `q${i + j}`, numTxQueues: 1, numRxQueues: 1 },
        }, { echo: false })));
      }
      assert.strictEqual((await r.link.list({ master: br })).length, 1023);
      const viaAdd = await fails('port 1024 at creation', () => r.link.add({ kind: 'veth', name: 'px', master: 'brf', peer: { name: 'qx' } }), 'EXFULL', /a Linux bridge holds at most 1,023 ports/);
      assert.strictEqual(viaAdd.errno, 54);
      await r.link.add({ kind: 'veth', name: 'py', peer: { name: 'qy' } }, { echo: false });
      const viaSet = await fails('port 1024 by set', () => r.link.set('py', { master: 'brf' }), 'EXFULL', /bridge "brf" has no free port: a Linux bridge holds at most 1,023 ports/);
      assert.strictEqual(viaSet.errno, 54);
      assert.strictEqual(ipj(['link', 'show', 'master', 'brf'], ns.name).length, 1023);
    } finally {
      r.close();
      await ns.delete();
    }
  });
});

/** Deep copy of plain objects and arrays; anything else (a Netns) by reference. */
function clone(v: any): any {
  if (Array.isArray(v)) return v.map(clone);
  if (v && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x)]));
  return v;
}

/** Copies `base` with the field at `path` (dotted) set to `v`. */
function withField(base: any, path: string, v: unknown): any {
  const out = clone(base);
  const keys = path.split('.');
  let o = out;
  for (const k of keys.slice(0, -1)) o = o[k];
  o[keys[keys.length - 1]] = v;
  return out;
}

/** Every field path of a plain request object (nested objects too, arrays as a whole). */
function fieldPaths(o: any, prefix = ''): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(o)) {
    out.push(prefix + k);
    if (v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Netns)) out.push(...fieldPaths(v, `${prefix}${k}.`));
  }
  return out;
}

describe('validation: every field of every request, given a value of the wrong type', () => {
  it('is a coded error (ERR_INVALID_ARG_TYPE or EINVAL), never a TypeError, and nothing reaches the kernel', async function () {
    this.timeout(120000);
    const name = uniq('fz');
    const ns = await Netns.create(name);
    const rt = await Rtnl.open({ netns: ns });
    const nft = await Nft.open({ netns: ns });
    try {
      await rt.link.add({ kind: 'bridge', name: 'fzb' });
      await rt.link.add({ kind: 'veth', name: 'fzv', peer: { name: 'fzp' } });
      const other = await Netns.create();
      // Each base request is valid; each run replaces one field.
      const bases: [string, any, (req: any) => Promise<unknown>][] = [
        ['link.add bridge', { kind: 'bridge', name: 'fz0', mtu: 1500, address: '02:00:00:00:00:01', group: 1, txqlen: 100, alias: 'a', up: false,
          numTxQueues: 1, numRxQueues: 1, bridge: { stp: false, forwardDelay: 1500, ageingTime: 30000, mcastSnooping: true } }, (r) => rt.link.add(r)],
        ['link.add veth', { kind: 'veth', name: 'fz1', master: 'fzb', peer: { name: 'fz2', mtu: 1500, address: '02:00:00:00:00:02', group: 1, txqlen: 10, up: false, numTxQueues: 1, numRxQueues: 1, netns: other } }, (r) => rt.link.add(r)],
        ['link.add vxlan', { kind: 'vxlan', name: 'fz3', vxlan: { id: 5, local: '10.1.0.1', remote: '10.1.0.2', port: 4789, learning: false, dev: 'fzb', ttl: 5 } }, (r) => rt.link.add(r)],
        ['link.add macvlan', { kind: 'macvlan', name: 'fz4', parent: 'fzb', macvlan: { mode: 'bridge' } }, (r) => rt.link.add(r)],
        ['link.set', { mtu: 1400, address: '02:00:00:00:00:03', group: 2, txqlen: 50, alias: 'b', up: true, master: 'fzb', nomaster: false,
          bridgePort: { hairpin: true, isolated: false, learning: true, flood: true, neighSuppress: false, cost: 5, priority: 3 },
          ipv4Conf: { arp_notify: 1 }, addrGenMode: 'none' }, (r) => rt.link.set('fzv', r)],
        ['addr.add', { address: '10.2.0.1/24', broadcast: '+', label: 'fzv', scope: 'global', flags: ['nodad'], validLft: 100, preferredLft: 50 }, (r) => rt.addr.add('fzv', r)],
        ['route.add', { dst: '10.3.0.0/24', family: 4, gateway: '10.2.0.9', dev: 'fzv', onlink: true, table: 'main', metric: 5, protocol: 'static', scope: 'global', type: 'unicast', mtu: 1400 }, (r) => rt.route.add(r)],
        ['neigh.add', { dst: '10.2.0.7', lladdr: '02:00:00:00:00:04', state: 'permanent', router: false }, (r) => rt.neigh.add('fzv', r)],
        ['fdb.add', { lladdr: '02:00:00:00:00:05', vlan: 1, self: false, master: true, state: 'permanent' }, (r) => rt.neigh.fdbAdd('fzv', r)],
        ['addTable', { family: 'ip', name: 'fzt', flags: ['dormant'], comment: 'c' }, (r) => nft.transaction((tx) => { tx.addTable(r); })],
        ['addChain', { family: 'ip', table: 'fzt', name: 'c', type: 'filter', hook: 'input', priority: 0, policy: 'accept', comment: 'c' }, (r) => nft.transaction((tx) => { tx.addChain(r); })],
        ['addSet', { family: 'ip', table: 'fzt', name: 's', type: 'ipv4_addr', flags: ['interval'], size: 10, timeout: 1000, policy: 'memory', comment: 'c' }, (r) => nft.transaction((tx) => { tx.addSet(r); })],
        ['addRule', { family: 'ip', table: 'fzt', chain: 'c', comment: 'c', position: 1, stmts: [{ match: 'ip saddr', value: '10.0.0.1' }, { verdict: 'accept' }] }, (r) => nft.transaction((tx) => { tx.addRule(r); })],
        ['nat rule', { family: 'ip', table: 'fzt', chain: 'c', stmts: [{ match: 'tcp dport', value: 80 }, { nat: 'dnat', addr: '10.0.0.2', port: 8080, flags: ['random'] }] }, (r) => nft.transaction((tx) => { tx.addRule(r); })],
        ['listRules', { family: 'ip', table: 'fzt', chain: 'c' }, (r) => nft.listRules(r)],
        ['socket bind', { address: '127.0.0.1', port: 80 }, async (r) => ns.socket(4, 'tcp', r)],
        ['Rtnl.open', { netns: ns, window: 16, rcvbuf: 1 << 20 }, (r) => Rtnl.open(r).then((h) => { h.close(); })],
      ];
      // Per field: values of other types (what each would be coerced from).
      const bad = (v: unknown): unknown[] => {
        const all: unknown[] = [null, {}, [], 'x', '1', 1.5, 7, true, () => 1];
        return all.filter((b) => typeof b !== typeof v || (Array.isArray(b) !== Array.isArray(v)) || (b === null) !== (v === null) ||
          (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) !== Object.getPrototypeOf(b)));
      };
      let tried = 0;
      const wrong: string[] = [];
      const codes = new Map<string, number>();
      for (const [what, base, call] of bases) {
        for (const p of fieldPaths(base)) {
          const v = p.split('.').reduce((o, k) => o[k], base);
          for (const b of bad(v)) {
            // Not wrong types there: master null detaches, ints in a number-or-name field.
            if (what === 'link.set' && p === 'master' && b === null) continue;
            if (['scope', 'table', 'protocol', 'type', 'priority'].includes(p) && typeof b === 'number' && Number.isInteger(b)) continue;
            if (p === 'priority' && b === 'x') continue;
            // A link is a name or an ifindex: 7 is of a right type (and no such link).
            if (/(^|\.)(master|dev|parent)$/.test(p) && b === 7) continue;
            // A namespace is a Netns or a name (then ENOENT).
            if (what === 'Rtnl.open' && p === 'netns' && typeof b === 'string') continue;
            // A set type is a name or a list of names ([] is a bad value).
            if (what === 'addSet' && p === 'type' && Array.isArray(b)) continue;
            tried++;
            const label = `${what} ${p}=${typeof b === 'function' ? 'function' : JSON.stringify(b)}`;
            let err: any;
            try { await call(withField(base, p, b)); } catch (e: any) { err = e; }
            const isError = err instanceof Error && !(err instanceof TypeError) && !(err instanceof RangeError);
            if (!err) { wrong.push(`${label}: accepted`); continue; }
            if (!isError) { wrong.push(`${label}: ${err?.constructor?.name}: ${err?.message}`); continue; }
            if (err.code !== 'ERR_INVALID_ARG_TYPE' && err.code !== 'EINVAL') wrong.push(`${label}: ${err.code}: ${err.message}`);
            else if ((b === null || (typeof b === 'object' && typeof v !== 'object')) && err.code !== 'ERR_INVALID_ARG_TYPE') wrong.push(`${label}: ${err.code} (expected ERR_INVALID_ARG_TYPE): ${err.message}`);
            codes.set(err.code, (codes.get(err.code) ?? 0) + 1);
          }
        }
      }
      other.close();
      assert.deepStrictEqual(wrong, []);
      assert.ok(tried > 400, `tried ${tried}`);
      console.log(`      (${tried} wrong-typed fields: ${[...codes].map(([k, n]) => `${n} ${k}`).join(', ')})`);
      // Nothing was made: the two links of the setup, no address, no table.
      assert.deepStrictEqual(ipj(['link', 'show'], name).map((l: any) => l.ifname).sort(), ['fzb', 'fzp', 'fzv', 'lo']);
      assert.strictEqual(ipLink('fzv', name).master, undefined);
      assert.deepStrictEqual(ipj(['addr', 'show', 'dev', 'fzv'], name)[0].addr_info.filter((a: any) => a.family === 'inet'), []);
      assert.deepStrictEqual((await nft.listTables()).map((t) => t.name), []);
      // Each base request passes validation (whatever the kernel then says),
      // so every rejection above was the one wrong field's.
      const other2 = await Netns.create();
      for (const [what, base, call] of bases) {
        const b = clone(base);
        if (b.peer?.netns) b.peer.netns = other2;
        const e: any = await call(b).then(() => undefined, (x) => x);
        assert.ok(!(e instanceof ValidationError), `${what} base: ${e?.message}`);
      }
      other2.close();
    } finally {
      rt.close();
      nft.close();
      await ns.delete();
    }
  });
});
