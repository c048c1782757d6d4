// The overlay driver's parts: the per-host data path (bridge + VXLAN +
// static peer table) and PeerSync, which keeps it following the cluster
// store (src/cnm/cluster). How a driver on the seam uses them:
//
//   open (Controller.open({ cluster: { store, advertise } })):
//     const underlay = await findUnderlay(rt, advertise);            // EINVAL: not an address of this host
//     const store = await ClusterStore.connect({ store, advertise, hostId });  // EINVAL / ENOTCONN / EEXIST
//     store.on('network', ({ type, network }) => ...);               // global networks of every controller
//   createNetwork({ driver: 'overlay', name, subnet?, options }):
//     const nw = await store.createNetwork({ name, subnet, gateway, subnet6, gateway6, options });
//       // EEXIST (name, VNI), EBUSY (subnet overlaps another overlay network), EINVAL, ENOTCONN
//   first endpoint of nw on this host (lazily, as Docker does):
//     const dp = await OverlayDatapath.ensure(rt, { vni: nw.vni, subnet: nw.subnet, gateway: nw.gateway,
//                                                   subnet6: nw.subnet6, gateway6: nw.gateway6,
//                                                   advertise, underlay: underlay.index, group: 0xc17 });
//     const sync = new PeerSync(store, dp, nw.name); await sync.start();
//   createEndpoint / join:
//     const ep = await store.createEndpoint({ network, name, aliases, ipv4?, ipv6?, mac? });  // one etcd txn
//     veth: { ...dp.portSettings(), peer: { name: 'eth0', address: ep.mac, mtu: dp.mtu } },
//     address ep.ipv4 / ep.ipv6, default route via nw.gateway (each host's own bridge answers it).
//   leave / delete endpoint:  await store.deleteEndpoint(network, name);
//   last local endpoint gone: sync.stop(); await dp.destroy();
//   deleteNetwork:            await store.deleteNetwork(name);  // EBUSY while any host has an endpoint
//   restore after a restart:  connect takes over this host's record: store.ownEndpoints() are the
//     endpoints etcd still has for it; ensure() adopts the devices, sync.start() resyncs the peers.
//   join / leave:             await store.updateEndpoint(network, name, { sandbox: [name, hostname, shortId] | null });
//   names (DNS):              store.peers(network): name, aliases and (while joined) `sandbox` names, addresses.
//   etcd state:               store.isConnected, 'status' events; store.stats.requests counts requests.
export * from './datapath';
export * from './driver';
export * from './peersync';
