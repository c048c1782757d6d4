// Legacy links (`docker run --link db:webdb`), as Docker makes them: hosts
// entries and environment variables on the default bridge, the alias in the
// linking sandbox's own resolver on a user-defined network, and with icc off
// the only pairs that may talk, on the target's exposed ports.
import * as assert from 'assert';
import * as fs from 'fs';
import { Controller, Netns } from '../src';
import type { Sandbox } from '../src';
import { controllerPerTest, tmpState } from './cnm-helpers';
import { ipj, ipLink, rejects } from './helpers';
import { canConnect, run, tcpGet, tcpServer } from './net-helpers';

/** `nft -j list ruleset` here (async: the embedded DNS and the test's servers answer meanwhile). */
async function nftJson(): Promise<any[]> {
  const r = await run('nft', ['-j', 'list', 'ruleset']);
  assert.strictEqual(r.code, 0, r.err);
  return JSON.parse(JSON.stringify((JSON.parse(r.out).nftables as any[]).filter((x) => !x.metainfo), (k, v) => (k === 'handle' ? undefined : v)));
}

const hostsOf = (sb: Sandbox) => fs.readFileSync(sb.hostsPath, 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
const getent = (sb: Sandbox, name: string) => run('ip', ['netns', 'exec', sb.record.netnsName!, 'getent', 'hosts', name]);

/** Our link elements, as `nft -j list ruleset` shows them: set name -> element keys. */
async function linkSets(): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const o of await nftJson()) {
    const s = o.set;
    if (!s || s.table !== 'cnm-netlink' || !['links', 'linked_ports'].includes(s.name)) continue;
    out[`${s.family} ${s.name}`] = (s.elem ?? []).map((e: any) => {
      const v = e.elem?.val ?? e;
      return typeof v === 'object' && v.concat ? v.concat : v;
    });
  }
  return out;
}

/** A sandbox on a network (the default bridge unless named), its endpoint exposing `exposed`. */
async function onNetwork(ctl: Controller, id: string, o: { net?: string; exposed?: string[]; links?: string[] } = {}) {
  const sb = await ctl.createSandbox({ id, ...(o.links ? { links: o.links } : {}) });
  const ep = await ctl.network(o.net ?? 'bridge').createEndpoint({ name: id, ...(o.exposed ? { exposedPorts: o.exposed } : {}) });
  await ep.join(sb);
  return { sb, ep };
}

describe('cnm: legacy links on the default bridge', function () {
  this.timeout(90000);
  let ctl: Controller;
  controllerPerTest((c) => { ctl = c; }, () => ctl);

  it('hosts entries (alias, hostname, name), getent, and the environment Docker sets', async () => {
    const db = await onNetwork(ctl, 'db', { exposed: ['5432', '53/udp', '8000', '8001', '8002'] });
    const web = await onNetwork(ctl, 'web', { links: ['db:webdb', 'db'] });
    const dbIp = db.ep.ipv4!;
    assert.strictEqual(dbIp, '172.17.0.2');
    const hosts = hostsOf(web.sb);
    assert.ok(hosts.includes(`${dbIp}\twebdb db db`), hosts.join(' | '));
    // The alias equal to the name is not written twice.
    assert.ok(hosts.includes(`${dbIp}\tdb db`), hosts.join(' | '));
    const r = await getent(web.sb, 'webdb');
    assert.strictEqual(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`^${dbIp.replace(/\./g, '\\.')}\\s+webdb db db`));
    // Links are one way: db's hosts file knows nothing of web.
    assert.ok(!hostsOf(db.sb).some((l) => l.includes('web')));
    const env = web.sb.linkEnv();
    const tcp = (p: number) => ({
      [`WEBDB_PORT_${p}_TCP`]: `tcp://${dbIp}:${p}`, [`WEBDB_PORT_${p}_TCP_ADDR`]: dbIp, [`WEBDB_PORT_${p}_TCP_PORT`]: String(p), [`WEBDB_PORT_${p}_TCP_PROTO`]: 'tcp',
    });
    assert.deepStrictEqual(Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('WEBDB_'))), {
      WEBDB_PORT: `tcp://${dbIp}:5432`,
      ...tcp(5432), ...tcp(8000), ...tcp(8001), ...tcp(8002),
      WEBDB_PORT_8000_TCP_START: `tcp://${dbIp}:8000`, WEBDB_PORT_8000_TCP_PORT_START: '8000',
      WEBDB_PORT_8000_TCP_END: `tcp://${dbIp}:8002`, WEBDB_PORT_8000_TCP_PORT_END: '8002',
      WEBDB_PORT_53_UDP: `udp://${dbIp}:53`, WEBDB_PORT_53_UDP_ADDR: dbIp, WEBDB_PORT_53_UDP_PORT: '53', WEBDB_PORT_53_UDP_PROTO: 'udp',
      WEBDB_NAME: '/web/webdb',
    });
    assert.strictEqual(env.DB_NAME, '/web/db');
    assert.strictEqual(env.DB_PORT, `tcp://${dbIp}:5432`);
    assert.deepStrictEqual(db.sb.linkEnv(), {});
  });

  it('the target leaving, coming back and going: hosts follow, the link goes with the target', async () => {
    const db = await onNetwork(ctl, 'db', { exposed: ['5432'] });
    const web = await onNetwork(ctl, 'web', { links: ['db:webdb'] });
    await db.ep.leave();
    assert.ok(!hostsOf(web.sb).some((l) => l.includes('webdb')), 'no line while the target is off the bridge');
    await rejects(Promise.resolve().then(() => web.sb.linkEnv()), 'EINVAL', /db as webdb/);
    // Back with another address: the parent's hosts file has the new one (Docker's ParentUpdate).
    const ep2 = await ctl.network('bridge').createEndpoint({ name: 'db2', exposedPorts: ['5432'] });
    await ep2.join(db.sb);
    assert.notStrictEqual(ep2.ipv4, db.ep.ipv4);
    assert.ok(hostsOf(web.sb).includes(`${ep2.ipv4}\twebdb db db`), hostsOf(web.sb).join(' | '));
    assert.strictEqual(web.sb.linkEnv().WEBDB_PORT_5432_TCP_ADDR, ep2.ipv4);
    // Deleted: the link is gone from the parent (Docker drops it from its link graph).
    await db.sb.delete();
    assert.strictEqual(web.sb.record.links, undefined);
    assert.ok(!hostsOf(web.sb).some((l) => l.includes('webdb')));
    assert.deepStrictEqual(web.sb.linkEnv(), {});
  });

  it('a parent joins only when its targets are on the default bridge; bad links are refused, leaving nothing', async () => {
    const any = ctl as any;
    const db = await ctl.createSandbox({ id: 'db' });
    await ctl.createSandbox({ id: 'onhost', host: true });
    const side = await ctl.createSandbox({ id: 'side', joinSandbox: 'db' });
    const before = { links: ipj(['link', 'show']), nft: await nftJson(), sandboxes: ctl.sandboxes().map((s) => s.id) };
    await rejects(any.createSandbox({ id: 'w', links: 'db' }), 'ERR_INVALID_ARG_TYPE', /links/);
    await rejects(any.createSandbox({ id: 'w', links: [5] }), 'ERR_INVALID_ARG_TYPE', /links/);
    await rejects(ctl.createSandbox({ id: 'w', links: ['db:a:b'] }), 'EINVAL', /bad format/);
    await rejects(ctl.createSandbox({ id: 'w', links: [''] }), 'EINVAL', /bad format/);
    await rejects(ctl.createSandbox({ id: 'w', links: ['db:'] }), 'EINVAL', /bad format/);
    await rejects(ctl.createSandbox({ id: 'w', links: ['db:bad alias'] }), 'EINVAL', /alias/);
    await rejects(ctl.createSandbox({ id: 'w', links: ['nosuch:x'] }), 'ENOENT', /nosuch/);
    await rejects(ctl.createSandbox({ id: 'w', links: ['w:x'] }), 'EINVAL', /itself/);
    await rejects(ctl.createSandbox({ id: 'w', name: 'wname', links: ['wname'] }), 'EINVAL', /itself/);
    await rejects(ctl.createSandbox({ id: 'w', links: ['db:x', 'side:X'] }), 'EINVAL', /twice/);
    await rejects(ctl.createSandbox({ id: 'w', links: ['onhost:x'] }), 'EINVAL', /host/);
    await rejects(ctl.createSandbox({ id: 'w', host: true, links: ['db'] }), 'EINVAL', /host/);
    await rejects(ctl.createSandbox({ id: 'w', joinSandbox: 'db', links: ['db'] }), 'EINVAL', /joinSandbox/);
    // A sandbox sharing another's namespace stands for its owner.
    const web = await ctl.createSandbox({ id: 'web', links: ['side:webdb'] });
    assert.deepStrictEqual(web.record.links, [{ target: 'db', alias: 'webdb' }]);
    // Its target is on no network: the join is refused before anything is made.
    const ep = await ctl.network('bridge').createEndpoint({ name: 'web' });
    const kernel = { links: ipj(['link', 'show']), nft: await nftJson() };
    await rejects(ep.join(web), 'EINVAL', /db as webdb.*bridge/);
    assert.deepStrictEqual({ links: ipj(['link', 'show']), nft: await nftJson() }, kernel);
    assert.strictEqual(ep.record.sandboxId, undefined);
    await ep.delete();
    await web.delete();
    assert.deepStrictEqual({ links: ipj(['link', 'show']), nft: await nftJson(), sandboxes: ctl.sandboxes().map((s) => s.id) }, before);
    await side.delete();
    await db.delete();
  });

  it('on a user-defined network the alias resolves for the linking sandbox only', async () => {
    await ctl.createNetwork({ name: 'app', subnet: '10.71.0.0/24' });
    const db = await onNetwork(ctl, 'db', { net: 'app' });
    const web = await onNetwork(ctl, 'web', { net: 'app', links: ['db:webdb'] });
    const other = await onNetwork(ctl, 'other', { net: 'app' });
    for (const q of ['webdb', 'WEBDB', 'webdb.app']) {
      const r = await getent(web.sb, q);
      assert.strictEqual(r.code, 0, `${q}: ${r.err}`);
      assert.match(r.out, new RegExp(`^${db.ep.ipv4!.replace(/\./g, '\\.')}\\s`), q);
    }
    assert.notStrictEqual((await getent(other.sb, 'webdb')).code, 0, 'another sandbox does not know the alias');
    // No hosts lines and no variables off the default bridge, as Docker.
    assert.ok(!hostsOf(web.sb).some((l) => l.includes('webdb')));
    assert.deepStrictEqual(web.sb.linkEnv(), {});
  });
});

describe('cnm: legacy links with icc off (dockerd --icc=false)', function () {
  this.timeout(90000);
  let ctl: Controller;
  controllerPerTest((c) => { ctl = c; }, () => ctl, { icc: false });

  it('only the linked pair talks, on the exposed port; the rules go with the leave', async () => {
    assert.strictEqual(ctl.network('bridge').inspect().Options['com.docker.network.bridge.enable_icc'], 'false');
    const db = await onNetwork(ctl, 'db', { exposed: ['5432'] });
    const web = await onNetwork(ctl, 'web', { links: ['db:webdb'] });
    const other = await onNetwork(ctl, 'other');
    const nss: Netns[] = await Promise.all([db, web, other].map((x) => x.sb.netns()));
    const [dbNs, webNs, otherNs] = nss;
    const servers = await Promise.all([5432, 6000].map((p) => tcpServer(dbNs, '0.0.0.0', p, (remote) => `db:${p} to ${remote}`)));
    const webSrv = await tcpServer(webNs, '0.0.0.0', 5432, () => 'web');
    const dbIp = db.ep.ipv4!;
    const webIf = web.ep.record.hostIfname!, dbIf = db.ep.record.hostIfname!;
    const callIptables = '/proc/sys/net/bridge/bridge-nf-call-iptables';
    const brNetfilter = fs.existsSync(callIptables) ? fs.readFileSync(callIptables, 'utf8').trim() : undefined;
    try {
      // Both paths bridged frames take: through iptables' hooks (br_netfilter, as on most Docker hosts) and not.
      for (const via of brNetfilter === undefined ? ['bridge'] : ['1', '0']) {
        if (brNetfilter !== undefined) fs.writeFileSync(callIptables, via);
        const how = via === '0' ? ' (no br_netfilter)' : '';
        assert.strictEqual(await tcpGet(webNs, dbIp, 5432), `db:5432 to ${web.ep.ipv4}`, `the linked pair on the exposed port${how}`);
        assert.ok(!(await canConnect(otherNs, dbIp, 5432)), `an unlinked container does not reach it${how}`);
        assert.ok(!(await canConnect(webNs, dbIp, 6000)), `nor does the parent on a port not exposed${how}`);
        assert.ok(!(await canConnect(dbNs, web.ep.ipv4!, 5432)), `the link is one way${how}`);
        assert.ok(!(await canConnect(webNs, other.ep.ipv4!, 5432)), `the parent does not reach the others${how}`);
      }
      // The rules, as nft shows them, and the two bridge ports opened (the others isolated).
      const sets = await linkSets();
      assert.deepStrictEqual(sets['ip links'], [[web.ep.ipv4, dbIp, 'tcp', 5432]]);
      assert.deepStrictEqual(sets['bridge links'], [[webIf, dbIf, 'tcp', 5432]]);
      assert.deepStrictEqual([...(sets['bridge linked_ports'] as string[])].sort(), [dbIf, webIf].sort());
      const isolated = (ifname: string) => ipLink(ifname).linkinfo.info_slave_data.isolated;
      assert.deepStrictEqual([isolated(webIf), isolated(dbIf), isolated(other.ep.record.hostIfname!)], [false, false, true]);
      const rules = JSON.stringify((await nftJson()).filter((o) => o.rule?.family === 'bridge'));
      assert.match(rules, /"protocol"/, 'other IPv4/IPv6 on linked ports is dropped');
      await web.ep.leave();
      assert.deepStrictEqual(await linkSets(), { 'ip links': [], 'bridge links': [], 'bridge linked_ports': [] });
      assert.strictEqual(isolated(dbIf), true, 'the target is isolated again');
    } finally {
      if (brNetfilter !== undefined) fs.writeFileSync(callIptables, brNetfilter);
      for (const s of [...servers, webSrv]) s.close();
      nss.forEach((n) => n.close());
    }
  });

  it('after a restart the rules are put back as the records say', async () => {
    const db = await onNetwork(ctl, 'db', { exposed: ['5432'] });
    const web = await onNetwork(ctl, 'web', { links: ['db:webdb'] });
    const want = await linkSets();
    assert.strictEqual(want['bridge links'].length, 1);
    const stateDir = ctl.stateDir;
    await ctl.close();
    // Lost meanwhile: the elements, and the opened port closed again.
    for (const s of ['bridge cnm-netlink links', 'bridge cnm-netlink linked_ports', 'ip cnm-netlink links']) await run('nft', ['flush', 'set', ...s.split(' ')]);
    await run('ip', ['link', 'set', 'dev', web.ep.record.hostIfname!, 'type', 'bridge_slave', 'isolated', 'on']);
    ctl = await Controller.open({ stateDir, upstreamDns: [] });
    assert.deepStrictEqual(await linkSets(), want);
    assert.strictEqual(ipLink(web.ep.record.hostIfname!).linkinfo.info_slave_data.isolated, false);
    const webNs = await ctl.sandbox('web').netns();
    const dbNs = await ctl.sandbox('db').netns();
    const srv = await tcpServer(dbNs, '0.0.0.0', 5432, () => 'db');
    try {
      assert.strictEqual(await tcpGet(webNs, db.ep.ipv4!, 5432), 'db');
    } finally {
      srv.close(); webNs.close(); dbNs.close();
    }
    // Deleting the parent takes its rules with it.
    await ctl.sandbox('web').delete();
    assert.deepStrictEqual(await linkSets(), { 'ip links': [], 'bridge links': [], 'bridge linked_ports': [] });
  });

  it('the bridge deleted behind the running controller: the next join makes it again, the linked pair still talks, the rest stays isolated; after a flush the link rules come back with reconcile()', async () => {
    const db = await onNetwork(ctl, 'db', { exposed: ['5432'] });
    const web = await onNetwork(ctl, 'web', { links: ['db:webdb'] });
    const other = await onNetwork(ctl, 'other');
    const want = await linkSets();
    const mac = ipLink('cnm0').address;
    assert.strictEqual((await run('ip', ['link', 'del', 'cnm0'])).code, 0);
    const late = await onNetwork(ctl, 'late');
    // Made again with its MAC (the containers' ARP entries for the gateway stay right).
    assert.strictEqual(ipLink('cnm0').address, mac);
    const isolated = (ifname: string) => ipLink(ifname).linkinfo.info_slave_data.isolated;
    assert.deepStrictEqual([web, db, other, late].map((x) => isolated(x.ep.record.hostIfname!)), [false, false, true, true]);
    const nss: Netns[] = await Promise.all([db, web, other].map((x) => x.sb.netns()));
    const [dbNs, webNs, otherNs] = nss;
    const srv = await tcpServer(dbNs, '0.0.0.0', 5432, () => 'db again');
    try {
      assert.strictEqual(await tcpGet(webNs, db.ep.ipv4!, 5432), 'db again');
      assert.ok(!(await canConnect(otherNs, db.ep.ipv4!, 5432)));
      // Flushed: leaves and link syncs still work; the rules come back with reconcile().
      assert.strictEqual((await run('nft', ['flush', 'ruleset'])).code, 0);
      await late.ep.leave();
      await ctl.reconcile();
      assert.deepStrictEqual(await linkSets(), want);
      assert.strictEqual(await tcpGet(webNs, db.ep.ipv4!, 5432), 'db again');
    } finally {
      srv.close();
      nss.forEach((n) => n.close());
    }
  });

  it('icc cannot change under endpoints; with none it can', async () => {
    await onNetwork(ctl, 'db');
    const stateDir = ctl.stateDir;
    await ctl.close();
    await rejects(Controller.open({ stateDir, icc: true, upstreamDns: [] }), 'EBUSY', /icc/);
    await rejects(Controller.open({ stateDir: tmpState(), icc: 'no' as any, upstreamDns: [] }), 'ERR_INVALID_ARG_TYPE', /icc/);
    ctl = await Controller.open({ stateDir, upstreamDns: [] });
    await ctl.sandbox('db').delete();
    for (const e of ctl.endpoints()) await e.delete();
    await ctl.close();
    ctl = await Controller.open({ stateDir, icc: true, upstreamDns: [] });
    assert.strictEqual(ctl.network('bridge').inspect().Options['com.docker.network.bridge.enable_icc'], 'true');
    // With no icc-off network left, the link set and the bridge table are gone;
    // a user-defined icc-off network brings the set back and takes it along.
    const linkBase = async () => (await nftJson()).filter((o) => (o.set?.name === 'links' || o.table?.family === 'bridge') && (o.set?.table ?? o.table?.name) === 'cnm-netlink')
      .map((o) => (o.set ? `set ${o.set.family} ${o.set.name}` : `table ${o.table.family}`));
    assert.deepStrictEqual(await linkBase(), []);
    const quiet = await ctl.createNetwork({ name: 'quiet', options: { 'com.docker.network.bridge.enable_icc': 'false' } });
    assert.deepStrictEqual(await linkBase(), ['set ip links']);
    await quiet.delete();
    assert.deepStrictEqual(await linkBase(), []);
  });
});
