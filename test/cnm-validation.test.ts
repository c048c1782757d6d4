// Bad input to the CNM layer: each gets a typed error (wrong types
// ERR_INVALID_ARG_TYPE, bad values and unknown fields EINVAL), nothing is
// coerced, and nothing is left behind (checked with ip -j and nft -j).
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Controller, Netns } from '../src';
import { eventually, hostLinks, ipj, rejects, sh } from './helpers';

const snapshot = () => JSON.stringify({ links: ipj(['link', 'show']).map((l: any) => l.ifname), ns: Netns.list(), nft: sh('nft', ['-j', 'list', 'ruleset']) });

describe('cnm: bad input is refused with typed errors and leaves nothing', function () {
  this.timeout(60000);
  let ctl: Controller;
  before(async () => { ctl = await Controller.open({ stateDir: fs.mkdtempSync(path.join(os.tmpdir(), 'cnm-state-')), upstreamDns: [] }); });
  after(async () => {
    await ctl.destroy();
    await eventually(() => assert.deepStrictEqual(hostLinks(), []));
  });

  it('networks: wrong types, unknown fields and options, bad values', async () => {
    const before = snapshot();
    const any = ctl as any;
    await rejects(any.createNetwork(null), 'ERR_INVALID_ARG_TYPE', /network options/);
    await rejects(any.createNetwork({ name: 42 }), 'ERR_INVALID_ARG_TYPE', /name/);
    await rejects(any.createNetwork({ name: 'n1', internal: 'yes' }), 'ERR_INVALID_ARG_TYPE', /internal must be a boolean/);
    await rejects(any.createNetwork({ name: 'n1', options: 'x' }), 'ERR_INVALID_ARG_TYPE', /options must be an object of strings/);
    await rejects(any.createNetwork({ name: 'n1', options: { 'com.docker.network.bridge.enable_icc': false } }), 'ERR_INVALID_ARG_TYPE', /options/);
    await rejects(any.createNetwork({ name: 'n1', labels: { a: 1 } }), 'ERR_INVALID_ARG_TYPE', /labels/);
    await rejects(any.createNetwork({ name: 'n1', subnets: ['10.1.0.0/24'] }), 'EINVAL', /unknown field "subnets"/);
    // Each field read once: what was checked is what is kept (a getter's next answer is not).
    let reads = 0;
    const tricky = await ctl.createNetwork({ name: 'ngetter', labels: { get a() { return reads++ === 0 ? 'b' : (7 as any); } }, get internal() { return reads++ < 2 ? false : (7 as any); } });
    assert.deepStrictEqual([tricky.inspect().Labels, tricky.inspect().Internal], [{ a: 'b' }, false]);
    await tricky.delete();
    await rejects(ctl.createNetwork({ name: 'n1', options: { 'com.docker.network.bridge.enable_icc': 'maybe' } }), 'EINVAL', /^failed to parse com\.docker\.network\.bridge\.enable_icc value: maybe \(strconv\.ParseBool: parsing "maybe": invalid syntax\)$/);
    await rejects(ctl.createNetwork({ name: 'n1', options: { 'com.docker.network.bridge.gateway_mode_ipv4': 'bogus' } }), 'EINVAL', /gateway_mode_ipv4/);
    await rejects(ctl.createNetwork({ name: 'n1', options: { 'com.docker.network.driver.mtu': '0x5dc' } }), 'EINVAL', /mtu/);
    await rejects(ctl.createNetwork({ name: 'n1', driver: 'host' }), 'EINVAL', /only one instance/);
    await rejects(ctl.createNetwork({ name: 'n1', driver: 'weave' as any }), 'EINVAL', /unknown network driver/);
    await rejects(ctl.createNetwork({ name: 'n1', driver: 'macvlan', options: { parent: 'lo', mode: 'bridge' } }), 'EINVAL', /unknown option for the macvlan driver: mode/);
    await rejects(ctl.createNetwork({ name: 'n1', gateway6: 'fd00::1' }), 'EINVAL', /gateway6/);
    await rejects(ctl.createNetwork({ name: 'n1', options: { 'com.docker.network.enable_ipv6': 'maybe' } }), 'EINVAL', /enable_ipv6/);
    await rejects(ctl.createNetwork({ name: 'n1', options: { 'com.docker.network.enable_ipv4': 'false' } }), 'EINVAL', /without IPv4 are not supported/);
    assert.strictEqual(snapshot(), before);
    assert.deepStrictEqual(ctl.networks().map((n) => n.name), ['bridge', 'host', 'none']);
    // Docker's network-level options: enable_ipv6 as `ipv6` (which wins when given), kept in Options.
    const v6 = await ctl.createNetwork({ name: 'opt6', options: { 'com.docker.network.enable_ipv6': 'true', 'com.docker.network.enable_ipv4': 'true' } });
    const off = await ctl.createNetwork({ name: 'opt6off', ipv6: false, options: { 'com.docker.network.enable_ipv6': 'true' } });
    try {
      assert.deepStrictEqual([v6.inspect().EnableIPv6, v6.inspect().IPAM.Config!.map((c) => c.Subnet.includes(':')), v6.inspect().Options['com.docker.network.enable_ipv6']], [true, [false, true], 'true']);
      assert.strictEqual(off.inspect().EnableIPv6, false);
    } finally {
      await v6.delete();
      await off.delete();
    }
  });

  it('endpoints and sandboxes: wrong types, foreign prefixes, strings where lists belong', async () => {
    const net = await ctl.createNetwork({ name: 'strict', subnet: '10.77.0.0/24' });
    const before = snapshot();
    const anyNet = net as any;
    await rejects(anyNet.createEndpoint(null), 'ERR_INVALID_ARG_TYPE', /endpoint options/);
    await rejects(anyNet.createEndpoint({ name: 'e', aliases: 'www' }), 'ERR_INVALID_ARG_TYPE', /aliases must be a list of strings/);
    await rejects(anyNet.createEndpoint({ name: 'e', ports: '8080:80' }), 'ERR_INVALID_ARG_TYPE', /ports must be a list/);
    await rejects(anyNet.createEndpoint({ name: 'e', ip: 7 }), 'ERR_INVALID_ARG_TYPE', /ip must be a string/);
    await rejects(anyNet.createEndpoint({ name: 'e', addr: '10.77.0.9' }), 'EINVAL', /unknown field "addr"/);
    await rejects(net.createEndpoint({ name: 'e', ip: '10.77.0.9/8' }), 'EINVAL');
    await rejects(ctl.network('host').createEndpoint({ name: 'e', mac: '02:00:00:00:00:01' }), 'EINVAL', /no MAC/);
    await rejects(ctl.network('none').createEndpoint({ name: 'e', ports: ['80:80'] }), 'EINVAL', /port publishing/);
    const anyCtl = ctl as any;
    await rejects(anyCtl.createSandbox(null), 'ERR_INVALID_ARG_TYPE', /sandbox options/);
    await rejects(anyCtl.createSandbox({ id: 5 }), 'ERR_INVALID_ARG_TYPE', /id/);
    await rejects(anyCtl.createSandbox({ id: 's', host: 'yes' }), 'ERR_INVALID_ARG_TYPE', /host must be a boolean/);
    await rejects(anyCtl.createSandbox({ id: 's', joinSandbox: 42 }), 'ERR_INVALID_ARG_TYPE', /joinSandbox/);
    const ep = await net.createEndpoint({ name: 'e' });
    await rejects((ep as any).join(null), 'ERR_INVALID_ARG_TYPE', /sandbox/);
    await rejects(ep.join('nosuch'), 'ENOENT');
    await ep.delete();
    // Lookups take strings only (a number is no id prefix), as join does.
    for (const bad of [2, null, undefined, ['strict'], {}]) {
      assert.throws(() => anyCtl.network(bad), (e: any) => e.code === 'ERR_INVALID_ARG_TYPE' && /network reference/.test(e.message), String(bad));
      assert.throws(() => anyCtl.sandbox(bad), (e: any) => e.code === 'ERR_INVALID_ARG_TYPE' && /sandbox reference/.test(e.message), String(bad));
    }
    // An all-zero MAC is refused before anything is made (the kernel would refuse it at join).
    await rejects(net.createEndpoint({ name: 'e', mac: '00:00:00:00:00:00' }), 'EINVAL', /all zeros/);
    assert.strictEqual(snapshot(), before);
    assert.deepStrictEqual(net.endpoints(), []);
    await net.delete();
  });

  it('network references as Docker resolves them: id, name, any unique id prefix (ambiguous: ENOTUNIQ); a name may be another network\'s id prefix', async () => {
    const a = await ctl.createNetwork({ name: 'ref-a', subnet: '10.78.0.0/24' });
    // Names that are prefixes of a's id (as a hex name like "deadbeef" can be, by chance).
    const twin = await ctl.createNetwork({ name: a.id.slice(0, 8), subnet: '10.78.1.0/24' });
    try {
      assert.strictEqual(ctl.network(a.id).id, a.id);
      assert.strictEqual(ctl.network(a.id.slice(0, 8)).id, twin.id, 'a name first');
      assert.strictEqual(ctl.network(a.id.slice(0, 9)).id, a.id, 'then an id prefix');
      // One character: a's, unless another network's id starts with it too.
      const first = a.id[0];
      const sharing = ctl.networks().filter((n) => n.id.startsWith(first));
      if (sharing.length === 1) assert.strictEqual(ctl.network(first).id, a.id);
      else assert.throws(() => ctl.network(first), (e: any) => e.code === 'ENOTUNIQ' && /ambiguous \(\d+ matches found based on ID prefix\)/.test(e.message));
      await rejects(Promise.resolve().then(() => ctl.network('no-such-net')), 'ENOENT');
    } finally {
      await twin.delete();
      await a.delete();
    }
  });
});
