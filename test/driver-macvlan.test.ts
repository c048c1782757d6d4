// The macvlan driver: endpoints are macvlans of a host interface (a veth here: the kernel has no dummy).
import * as assert from 'assert';
import { Controller, Netns, Rtnl } from '../src';
import { controllerPerTest } from './cnm-helpers';
import { ipj, rejects } from './helpers';
import { run, tcpGet, tcpServer } from './net-helpers';

describe('driver: macvlan', function () {
  this.timeout(60000);
  let ctl: Controller;
  controllerPerTest((c) => { ctl = c; }, () => ctl);

  it('macvlan: sandboxes on a parent interface reach each other', async () => {
    const rt = await Rtnl.open();
    await rt.link.add({ kind: 'veth', name: 'uplink0', peer: { name: 'uplink1' } });
    await rt.link.set('uplink1', { up: true });
    await rt.link.set('uplink0', { up: true });
    try {
      const net = await ctl.createNetwork({ name: 'mv', driver: 'macvlan', subnet: '192.168.77.0/24', options: { parent: 'uplink0', macvlan_mode: 'bridge' } });
      const a = await ctl.createSandbox({ id: 'mva' });
      const b = await ctl.createSandbox({ id: 'mvb' });
      await (await net.createEndpoint({ name: 'mva' })).join(a);
      await (await net.createEndpoint({ name: 'mvb', ip: '192.168.77.50' })).join(b);
      const l = ipj(['-d', 'link', 'show', 'dev', 'eth0'], a.record.netnsName!)[0];
      assert.deepStrictEqual([l.linkinfo.info_kind, l.linkinfo.info_data.mode], ['macvlan', 'bridge']);
      const na = await a.netns();
      const nb = await b.netns();
      const srv = await tcpServer(nb, '192.168.77.50', 80, () => 'macvlan ok');
      assert.strictEqual(await tcpGet(na, '192.168.77.50', 80), 'macvlan ok');
      srv.close();
      na.close(); nb.close();
      // Names on a macvlan network too: the sandbox's own resolver.
      const dig = await run('ip', ['netns', 'exec', a.record.netnsName!, 'dig', '+short', '+time=2', '@127.0.0.11', 'mvb']);
      assert.strictEqual(dig.out.trim(), '192.168.77.50', dig.err);
      await rejects(ctl.createNetwork({ name: 'mv2', driver: 'macvlan', options: { parent: 'nosuch0' } }), 'ENODEV');
      // passthru takes the parent whole: refused beside another macvlan network on it, at create.
      await rejects(ctl.createNetwork({ name: 'mvp', driver: 'macvlan', subnet: '192.168.78.0/24', options: { parent: 'uplink0', macvlan_mode: 'passthru' } }), 'EINVAL', /cannot use mode passthru, macvlan network mv is already using parent interface uplink0/);
      const shared = await ctl.createNetwork({ name: 'mv3', driver: 'macvlan', subnet: '192.168.79.0/24', options: { parent: 'uplink0', macvlan_mode: 'private' } });
      await shared.delete();
      // Parents as Docker 28 takes them: lo refused; none means a dummy of the network's own, PARENT.N a VLAN
      // made on PARENT: kinds this kernel lacks, so EOPNOTSUPP naming them; nothing left behind.
      const links = ipj(['link', 'show']).map((x: any) => x.ifname).sort();
      const nets = ctl.networks().map((x) => x.name).sort();
      await rejects(ctl.createNetwork({ name: 'mvlo', driver: 'macvlan', options: { parent: 'lo' } }), 'EINVAL', /loopback interface is not a valid macvlan parent link/);
      await rejects(ctl.createNetwork({ name: 'mvdm', driver: 'macvlan', subnet: '192.168.80.0/24' }), 'EOPNOTSUPP', /link kind "dummy" is not supported by this kernel/);
      await rejects(ctl.createNetwork({ name: 'mvvl', driver: 'macvlan', subnet: '192.168.81.0/24', options: { parent: 'uplink0.10' } }), 'EOPNOTSUPP', /link kind "vlan" is not supported by this kernel/);
      await rejects(ctl.createNetwork({ name: 'mvvx', driver: 'macvlan', options: { parent: 'uplink0.4095' } }), 'EINVAL', /vlan id out of range/);
      await rejects(ctl.createNetwork({ name: 'mvvn', driver: 'macvlan', options: { parent: 'nosuch0.10' } }), 'ENODEV', /nosuch0/);
      assert.deepStrictEqual(ipj(['link', 'show']).map((x: any) => x.ifname).sort(), links);
      assert.deepStrictEqual(ctl.networks().map((x) => x.name).sort(), nets);
    } finally {
      await ctl.sandbox('mva').delete().catch(() => {});
      await ctl.sandbox('mvb').delete().catch(() => {});
      await rt.link.delete('uplink0');
      rt.close();
    }
  });

});
