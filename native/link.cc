// Links (like `ip link`): build RTM_NEWLINK/DELLINK/GETLINK with libnl-route
// and parse RTM_NEWLINK into a plain object.
#include "nlutil.h"
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/link/vxlan.h>
#include <netlink/route/link/macvlan.h>
#include <netlink/route/link/vlan.h>
#include <linux/if_link.h>
#include <linux/if_bridge.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netlink/route/link/inet.h>
#include <netlink/route/link/inet6.h>
#include <linux/ip.h>

namespace cnm {

// Common link properties shared by add requests, veth peers and changes.
static void ApplyCommon(Napi::Env env, struct rtnl_link* l, const Napi::Object& o) {
  if (Has(o, "name")) rtnl_link_set_name(l, Str(o, "name").c_str());
  if (Has(o, "mtu")) rtnl_link_set_mtu(l, U32(o, "mtu"));
  if (Has(o, "txqlen")) rtnl_link_set_txqlen(l, U32(o, "txqlen"));
  if (Has(o, "group")) rtnl_link_set_group(l, U32(o, "group"));
  if (Has(o, "numTxQueues")) rtnl_link_set_num_tx_queues(l, U32(o, "numTxQueues"));
  if (Has(o, "numRxQueues")) rtnl_link_set_num_rx_queues(l, U32(o, "numRxQueues"));
  if (Has(o, "alias")) rtnl_link_set_ifalias(l, Str(o, "alias").c_str());
  if (Has(o, "master")) rtnl_link_set_master(l, I32(o, "master"));
  if (Has(o, "link")) rtnl_link_set_link(l, I32(o, "link"));
  if (Has(o, "netnsFd")) rtnl_link_set_ns_fd(l, I32(o, "netnsFd"));
  if (Has(o, "netnsPid")) rtnl_link_set_ns_pid(l, I32(o, "netnsPid"));
  if (Has(o, "address")) {
    struct nl_addr* a = ParseNlAddr(env, Str(o, "address"), AF_LLC, "MAC address");
    rtnl_link_set_addr(l, a);
    nl_addr_put(a);
  }
  if (Has(o, "up")) {
    if (Bool(o, "up")) rtnl_link_set_flags(l, IFF_UP);
    else rtnl_link_unset_flags(l, IFF_UP);
  }
  if (Has(o, "arp")) {
    if (Bool(o, "arp")) rtnl_link_unset_flags(l, IFF_NOARP);
    else rtnl_link_set_flags(l, IFF_NOARP);
  }
}

// Appends an IFLA_LINKINFO the kernel parses after libnl's own (the last
// copy of an attribute wins), for kind data libnl 3.7 cannot express.
static void PutBridgeInfo(struct nl_msg* msg, const Napi::Object& br, bool withKind) {
  struct nlattr* info = nla_nest_start(msg, IFLA_LINKINFO);
  if (withKind) nla_put_string(msg, IFLA_INFO_KIND, "bridge");
  struct nlattr* data = nla_nest_start(msg, IFLA_INFO_DATA);
  if (Has(br, "stp")) nla_put_u32(msg, IFLA_BR_STP_STATE, Bool(br, "stp") ? 1 : 0);
  if (Has(br, "vlanFiltering")) nla_put_u8(msg, IFLA_BR_VLAN_FILTERING, Bool(br, "vlanFiltering") ? 1 : 0);
  if (Has(br, "forwardDelay")) nla_put_u32(msg, IFLA_BR_FORWARD_DELAY, U32(br, "forwardDelay"));
  if (Has(br, "ageingTime")) nla_put_u32(msg, IFLA_BR_AGEING_TIME, U32(br, "ageingTime"));
  if (Has(br, "mcastSnooping")) nla_put_u8(msg, IFLA_BR_MCAST_SNOOPING, Bool(br, "mcastSnooping") ? 1 : 0);
  nla_nest_end(msg, data);
  nla_nest_end(msg, info);
}

// Bridge-port options, as `ip link set X type bridge_slave hairpin on`.
static void PutBridgePort(struct nl_msg* msg, const Napi::Object& p) {
  struct nlattr* info = nla_nest_start(msg, IFLA_LINKINFO);
  struct nlattr* data = nla_nest_start(msg, IFLA_INFO_SLAVE_DATA);
  auto flag = [&](const char* k, int attr) {
    if (Has(p, k)) nla_put_u8(msg, attr, Bool(p, k) ? 1 : 0);
  };
  flag("hairpin", IFLA_BRPORT_MODE);
  flag("isolated", IFLA_BRPORT_ISOLATED);
  flag("learning", IFLA_BRPORT_LEARNING);
  flag("flood", IFLA_BRPORT_UNICAST_FLOOD);
  flag("neighSuppress", IFLA_BRPORT_NEIGH_SUPPRESS);
  if (Has(p, "cost")) nla_put_u32(msg, IFLA_BRPORT_COST, U32(p, "cost"));
  if (Has(p, "priority")) nla_put_u16(msg, IFLA_BRPORT_PRIORITY, U32(p, "priority"));
  nla_nest_end(msg, data);
  nla_nest_end(msg, info);
}

// libnl 3.7 leaves IFLA_GROUP/IFLA_TXQLEN/IFLA_NUM_*_QUEUES out of the veth peer; when they
// are asked for, a complete IFLA_LINKINFO is appended (the last one wins).
static void PutVethPeerInfo(Napi::Env env, struct nl_msg* msg, const Napi::Object& p) {
  struct nlattr* info = nla_nest_start(msg, IFLA_LINKINFO);
  nla_put_string(msg, IFLA_INFO_KIND, "veth");
  struct nlattr* data = nla_nest_start(msg, IFLA_INFO_DATA);
  struct nlattr* peer = nla_nest_start(msg, 1 /* VETH_INFO_PEER */);
  struct ifinfomsg ifi = {};
  // The peer's flags live in this header, which replaces libnl's: up is kept.
  if (Has(p, "up") && Bool(p, "up")) { ifi.ifi_flags = IFF_UP; ifi.ifi_change = IFF_UP; }
  nlmsg_append(msg, &ifi, sizeof ifi, NLMSG_ALIGNTO);
  if (Has(p, "name")) nla_put_string(msg, IFLA_IFNAME, Str(p, "name").c_str());
  if (Has(p, "mtu")) nla_put_u32(msg, IFLA_MTU, U32(p, "mtu"));
  if (Has(p, "group")) nla_put_u32(msg, IFLA_GROUP, U32(p, "group"));
  if (Has(p, "txqlen")) nla_put_u32(msg, IFLA_TXQLEN, U32(p, "txqlen"));
  if (Has(p, "numTxQueues")) nla_put_u32(msg, IFLA_NUM_TX_QUEUES, U32(p, "numTxQueues"));
  if (Has(p, "numRxQueues")) nla_put_u32(msg, IFLA_NUM_RX_QUEUES, U32(p, "numRxQueues"));
  if (Has(p, "netnsFd")) nla_put_u32(msg, IFLA_NET_NS_FD, U32(p, "netnsFd"));
  if (Has(p, "alias")) nla_put_string(msg, IFLA_IFALIAS, Str(p, "alias").c_str());
  if (Has(p, "address")) {
    struct nl_addr* a = ParseNlAddr(env, Str(p, "address"), AF_LLC, "MAC address");
    nla_put_addr(msg, IFLA_ADDRESS, a);
    nl_addr_put(a);
  }
  nla_nest_end(msg, peer);
  nla_nest_end(msg, data);
  nla_nest_end(msg, info);
}

// linkAdd(req, nlFlags) -> Buffer. req.kind: veth | bridge | vxlan | macvlan | vlan | any.
static Napi::Value LinkAdd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object req = info[0].As<Napi::Object>();
  int flags = info[1].As<Napi::Number>().Int32Value();
  std::string kind = Str(req, "kind");
  struct rtnl_link* l = nullptr;
  if (kind == "veth") {
    l = rtnl_link_veth_alloc();
    if (Has(req, "peer")) {
      struct rtnl_link* peer = rtnl_link_veth_get_peer(l);
      ApplyCommon(env, peer, req.Get("peer").As<Napi::Object>());
      rtnl_link_put(peer);
    }
  } else {
    l = rtnl_link_alloc();
    int err = rtnl_link_set_type(l, kind.c_str());
    if (err < 0) { rtnl_link_put(l); ThrowNl(env, err, "link kind"); }
  }
  try {
    ApplyCommon(env, l, req);
    if (kind == "vxlan" && Has(req, "vxlan")) {
      Napi::Object v = req.Get("vxlan").As<Napi::Object>();
      if (Has(v, "id")) rtnl_link_vxlan_set_id(l, U32(v, "id"));
      if (Has(v, "port")) rtnl_link_vxlan_set_port(l, U32(v, "port"));
      if (Has(v, "learning")) rtnl_link_vxlan_set_learning(l, Bool(v, "learning") ? 1 : 0);
      if (Has(v, "dev")) rtnl_link_vxlan_set_link(l, U32(v, "dev"));
      if (Has(v, "ttl")) rtnl_link_vxlan_set_ttl(l, U32(v, "ttl"));
      const char* keys[] = {"local", "group", "remote"};
      for (const char* k : keys) {
        if (!Has(v, k)) continue;
        struct nl_addr* a = ParseNlAddr(env, Str(v, k), AF_UNSPEC, k);
        if (!strcmp(k, "local")) rtnl_link_vxlan_set_local(l, a);
        else rtnl_link_vxlan_set_group(l, a);  // unicast group = remote
        nl_addr_put(a);
      }
    }
    if (kind == "vlan" && Has(req, "vlan")) {
      int err = rtnl_link_vlan_set_id(l, (uint16_t)U32(req.Get("vlan").As<Napi::Object>(), "id"));
      if (err < 0) ThrowNl(env, err, "vlan id");
    }
    if (kind == "macvlan" && Has(req, "macvlan")) {
      Napi::Object m = req.Get("macvlan").As<Napi::Object>();
      if (Has(m, "mode")) {
        int mode = rtnl_link_macvlan_str2mode(Str(m, "mode").c_str());
        if (mode < 0) ThrowInvalid(env, "invalid macvlan mode: " + Str(m, "mode"));
        rtnl_link_macvlan_set_mode(l, mode);
      }
    }
  } catch (...) {
    rtnl_link_put(l);
    throw;
  }
  struct nl_msg* msg = nullptr;
  int err = rtnl_link_build_add_request(l, flags, &msg);
  rtnl_link_put(l);
  if (err < 0) ThrowNl(env, err, "build link add");
  if (kind == "bridge" && Has(req, "bridge")) PutBridgeInfo(msg, req.Get("bridge").As<Napi::Object>(), true);
  if (kind == "veth" && Has(req, "peer")) {
    Napi::Object p = req.Get("peer").As<Napi::Object>();
    if (Has(p, "group") || Has(p, "txqlen") || Has(p, "alias") || Has(p, "numTxQueues") || Has(p, "numRxQueues"))
      PutVethPeerInfo(env, msg, p);
  }
  return TakeMsg(env, msg);
}

// linkChange(req, nlFlags) -> Buffer; req.index names the link.
static Napi::Value LinkChange(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object req = info[0].As<Napi::Object>();
  int flags = info[1].As<Napi::Number>().Int32Value();
  struct rtnl_link* orig = rtnl_link_alloc();
  struct rtnl_link* ch = rtnl_link_alloc();
  rtnl_link_set_ifindex(orig, I32(req, "index"));
  try {
    ApplyCommon(env, ch, req);
  } catch (...) {
    rtnl_link_put(orig); rtnl_link_put(ch); throw;
  }
  // Per-device IPv4 settings (like /proc/sys/net/ipv4/conf/DEV/*), sent
  // in the same request: IFLA_AF_SPEC / AF_INET / IFLA_INET_CONF.
  if (Has(req, "ipv4Conf")) {
    static const struct { const char* k; unsigned id; } conf[] = {
      {"forwarding", IPV4_DEVCONF_FORWARDING}, {"arp_notify", IPV4_DEVCONF_ARP_NOTIFY},
      {"route_localnet", IPV4_DEVCONF_ROUTE_LOCALNET}, {"proxy_arp", IPV4_DEVCONF_PROXY_ARP},
      {"rp_filter", IPV4_DEVCONF_RP_FILTER}, {"arp_ignore", IPV4_DEVCONF_ARP_IGNORE},
      {"arp_announce", IPV4_DEVCONF_ARP_ANNOUNCE}, {"accept_local", IPV4_DEVCONF_ACCEPT_LOCAL},
    };
    Napi::Object c = req.Get("ipv4Conf").As<Napi::Object>();
    for (auto& e : conf)
      if (Has(c, e.k)) rtnl_link_inet_set_conf(ch, e.id, U32(c, e.k));
  }
  // IPv6 address generation (eui64, none, stable_secret, random), like
  // `ip link set X addrgenmode none`.
  if (Has(req, "addrGenMode")) rtnl_link_inet6_set_addr_gen_mode(ch, U32(req, "addrGenMode"));
  struct nl_msg* msg = nullptr;
  int err = rtnl_link_build_change_request(orig, ch, flags, &msg);
  rtnl_link_put(orig);
  rtnl_link_put(ch);
  if (err < 0) ThrowNl(env, err, "build link change");
  // Addressed by name (index 0): the kernel looks the link up itself.
  if (Has(req, "ifname")) nla_put_string(msg, IFLA_IFNAME, Str(req, "ifname").c_str());
  if (Has(req, "bridge")) PutBridgeInfo(msg, req.Get("bridge").As<Napi::Object>(), true);
  if (Has(req, "bridgePort")) PutBridgePort(msg, req.Get("bridgePort").As<Napi::Object>());
  return TakeMsg(env, msg);
}

// linkDelete({index} | {name} | {group}, nlFlags). By group, the kernel removes every
// member in one unregister_netdevice_many (one RCU wait for all).
static Napi::Value LinkDelete(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object req = info[0].As<Napi::Object>();
  int flags = info[1].As<Napi::Number>().Int32Value();
  struct nl_msg* msg = nullptr;
  if (Has(req, "group")) {
    msg = nlmsg_alloc_simple(RTM_DELLINK, flags);
    struct ifinfomsg ifi = {};
    ifi.ifi_family = AF_UNSPEC;
    nlmsg_append(msg, &ifi, sizeof ifi, NLMSG_ALIGNTO);
    nla_put_u32(msg, IFLA_GROUP, U32(req, "group"));
    return TakeMsg(env, msg);
  }
  struct rtnl_link* l = rtnl_link_alloc();
  if (Has(req, "name")) rtnl_link_set_name(l, Str(req, "name").c_str());
  else rtnl_link_set_ifindex(l, I32(req, "index"));
  int err = rtnl_link_build_delete_request(l, &msg);
  rtnl_link_put(l);
  if (err < 0) ThrowNl(env, err, "build link delete");
  nlmsg_hdr(msg)->nlmsg_flags |= flags;
  return TakeMsg(env, msg);
}

// linkGet({index?, name?, dump?, family?}, nlFlags). No VF info is asked for:
// it is slow on big hosts and nothing here needs it.
static Napi::Value LinkGet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object req = info[0].As<Napi::Object>();
  int flags = info[1].As<Napi::Number>().Int32Value();
  struct nl_msg* msg = nlmsg_alloc_simple(RTM_GETLINK, flags);
  struct ifinfomsg ifi = {};
  ifi.ifi_family = Has(req, "family") ? U32(req, "family") : AF_UNSPEC;
  if (Has(req, "index")) ifi.ifi_index = I32(req, "index");
  nlmsg_append(msg, &ifi, sizeof ifi, NLMSG_ALIGNTO);
  if (Has(req, "name")) nla_put_string(msg, IFLA_IFNAME, Str(req, "name").c_str());
  return TakeMsg(env, msg);
}


void InitLink(Napi::Env env, Napi::Object exports) {
  exports.Set("linkAdd", Napi::Function::New(env, LinkAdd));
  exports.Set("linkChange", Napi::Function::New(env, LinkChange));
  exports.Set("linkDelete", Napi::Function::New(env, LinkDelete));
  exports.Set("linkGet", Napi::Function::New(env, LinkGet));
}

}  // namespace cnm
