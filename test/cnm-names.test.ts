// Names as Docker gives them: resolv.conf and hosts per sandbox option.
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Controller, Netns } from '../src';
import { eventually, hostLinks, ipj, rejects } from './helpers';
import { run } from './net-helpers';

describe('cnm: resolv.conf and hosts, as Docker writes them', function () {
  this.timeout(60000);
  let ctl: Controller;
  let dir: string;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cnm-state-'));
    const resolvConf = path.join(dir, 'host-resolv.conf');
    fs.writeFileSync(resolvConf, '# the host\'s\nnameserver 192.0.2.53\nnameserver 127.0.0.1\nsearch corp.example lab.example\noptions edns0 timeout:2\n');
    ctl = await Controller.open({ stateDir: path.join(dir, 'state'), resolvConf, upstreamDns: [] });
  });
  after(async () => {
    await ctl.destroy();
    await eventually(() => assert.deepStrictEqual(hostLinks(), []));
    assert.deepStrictEqual(Netns.list(), []);
  });

  const read = (p: string) => fs.readFileSync(p, 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));

  it('default bridge: the host\'s servers without loopback, its search and options kept', async () => {
    const sb = await ctl.createSandbox({ id: 'plain' });
    await (await ctl.network('bridge').createEndpoint({ name: 'plain' })).join(sb);
    assert.deepStrictEqual(read(sb.resolvConfPath), ['nameserver 192.0.2.53', 'search corp.example lab.example', 'options edns0 timeout:2']);
    assert.ok(read(sb.hostsPath).includes('172.17.0.2\tplain'));
    await sb.delete();
  });

  it('a user network: the embedded server, search and options kept, ndots:0 added', async () => {
    const net = await ctl.createNetwork({ name: 'named', subnet: '10.61.0.0/24' });
    const sb = await ctl.createSandbox({ id: 'named1' });
    await (await net.createEndpoint({ name: 'named1' })).join(sb);
    assert.deepStrictEqual(read(sb.resolvConfPath), ['nameserver 127.0.0.11', 'search corp.example lab.example', 'options edns0 timeout:2 ndots:0']);
    await sb.delete();
    for (const e of ctl.endpoints(net.id)) await e.delete();
    await net.delete();
  });

  it('--dns, --dns-search, --dns-option, --add-host (host-gateway is the default bridge\'s gateway)', async () => {
    const sb = await ctl.createSandbox({
      id: 'custom', hostname: 'box', dns: ['198.51.100.1', '2001:db8::53'], dnsSearch: ['svc.example'], dnsOptions: ['ndots:3', 'rotate'],
      extraHosts: ['db:10.9.8.7', 'gw:host-gateway', 'six:[2001:db8::7]', 'eq=192.0.2.9'],
    });
    await (await ctl.network('bridge').createEndpoint({ name: 'custom' })).join(sb);
    assert.deepStrictEqual(read(sb.resolvConfPath), ['nameserver 198.51.100.1', 'nameserver 2001:db8::53', 'search svc.example', 'options ndots:3 rotate']);
    const hosts = read(sb.hostsPath);
    for (const l of ['10.9.8.7\tdb', '172.17.0.1\tgw', '2001:db8::7\tsix', '192.0.2.9\teq', '172.17.0.3\tbox']) assert.ok(hosts.includes(l), `${l} in ${hosts.join(' | ')}`);
    // Extra hosts come before the container's own line, as Docker writes them.
    assert.ok(hosts.indexOf('10.9.8.7\tdb') < hosts.indexOf('172.17.0.3\tbox'));
    await sb.delete();
    const none = await ctl.createSandbox({ id: 'nosearch', dnsSearch: ['.'] });
    assert.deepStrictEqual(read(none.resolvConfPath), ['nameserver 192.0.2.53', 'options edns0 timeout:2']);
    await none.delete();
    // Empty lists are not given, as Docker takes "Dns": []: the host's servers, search and options.
    const empty = await ctl.createSandbox({ id: 'empty', dns: [], dnsSearch: [], dnsOptions: [] });
    assert.deepStrictEqual(read(empty.resolvConfPath), ['nameserver 192.0.2.53', 'search corp.example lab.example', 'options edns0 timeout:2']);
    const side = await ctl.createSandbox({ id: 'emptyside', joinSandbox: 'empty', dns: [] });
    await side.delete();
    await empty.delete();
  });

  it('bad values are refused, and container mode takes its owner\'s', async () => {
    const any = ctl as any;
    await rejects(any.createSandbox({ id: 'b1', dns: '8.8.8.8' }), 'ERR_INVALID_ARG_TYPE', /dns must be a list of strings/);
    await rejects(ctl.createSandbox({ id: 'b1', dns: ['8.8.8.300'] }), 'EINVAL', /dns/);
    await rejects(ctl.createSandbox({ id: 'b1', dnsSearch: ['bad domain'] }), 'EINVAL', /dnsSearch/);
    await rejects(ctl.createSandbox({ id: 'b1', dnsOptions: ['ndots:3\nnameserver 1.2.3.4'] }), 'EINVAL', /dnsOptions/);
    await rejects(ctl.createSandbox({ id: 'b1', extraHosts: ['nohost'] }), 'EINVAL', /extraHosts/);
    // Present but not a list ('' or 0) is a wrong type, not an absent list.
    for (const k of ['dns', 'dnsSearch', 'dnsOptions', 'extraHosts']) for (const v of ['', 0, null, false]) await rejects(any.createSandbox({ id: 'b1', [k]: v }), 'ERR_INVALID_ARG_TYPE');
    for (const v of ['', 0, null]) assert.throws(() => any.endpoints(v), (e: any) => typeof e.code === 'string', `endpoints(${v})`);
    await rejects(ctl.createSandbox({ id: 'b1', extraHosts: ['x:not-an-ip'] }), 'EINVAL', /extraHosts/);
    const owner = await ctl.createSandbox({ id: 'owner', extraHosts: ['shared:10.1.1.1'] });
    await rejects(ctl.createSandbox({ id: 'side', joinSandbox: 'owner', dns: ['1.1.1.1'] }), 'EINVAL', /joinSandbox/);
    const side = await ctl.createSandbox({ id: 'side', joinSandbox: 'owner' });
    assert.ok(read(side.hostsPath).includes('10.1.1.1\tshared'));
    await side.delete();
    await owner.delete();
    assert.deepStrictEqual(ctl.sandboxes().map((s) => s.id), []);
  });
});

describe('cnm: host-gateway before the default bridge is used', function () {
  this.timeout(60000);
  after(async () => { await eventually(() => assert.deepStrictEqual(hostLinks(), [])); });

  it('host-gateway on a sandbox of a user network only: the default bridge is made (its gateway address on the host, as docker0 always has it), and the host answers there', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cnm-state-'));
    let c2 = await Controller.open({ stateDir: dir, upstreamDns: [] });
    try {
      const br = c2.network('bridge').record.bridge!;
      assert.deepStrictEqual(ipj(['link', 'show']).filter((l: any) => l.ifname === br), [], 'no default bridge before');
      const net = await c2.createNetwork({ name: 'hgnet', subnet: '10.62.0.0/24' });
      const sb = await c2.createSandbox({ id: 'hg1', extraHosts: ['gw:host-gateway'] });
      await (await net.createEndpoint({ name: 'hg1' })).join(sb);
      assert.ok(fs.readFileSync(sb.hostsPath, 'utf8').includes('172.17.0.1\tgw'));
      const addrs = ipj(['addr', 'show', 'dev', br])[0].addr_info.map((a: any) => `${a.local}/${a.prefixlen}`);
      assert.ok(addrs.includes('172.17.0.1/16'), addrs.join());
      const r = await run('ip', ['netns', 'exec', sb.record.netnsName!, 'ping', '-c1', '-W5', 'gw']);
      assert.strictEqual(r.code, 0, r.out + r.err);
      const hasGateway = () => ipj(['addr', 'show']).some((l: any) => l.ifname === br && l.addr_info.some((a: any) => a.local === '172.17.0.1'));
      // Deleted behind our back: the next sandbox naming host-gateway makes it again, and so does a reopen.
      assert.strictEqual((await run('ip', ['link', 'del', br])).code, 0);
      const sb2 = await c2.createSandbox({ id: 'hg2', extraHosts: ['gw:host-gateway'] });
      assert.ok(hasGateway(), 'made again by the next sandbox');
      assert.strictEqual((await run('ip', ['link', 'del', br])).code, 0);
      await c2.close();
      c2 = await Controller.open({ stateDir: dir, upstreamDns: [] });
      assert.ok(hasGateway(), 'made again at open: sandboxes name host-gateway');
      await c2.sandbox(sb2.id).delete();
      await c2.sandbox(sb.id).delete();
      for (const e of c2.endpoints()) await e.delete();
      await c2.network('hgnet').delete();
    } finally {
      await c2.destroy();
    }
  });
});
