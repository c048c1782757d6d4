// The host and null drivers (--network host, --network none).
import * as assert from 'assert';
import { Controller, Netns } from '../src';
import { controllerPerTest } from './cnm-helpers';
import { ipj, rejects } from './helpers';

describe('driver: host and null', function () {
  this.timeout(60000);
  let ctl: Controller;
  controllerPerTest((c) => { ctl = c; }, () => ctl);

  it('none: only loopback', async () => {
    const sb = await ctl.createSandbox({ id: 'lonely' });
    await (await ctl.network('none').createEndpoint({ name: 'lonely' })).join(sb);
    const links = ipj(['link', 'show'], sb.record.netnsName!);
    assert.deepStrictEqual(links.map((l: any) => l.ifname), ['lo']);
    assert.ok(links[0].flags.includes('UP'));
    await rejects((await ctl.network('bridge').createEndpoint({ name: 'x' })).join(sb), 'EINVAL');
  });

  it('host: the sandbox is the host namespace', async () => {
    const sb = await ctl.createSandbox({ id: 'hosty', host: true });
    await (await ctl.network('host').createEndpoint({ name: 'hosty' })).join(sb);
    const ns = await sb.netns();
    const here = Netns.current();
    assert.ok(ns.equals(here));
    ns.close(); here.close();
    await rejects(ctl.createNetwork({ name: 'host2', driver: 'host' }), 'EINVAL');
  });

});
