// One overlay "host" as its own process, for the multi-host test: started
// with `nsenter --net=/run/netns/HOST node overlay-agent.js JSON`, it joins
// the cluster store, builds the network's data path in its namespace, keeps
// the peer table following etcd, and makes one container (a namespace with
// a veth on the overlay bridge) whose address and MAC come from the store.
// Prints one JSON line when ready; cleans up on SIGTERM.
import { Netns, Rtnl } from '../src';
import { ClusterStore } from '../src/cnm/cluster';
import { OverlayDatapath, PeerSync, findUnderlay } from '../src/cnm/drivers/overlay';

interface Args { store: string; hostId: string; advertise: string; prefix: string; network: string; ctr: string; name: string }

async function main() {
  const a = JSON.parse(process.argv[2]) as Args;
  const store = await ClusterStore.connect({ store: a.store, advertise: a.advertise, hostId: a.hostId, prefix: a.prefix });
  const rt = await Rtnl.open();
  const underlay = await findUnderlay(rt, a.advertise);
  const ep = await store.createEndpoint({ network: a.network, name: a.name });
  const nw = store.network(a.network)!;
  const dp = await OverlayDatapath.ensure(rt, { vni: nw.vni, subnet: nw.subnet, gateway: nw.gateway, advertise: a.advertise, underlay: underlay.index });
  const sync = new PeerSync(store, dp, a.network);
  sync.on('error', (e) => console.error(`${a.hostId}: peer sync: ${e.message}`));
  await sync.start();
  const ctr = await Netns.create(a.ctr);
  await rt.link.add({ kind: 'veth', name: 'vc0', ...dp.portSettings(), peer: { name: 'eth0', netns: ctr, address: ep.mac, mtu: dp.mtu } });
  await rt.link.set('vc0', { up: true });
  const c = await Rtnl.open({ netns: ctr });
  await c.addr.add('eth0', ep.ipv4);
  await c.link.set('eth0', { up: true });
  c.close();
  process.stdout.write(JSON.stringify({ ready: ep }) + '\n');
  process.on('SIGTERM', async () => {
    sync.stop();
    await ctr.delete().catch(() => undefined);
    await store.deleteEndpoint(a.network, a.name).catch(() => undefined);
    await dp.destroy().catch(() => undefined);
    await store.close().catch(() => undefined);
    rt.close();
    process.exit(0);
  });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
