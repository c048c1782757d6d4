import * as assert from 'assert';
import { Netns, Rtnl, ValidationError } from '../src';
import { eventually, hostLinks, ip, ipj, ipLink, rejects, uniq } from './helpers';

describe('link', () => {
  let rt: Rtnl;
  before(async () => { rt = await Rtnl.open(); });
  after(() => rt.close());
  afterEach(async () => {
    for (const l of await rt.link.list()) if (l.name !== 'lo') await rt.link.delete(l.index).catch(() => {});
  });

  it('creates a veth whose peer is born in another namespace, with name, MAC and MTU', async () => {
    const name = uniq('nsl');
    const ns = await Netns.create(name);
    try {
      const l = await rt.link.add({ kind: 'veth', name: 'vh0', mtu: 1450, group: 7,
        peer: { name: 'eth0', netns: ns, address: '02:42:ac:11:00:02', mtu: 1450 } });
      assert.ok(l);
      assert.strictEqual(l!.name, 'vh0');
      assert.strictEqual(l!.kind, 'veth');
      const host = ipLink('vh0');
      assert.strictEqual(host.mtu, 1450);
      assert.strictEqual(host.group, '7');
      assert.strictEqual(host.linkinfo.info_kind, 'veth');
      assert.strictEqual(host.link_netnsid, l!.linkNetnsid);
      const peer = ipLink('eth0', name);
      assert.strictEqual(peer.address, '02:42:ac:11:00:02');
      assert.strictEqual(peer.mtu, 1450);
      assert.strictEqual(peer.ifindex, l!.link);
      assert.deepStrictEqual(hostLinks(), ['vh0']);
      // Queue counts at creation, both ends, as `ip -d` reads them.
      await rt.link.add({ kind: 'veth', name: 'vq0', numTxQueues: 1, numRxQueues: 1, up: true,
        peer: { name: 'vq1', netns: ns, numTxQueues: 1, numRxQueues: 1 } }, { echo: false });
      const q0 = ipLink('vq0');
      const q1 = ipLink('vq1', name);
      assert.deepStrictEqual([q0.num_tx_queues, q0.num_rx_queues, q1.num_tx_queues, q1.num_rx_queues], [1, 1, 1, 1]);
      assert.ok(q0.flags.includes('UP'));
      await rejects(rt.link.add({ kind: 'veth', name: 'vq2', numTxQueues: 0, peer: { name: 'vq3' } }), 'EINVAL');
    } finally {
      await ns.delete();
    }
    // The namespace is gone, and with it the peer; the host end goes too.
    await eventually(() => assert.deepStrictEqual(hostLinks(), []));
  });

  it('reads back what ip creates, field by field', async () => {
    ip(['link', 'add', 'ipa', 'mtu', '1300', 'address', '02:00:00:00:00:01', 'type', 'veth', 'peer', 'name', 'ipb']);
    ip(['link', 'set', 'ipa', 'alias', 'hello', 'group', '3', 'txqueuelen', '77', 'up']);
    const ours = await rt.link.get('ipa');
    const theirs = ipLink('ipa');
    assert.strictEqual(ours.index, theirs.ifindex);
    assert.strictEqual(ours.mtu, theirs.mtu);
    assert.strictEqual(ours.address, theirs.address);
    assert.strictEqual(ours.alias, 'hello');
    assert.strictEqual(ours.group, 3);
    assert.strictEqual(ours.txqlen, 77);
    assert.strictEqual(ours.up, true);
    assert.strictEqual(ours.kind, 'veth');
    assert.strictEqual(ours.link, ipLink('ipb').ifindex);
    const list = await rt.link.list();
    const ipList = ipj(['link', 'show']);
    assert.deepStrictEqual(list.map((l) => [l.index, l.name]).sort(), ipList.map((l: any) => [l.ifindex, l.ifname]).sort());
    assert.ok(typeof ours.stats.rxPackets === 'number');
    assert.ok(Array.isArray(ours.unknown));
  });

  it('creates bridges (stp, MAC), attaches and detaches ports, sets port flags', async () => {
    await rt.link.add({ kind: 'bridge', name: 'br7', address: '02:00:00:00:07:07', bridge: { stp: true } });
    await rt.link.add({ kind: 'veth', name: 'p1', peer: { name: 'p1b' } });
    await rt.link.set('p1', { master: 'br7', up: true, bridgePort: { hairpin: true, isolated: true } });
    await rt.link.set('br7', { up: true });
    const br = ipLink('br7');
    assert.strictEqual(br.linkinfo.info_kind, 'bridge');
    assert.strictEqual(br.linkinfo.info_data.stp_state, 1);
    assert.strictEqual(br.address, '02:00:00:00:07:07');
    const p1 = ipLink('p1');
    assert.strictEqual(p1.master, 'br7');
    assert.strictEqual(p1.linkinfo.info_slave_data.hairpin, true);
    assert.strictEqual(p1.linkinfo.info_slave_data.isolated, true);
    const ours = await rt.link.get('p1');
    assert.strictEqual(ours.master, br.ifindex);
    assert.deepStrictEqual([ours.bridgePort!.hairpin, ours.bridgePort!.isolated], [true, true]);
    assert.strictEqual((await rt.link.get('br7')).bridge!.stp, true);
    assert.deepStrictEqual((await rt.link.list({ master: 'br7' })).map((l) => l.name), ['p1']);
    await rt.link.set('p1', { master: null });
    assert.strictEqual(ipLink('p1').master, undefined);
  });

  it('creates vxlan and macvlan links', async () => {
    await rt.link.add({ kind: 'veth', name: 'under0', peer: { name: 'under1' } });
    await rt.link.add({ kind: 'vxlan', name: 'vx42', mtu: 1450, vxlan: { id: 42, port: 4789, local: '192.0.2.1', remote: '192.0.2.2', learning: false, dev: 'under0' } });
    const v = ipLink('vx42');
    assert.strictEqual(v.linkinfo.info_data.id, 42);
    assert.strictEqual(v.linkinfo.info_data.port, 4789);
    assert.strictEqual(v.linkinfo.info_data.local, '192.0.2.1');
    assert.strictEqual(v.linkinfo.info_data.remote, '192.0.2.2');
    assert.strictEqual(v.linkinfo.info_data.learning, false);
    const ours = await rt.link.get('vx42');
    assert.deepStrictEqual({ ...ours.vxlan }, { id: 42, port: 4789, local: '192.0.2.1', remote: '192.0.2.2', learning: false, dev: ipLink('under0').ifindex });
    await rt.link.add({ kind: 'macvlan', name: 'mv0', parent: 'under0', macvlan: { mode: 'bridge' } });
    const m = ipLink('mv0');
    assert.strictEqual(m.linkinfo.info_data.mode, 'bridge');
    assert.strictEqual((await rt.link.get('mv0')).macvlan!.mode, 'bridge');
    ip(['link', 'add', 'mv1', 'link', 'under0', 'type', 'macvlan', 'mode', 'private']);
    assert.strictEqual((await rt.link.get('mv1')).macvlan!.mode, 'private');
  });

  it('sets name, MTU, MAC, group, alias, txqueuelen, up/down, and moves to a namespace', async () => {
    await rt.link.add({ kind: 'veth', name: 's0', peer: { name: 's1' } });
    await rt.link.set('s0', { name: 'renamed', mtu: 9000, address: '02:11:22:33:44:55', group: 9, alias: 'x', txqlen: 10 });
    await rt.link.set('renamed', { up: true });
    const l = ipLink('renamed');
    assert.deepStrictEqual([l.mtu, l.address, l.group, l.ifalias, l.txqlen], [9000, '02:11:22:33:44:55', '9', 'x', 10]);
    assert.ok(l.flags.includes('UP'));
    await rt.link.set('renamed', { up: false });
    assert.ok(!ipLink('renamed').flags.includes('UP'));
    const name = uniq('mv');
    const ns = await Netns.create(name);
    try {
      await rt.link.set('s1', { netns: ns });
      assert.strictEqual(ipLink('s1', name).ifname, 's1');
      await rejects(rt.link.get('s1'), 'ENODEV');
    } finally {
      await ns.delete();
    }
  });

  it('rejects bad input with typed errors and leaves nothing behind', async () => {
    await rejects(rt.link.add({ kind: 'veth', name: 'x'.repeat(16), peer: { name: 'y' } }), 'EINVAL', /15 bytes/);
    await rejects(rt.link.add({ kind: 'veth', name: 'a/b', peer: { name: 'y' } }), 'EINVAL');
    await rejects(rt.link.add({ kind: 'veth', name: 'ok0', peer: { name: 'bad name' } }), 'EINVAL');
    await rejects(rt.link.add({ kind: 'veth', name: 'ok0', mtu: 10, peer: { name: 'ok1' } }), 'EINVAL');
    await rejects(rt.link.add({ kind: 'bridge', name: 'ok0', address: 'zz:zz' }), 'EINVAL');
    await rejects(rt.link.get('nosuch0'), 'ENODEV');
    await rejects(rt.link.set('nosuch0', { up: true }), 'ENODEV');
    await rejects(rt.link.delete('nosuch0'), 'ENODEV');
    await rejects(rt.link.delete(999999), 'ENODEV');
    await rejects(rt.link.add({ kind: 'bridge', name: 'dup0' }).then(() => rt.link.add({ kind: 'bridge', name: 'dup0' })), 'EEXIST');
    // A veth whose peer name is taken fails as a whole: no half pair.
    await rejects(rt.link.add({ kind: 'veth', name: 'half0', peer: { name: 'dup0' } }), 'EEXIST');
    assert.deepStrictEqual(hostLinks(), ['dup0']);
    // Kinds the kernel lacks: a clear EOPNOTSUPP.
    const e = await rejects(rt.link.add({ kind: 'dummy', name: 'd0' }), 'EOPNOTSUPP', /not supported/);
    assert.strictEqual(e.errno, 95);
    await rejects(rt.link.add({ kind: 'vlan', name: 'v0', parent: 'dup0', vlan: { id: 5 } }), 'EOPNOTSUPP', /link kind "vlan" is not supported by this kernel/);
    // (Checked first: a vlan without its parent or id is bad input, kernel or not.)
    await rejects(rt.link.add({ kind: 'vlan', name: 'v0' } as any), 'EINVAL', /vlan needs a parent link/);
    // An alias the kernel would drop (a link born in another namespace, a veth peer) is refused, not lost.
    const other = await Netns.create(uniq('la'));
    try {
      await rejects(rt.link.add({ kind: 'bridge', name: 'alias0', alias: 'x', netns: other }), 'EINVAL', /alias cannot be given for a link made in another namespace/);
      await rejects(rt.link.add({ kind: 'veth', name: 'alias1', peer: { name: 'alias2', alias: 'x' } as any }), 'EINVAL', /peer alias cannot be given/);
      await rejects(rt.link.add({ kind: 'veth', name: 'up1', peer: { name: 'up2', up: true, group: 5 } as any }), 'EINVAL', /peer up cannot be given/);
    } finally {
      await other.delete();
    }
    for (const k of [42, null, ['bridge'], 'bridge\0x', '']) await rejects(rt.link.hasKind(k as any), k === 'bridge\0x' || k === '' ? 'EINVAL' : 'ERR_INVALID_ARG_TYPE');
    await rejects(rt.link.add({ kind: 'vlan', name: 'v0', parent: 'dup0', vlan: { id: 0 } }), 'EINVAL', /vlan\.id/);
    assert.ok(!(e instanceof ValidationError));
    // The kernel's extended ACK text reaches the user.
    const ext = await rejects(rt.link.add({ kind: 'macvlan', name: 'mvx', parent: 'dup0', macvlan: { mode: 'bridge' } }).then(() => rt.link.add({ kind: 'macvlan', name: 'mvx', parent: 'dup0' })), 'EEXIST');
    assert.ok(ext.op.includes('mvx'));
  });

  it('deletes a whole group with one request', async () => {
    const n = 200;
    await Promise.all(Array.from({ length: n }, (_, i) => rt.link.add({ kind: 'veth', name: `g${i}`, group: 42, peer: { name: `g${i}p`, group: 42 } }, { echo: false })));
    assert.strictEqual((await rt.link.list({ group: 42 })).length, 2 * n);
    assert.strictEqual(ipj(['link', 'show']).filter((l: any) => l.group === '42').length, 2 * n);
    await rt.link.deleteGroup(42);
    assert.deepStrictEqual(hostLinks(), []);
    await rt.link.deleteGroup(42);  // nothing left: not an error
    await rejects(rt.link.deleteGroup(0), 'EINVAL');
  });
});
