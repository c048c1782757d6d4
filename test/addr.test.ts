import * as assert from 'assert';
import { Rtnl } from '../src';
import { ip, ipj, rejects } from './helpers';

describe('addr', () => {
  let rt: Rtnl;
  before(async () => {
    rt = await Rtnl.open();
    await rt.link.add({ kind: 'veth', name: 'a0', peer: { name: 'a1' } });
    await rt.link.set('a0', { up: true });
  });
  after(async () => {
    await rt.link.delete('a0');
    rt.close();
  });
  afterEach(async () => { await rt.addr.flush('a0'); });

  const ipAddrs = (dev: string) => ipj(['addr', 'show', 'dev', dev])[0].addr_info;

  it('adds IPv4 and IPv6 addresses that ip reads the same', async () => {
    await rt.addr.add('a0', { address: '10.9.0.2/24', broadcast: '+', label: 'a0:web' });
    await rt.addr.add('a0', { address: 'fd00:9::2/64', flags: ['nodad', 'noprefixroute'] });
    await rt.addr.add('a0', { address: '10.9.1.2/32', scope: 'host', validLft: 300, preferredLft: 100 });
    const theirs = ipAddrs('a0');
    const v4 = theirs.find((a: any) => a.local === '10.9.0.2');
    assert.deepStrictEqual([v4.prefixlen, v4.broadcast, v4.label], [24, '10.9.0.255', 'a0:web']);
    const v6 = theirs.find((a: any) => a.local === 'fd00:9::2');
    assert.ok(v6.nodad && v6.noprefixroute);
    const lft = theirs.find((a: any) => a.local === '10.9.1.2');
    assert.strictEqual(lft.scope, 'host');
    assert.ok(lft.valid_life_time <= 300 && lft.valid_life_time > 200);
    assert.ok(lft.preferred_life_time <= 100);
    // And read back through the library.
    const ours = await rt.addr.list({ link: 'a0' });
    const o4 = ours.find((a) => a.local === '10.9.0.2')!;
    assert.deepStrictEqual([o4.address, o4.family, o4.broadcast, o4.label], ['10.9.0.2/24', 4, '10.9.0.255', 'a0:web']);
    const o6 = ours.find((a) => a.local === 'fd00:9::2')!;
    assert.ok(o6.flags.includes('nodad') && o6.flags.includes('noprefixroute'));
    assert.strictEqual((await rt.addr.list({ link: 'a0', family: 6 })).every((a) => a.family === 6), true);
    // noprefixroute: no connected route for the v6 prefix.
    assert.ok(!ipj(['-6', 'route', 'show', 'dev', 'a0']).some((r: any) => r.dst === 'fd00:9::/64'));
    assert.ok(ipj(['route', 'show', 'dev', 'a0']).some((r: any) => r.dst === '10.9.0.0/24'));
  });

  it('reads back what ip adds; replace updates; delete and flush remove', async () => {
    ip(['addr', 'add', '10.8.0.1/16', 'dev', 'a0', 'label', 'a0:x']);
    ip(['addr', 'add', '2001:db8::1/48', 'dev', 'a0', 'nodad']);
    const ours = await rt.addr.list({ link: 'a0' });
    assert.ok(ours.some((a) => a.address === '10.8.0.1/16' && a.label === 'a0:x'));
    assert.ok(ours.some((a) => a.address === '2001:db8::1/48'));
    await rt.addr.replace('a0', { address: '10.8.0.1/16', validLft: 600, preferredLft: 600 });
    const rep = ipAddrs('a0').find((a: any) => a.local === '10.8.0.1');
    assert.ok(rep.valid_life_time <= 600);
    await rt.addr.delete('a0', '10.8.0.1/16');
    assert.ok(!ipAddrs('a0').some((a: any) => a.local === '10.8.0.1'));
    await rt.addr.add('a0', '10.7.0.1/24');
    await rt.addr.add('a0', '10.7.0.2/24');  // a secondary
    const n = await rt.addr.flush('a0', 4);
    assert.ok(n >= 1);
    assert.ok(!ipAddrs('a0').some((a: any) => a.family === 'inet'));
  });

  it('rejects bad CIDRs, duplicates and unknown links', async () => {
    await rejects(rt.addr.add('a0', '10.0.0.300/24'), 'EINVAL');
    await rejects(rt.addr.add('a0', '10.0.0.1/33'), 'EINVAL');
    await rejects(rt.addr.add('a0', 'bogus'), 'EINVAL');
    await rejects(rt.addr.add('a0', { address: '10.0.0.1/24', flags: ['nope' as any] }), 'EINVAL');
    await rejects(rt.addr.add('nosuch', '10.0.0.1/24'), 'ENODEV');
    // A peer or broadcast of the other family was dropped or sent as is; /0 libnl cannot build.
    await rejects(rt.addr.add('a0', { address: '10.20.0.1/32', peer: 'fd00::9' }), 'EINVAL', /peer fd00::9 is not IPv4/);
    await rejects(rt.addr.add('a0', { address: '10.24.0.1/24', broadcast: 'fd00::1' }), 'EINVAL', /broadcast fd00::1 is not IPv4/);
    await rejects(rt.addr.add('a0', '10.26.0.1/0'), 'EINVAL', /prefix length of 0/);
    await rt.addr.add('a0', '10.6.0.1/24');
    await rejects(rt.addr.add('a0', '10.6.0.1/24'), 'EEXIST');
    await rejects(rt.addr.delete('a0', '10.5.5.5/24'), 'EADDRNOTAVAIL');
    assert.deepStrictEqual(ipAddrs('a0').filter((a: any) => a.family === 'inet').map((a: any) => a.local), ['10.6.0.1']);
  });
});
