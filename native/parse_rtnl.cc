// Received rtnetlink messages (links, addresses, routes, neighbours) -> Out.
// libnl parses a copy sanitize.cc validated: it keeps only the attributes
// read here, each checked for its kernel type (libnl has no policy for
// several it reads, e.g. IFLA_LINK_NETNSID, RTA_METRICS' members,
// NDA_VLAN, and loops forever on a zero-length RTA_MULTIPATH hop).
#include "sanitize.h"
#include <arpa/inet.h>
#include <netlink/netlink.h>
#include <netlink/msg.h>
#include <netlink/attr.h>
#include <netlink/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/vxlan.h>
#include <netlink/route/link/macvlan.h>
#include <netlink/route/addr.h>
#include <netlink/route/route.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/neighbour.h>
#include <linux/if_addr.h>
#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <cstddef>

#ifndef IFALIASZ
#define IFALIASZ 256
#endif

namespace cnm {
namespace {

constexpr uint16_t kAddrMax = 32;  // MAX_ADDR_LEN

// Binary address -> text, without prefix ("" when there is none).
std::string AddrText(struct nl_addr* a) {
  if (!a) return "";
  int fam = nl_addr_get_family(a);
  unsigned len = nl_addr_get_len(a);
  const void* bin = nl_addr_get_binary_addr(a);
  char buf[INET6_ADDRSTRLEN + 1];
  if (fam == AF_INET && len == 4) return inet_ntop(AF_INET, bin, buf, sizeof buf);
  if (fam == AF_INET6 && len == 16) return inet_ntop(AF_INET6, bin, buf, sizeof buf);
  std::string out;
  const uint8_t* p = (const uint8_t*)bin;
  for (unsigned i = 0; i < len; i++) {
    char h[4];
    snprintf(h, sizeof h, i ? ":%02x" : "%02x", p[i]);
    out += h;
  }
  return out;
}

void PutAddr(Out& o, const char* k, struct nl_addr* a) {
  std::string t = AddrText(a);
  if (!t.empty()) o.Str(k, t);
}

// Raw attributes newer than this build's headers, kept as {type, data}.
void Unknown(Out& o, const struct nlmsghdr* nlh, size_t hdrlen, uint16_t maxKnown) {
  Out& arr = o.Arr("unknown");
  EachMsgAttr(nlh, hdrlen, [&](const struct nlattr* a) {
    if (mnl_attr_get_type(a) <= maxKnown) return;
    Out& x = arr.Obj(nullptr);
    x.Num("type", mnl_attr_get_type(a));
    x.Bytes("data", mnl_attr_get_payload(a), mnl_attr_get_payload_len(a));
  });
}

// --- links ---------------------------------------------------------------

const Policy& BridgePolicy() {
  static const Policy p("IFLA_BR", IFLA_BR_MAX, {
    CNM_A(IFLA_BR_FORWARD_DELAY, U32), CNM_A(IFLA_BR_AGEING_TIME, U32), CNM_A(IFLA_BR_STP_STATE, U32),
    CNM_A(IFLA_BR_VLAN_FILTERING, U8), CNM_A(IFLA_BR_MCAST_SNOOPING, U8)});
  return p;
}
const Policy& VxlanPolicy() {
  static const Policy p("IFLA_VXLAN", IFLA_VXLAN_MAX, {
    CNM_A(IFLA_VXLAN_ID, U32), CNM_BIN(IFLA_VXLAN_GROUP, 4, 4), CNM_A(IFLA_VXLAN_LINK, U32),
    CNM_BIN(IFLA_VXLAN_LOCAL, 4, 4), CNM_A(IFLA_VXLAN_TTL, U8), CNM_A(IFLA_VXLAN_LEARNING, U8),
    CNM_A(IFLA_VXLAN_PORT, U16), CNM_BIN(IFLA_VXLAN_GROUP6, 16, 16), CNM_BIN(IFLA_VXLAN_LOCAL6, 16, 16)});
  return p;
}
const Policy& MacvlanPolicy() {
  static const Policy p("IFLA_MACVLAN", IFLA_MACVLAN_MAX, {CNM_A(IFLA_MACVLAN_MODE, U32), CNM_A(IFLA_MACVLAN_FLAGS, U16)});
  return p;
}
const Policy& BrportPolicy() {
  static const Policy p("IFLA_BRPORT", IFLA_BRPORT_MAX, {
    CNM_A(IFLA_BRPORT_STATE, U8), CNM_A(IFLA_BRPORT_PRIORITY, U16), CNM_A(IFLA_BRPORT_COST, U32),
    CNM_A(IFLA_BRPORT_MODE, U8), CNM_A(IFLA_BRPORT_LEARNING, U8), CNM_A(IFLA_BRPORT_UNICAST_FLOOD, U8),
    CNM_A(IFLA_BRPORT_NEIGH_SUPPRESS, U8), CNM_A(IFLA_BRPORT_ISOLATED, U8)});
  return p;
}

const char* KindOf(const struct nlattr* a) { return a ? (const char*)mnl_attr_get_payload(a) : ""; }

const Policy& LinkInfoPolicy() {
  static const Policy* p = [] {
    auto* q = new Policy("IFLA_LINKINFO", IFLA_INFO_MAX, {
      CNM_STR(IFLA_INFO_KIND, 64), Rule{IFLA_INFO_DATA, AK::Nest, "IFLA_INFO_DATA"},
      CNM_STR(IFLA_INFO_SLAVE_KIND, 64), Rule{IFLA_INFO_SLAVE_DATA, AK::Nest, "IFLA_INFO_SLAVE_DATA"}});
    // Kind data is read only for the kinds decoded here; other kinds' data stays out.
    q->childFor = [](uint16_t type, const struct nlattr* const* tb) -> const Policy* {
      if (type == IFLA_INFO_DATA) {
        std::string k = KindOf(tb[IFLA_INFO_KIND]);
        if (k == "bridge") return &BridgePolicy();
        if (k == "vxlan") return &VxlanPolicy();
        if (k == "macvlan" || k == "macvtap") return &MacvlanPolicy();
        return nullptr;
      }
      if (type == IFLA_INFO_SLAVE_DATA && std::string(KindOf(tb[IFLA_INFO_SLAVE_KIND])) == "bridge") return &BrportPolicy();
      return nullptr;
    };
    return q;
  }();
  return *p;
}

const Policy& LinkPolicy() {
  static const Policy p("IFLA", IFLA_MAX, {
    CNM_BIN(IFLA_ADDRESS, 0, kAddrMax), CNM_BIN(IFLA_BROADCAST, 0, kAddrMax), CNM_STR(IFLA_IFNAME, IFNAMSIZ),
    CNM_A(IFLA_MTU, U32), CNM_A(IFLA_LINK, U32), CNM_A(IFLA_MASTER, U32), CNM_A(IFLA_TXQLEN, U32),
    CNM_A(IFLA_OPERSTATE, U8), CNM_NEST(IFLA_LINKINFO, &LinkInfoPolicy()), CNM_STR(IFLA_IFALIAS, IFALIASZ),
    CNM_BIN(IFLA_STATS64, offsetof(struct rtnl_link_stats64, tx_compressed) + sizeof(__u64), 0),
    CNM_A(IFLA_GROUP, U32), CNM_A(IFLA_LINK_NETNSID, U32)});
  return p;
}

const char* OperState(uint8_t s) {
  static const char* names[] = {"unknown", "notpresent", "down", "lowerlayerdown", "testing", "dormant", "up"};
  return s < 7 ? names[s] : "unknown";
}

// Kind data libnl 3.7 does not decode (bridge, bridge port), read from the validated copy.
void LinkInfoExtras(Out& o, const struct nlmsghdr* nlh) {
  const struct nlattr* info = nullptr;
  EachMsgAttr(nlh, sizeof(struct ifinfomsg), [&](const struct nlattr* a) {
    if (mnl_attr_get_type(a) == IFLA_LINKINFO) info = a;
  });
  if (!info) return;
  const struct nlattr *kind = nullptr, *data = nullptr, *skind = nullptr, *sdata = nullptr;
  EachNested(info, [&](const struct nlattr* a) {
    switch (mnl_attr_get_type(a)) {
      case IFLA_INFO_KIND: kind = a; break;
      case IFLA_INFO_DATA: data = a; break;
      case IFLA_INFO_SLAVE_KIND: skind = a; break;
      case IFLA_INFO_SLAVE_DATA: sdata = a; break;
    }
  });
  if (skind) o.Str("slaveKind", mnl_attr_get_str(skind));
  if (kind && data && !strcmp(mnl_attr_get_str(kind), "bridge")) {
    Out& b = o.Obj("bridge");
    EachNested(data, [&](const struct nlattr* a) {
      switch (mnl_attr_get_type(a)) {
        case IFLA_BR_STP_STATE: b.Bool("stp", mnl_attr_get_u32(a) != 0); break;
        case IFLA_BR_VLAN_FILTERING: b.Bool("vlanFiltering", mnl_attr_get_u8(a) != 0); break;
        case IFLA_BR_FORWARD_DELAY: b.Num("forwardDelay", mnl_attr_get_u32(a)); break;
        case IFLA_BR_AGEING_TIME: b.Num("ageingTime", mnl_attr_get_u32(a)); break;
        case IFLA_BR_MCAST_SNOOPING: b.Bool("mcastSnooping", mnl_attr_get_u8(a) != 0); break;
      }
    });
  }
  if (skind && sdata && !strcmp(mnl_attr_get_str(skind), "bridge")) {
    Out& p = o.Obj("bridgePort");
    EachNested(sdata, [&](const struct nlattr* a) {
      switch (mnl_attr_get_type(a)) {
        case IFLA_BRPORT_MODE: p.Bool("hairpin", mnl_attr_get_u8(a) != 0); break;
        case IFLA_BRPORT_ISOLATED: p.Bool("isolated", mnl_attr_get_u8(a) != 0); break;
        case IFLA_BRPORT_LEARNING: p.Bool("learning", mnl_attr_get_u8(a) != 0); break;
        case IFLA_BRPORT_UNICAST_FLOOD: p.Bool("flood", mnl_attr_get_u8(a) != 0); break;
        case IFLA_BRPORT_NEIGH_SUPPRESS: p.Bool("neighSuppress", mnl_attr_get_u8(a) != 0); break;
        case IFLA_BRPORT_STATE: p.Num("state", mnl_attr_get_u8(a)); break;
        case IFLA_BRPORT_COST: p.Num("cost", mnl_attr_get_u32(a)); break;
        case IFLA_BRPORT_PRIORITY: p.Num("priority", mnl_attr_get_u16(a)); break;
      }
    });
  }
}

// Whether the copy carries IFLA_INFO_DATA: without it libnl leaves the kind's
// private data NULL and its vxlan/macvlan getters dereference it.
bool HasKindData(const struct nlmsghdr* nlh) {
  bool has = false;
  EachMsgAttr(nlh, sizeof(struct ifinfomsg), [&](const struct nlattr* a) {
    if (mnl_attr_get_type(a) != IFLA_LINKINFO) return;
    has = false;  // the last IFLA_LINKINFO is the one libnl uses
    EachNested(a, [&](const struct nlattr* b) { if (mnl_attr_get_type(b) == IFLA_INFO_DATA) has = true; });
  });
  return has;
}

// libnl's generic parser (by message type) over the copy; the object is
// taken out of the callback and read afterwards (nothing may throw
// through libnl's C frames).
struct nl_object* LibnlParse(const std::vector<uint8_t>& m, const char* what) {
  struct nl_msg* msg = nlmsg_convert((struct nlmsghdr*)m.data());
  if (!msg) throw std::bad_alloc();
  nlmsg_set_proto(msg, NETLINK_ROUTE);
  struct nl_object* obj = nullptr;
  int err = nl_msg_parse(msg, [](struct nl_object* o, void* arg) {
    auto** slot = static_cast<struct nl_object**>(arg);
    if (!*slot) { nl_object_get(o); *slot = o; }
  }, &obj);
  nlmsg_free(msg);
  if (err < 0 || !obj) {
    if (obj) nl_object_put(obj);
    throw Malformed(std::string(what) + ": libnl refused it (" + nl_geterror(err < 0 ? err : -NLE_MSG_TOOSHORT) + ")");
  }
  return obj;
}

struct ObjRef {
  struct nl_object* o;
  ~ObjRef() { if (o) nl_object_put(o); }
};

}  // namespace

void ParseLinkCore(const struct nlmsghdr* nlh, Out& o) {
  std::vector<uint8_t> m = SanitizeMsg(nlh, sizeof(struct ifinfomsg), LinkPolicy());
  ObjRef ref{LibnlParse(m, "RTM_NEWLINK")};
  auto* l = (struct rtnl_link*)ref.o;
  o.Num("index", rtnl_link_get_ifindex(l));
  if (rtnl_link_get_name(l)) o.Str("name", rtnl_link_get_name(l));
  if (rtnl_link_get_type(l)) o.Str("kind", rtnl_link_get_type(l));
  o.Num("family", rtnl_link_get_family(l));
  unsigned flags = rtnl_link_get_flags(l);
  o.Num("flags", flags);
  o.Bool("up", (flags & IFF_UP) != 0);
  o.Bool("lowerUp", (flags & 0x10000 /* IFF_LOWER_UP */) != 0);
  o.Str("state", OperState(rtnl_link_get_operstate(l)));
  o.Num("mtu", rtnl_link_get_mtu(l));
  o.Num("txqlen", rtnl_link_get_txqlen(l));
  PutAddr(o, "address", rtnl_link_get_addr(l));
  PutAddr(o, "broadcast", rtnl_link_get_broadcast(l));
  if (rtnl_link_get_master(l)) o.Num("master", rtnl_link_get_master(l));
  o.Num("group", rtnl_link_get_group(l));
  if (rtnl_link_get_link(l)) o.Num("link", rtnl_link_get_link(l));
  int32_t nsid;
  if (rtnl_link_get_link_netnsid(l, &nsid) == 0) o.Num("linkNetnsid", nsid);
  if (rtnl_link_get_ifalias(l)) o.Str("alias", rtnl_link_get_ifalias(l));
  Out& st = o.Obj("stats");
  struct { const char* k; rtnl_link_stat_id_t id; } stats[] = {
    {"rxPackets", RTNL_LINK_RX_PACKETS}, {"txPackets", RTNL_LINK_TX_PACKETS},
    {"rxBytes", RTNL_LINK_RX_BYTES}, {"txBytes", RTNL_LINK_TX_BYTES},
    {"rxErrors", RTNL_LINK_RX_ERRORS}, {"txErrors", RTNL_LINK_TX_ERRORS},
    {"rxDropped", RTNL_LINK_RX_DROPPED}, {"txDropped", RTNL_LINK_TX_DROPPED},
    {"multicast", RTNL_LINK_MULTICAST}, {"collisions", RTNL_LINK_COLLISIONS},
  };
  for (auto& s : stats) st.Num(s.k, (double)rtnl_link_get_stat(l, s.id));
  bool kindData = HasKindData((const struct nlmsghdr*)m.data());
  if (kindData && rtnl_link_is_vxlan(l)) {
    Out& v = o.Obj("vxlan");
    uint32_t u;
    if (rtnl_link_vxlan_get_id(l, &u) == 0) v.Num("id", u);
    if (rtnl_link_vxlan_get_port(l, &u) == 0) v.Num("port", u);
    if (rtnl_link_vxlan_get_link(l, &u) == 0 && u) v.Num("dev", u);
    int learn = rtnl_link_vxlan_get_learning(l);
    if (learn >= 0) v.Bool("learning", learn != 0);
    struct nl_addr* a = nullptr;
    if (rtnl_link_vxlan_get_local(l, &a) == 0 && a) { v.Str("local", AddrText(a)); nl_addr_put(a); }
    a = nullptr;
    if (rtnl_link_vxlan_get_group(l, &a) == 0 && a) {
      const uint8_t* b = (const uint8_t*)nl_addr_get_binary_addr(a);
      bool mc = nl_addr_get_len(a) && (nl_addr_get_family(a) == AF_INET ? (b[0] & 0xf0) == 0xe0 : b[0] == 0xff);
      v.Str(mc ? "group" : "remote", AddrText(a));
      nl_addr_put(a);
    }
  }
  if (kindData && rtnl_link_is_macvlan(l)) {
    char b[32];
    Out& mv = o.Obj("macvlan");
    mv.CStr("mode", rtnl_link_macvlan_mode2str(rtnl_link_macvlan_get_mode(l), b, sizeof b), "IFLA_MACVLAN_MODE");
  }
  LinkInfoExtras(o, (const struct nlmsghdr*)m.data());
  Unknown(o, nlh, sizeof(struct ifinfomsg), IFLA_MAX);
}

// --- addresses -------------------------------------------------------------

void ParseAddrCore(const struct nlmsghdr* nlh, Out& o) {
  static const Policy pol("IFA", IFA_MAX, {
    CNM_BIN(IFA_ADDRESS, 0, 16), CNM_BIN(IFA_LOCAL, 0, 16), CNM_STR(IFA_LABEL, IFNAMSIZ),
    CNM_BIN(IFA_BROADCAST, 0, 16), CNM_BIN(IFA_CACHEINFO, sizeof(struct ifa_cacheinfo), 0), CNM_A(IFA_FLAGS, U32)});
  std::vector<uint8_t> m = SanitizeMsg(nlh, sizeof(struct ifaddrmsg), pol);
  ObjRef ref{LibnlParse(m, "RTM_NEWADDR")};
  auto* a = (struct rtnl_addr*)ref.o;
  o.Num("index", rtnl_addr_get_ifindex(a));
  o.Num("family", rtnl_addr_get_family(a));
  o.Num("prefixlen", rtnl_addr_get_prefixlen(a));
  std::string local = AddrText(rtnl_addr_get_local(a));
  if (!local.empty()) {
    o.Str("local", local);
    o.Str("address", local + "/" + std::to_string(rtnl_addr_get_prefixlen(a)));
  }
  struct nl_addr* peer = rtnl_addr_get_peer(a);
  if (peer && rtnl_addr_get_local(a) && nl_addr_cmp(peer, rtnl_addr_get_local(a)) != 0) o.Str("peer", AddrText(peer));
  PutAddr(o, "broadcast", rtnl_addr_get_broadcast(a));
  if (rtnl_addr_get_label(a)) o.Str("label", rtnl_addr_get_label(a));
  o.Num("scope", rtnl_addr_get_scope(a));
  o.Num("flags", rtnl_addr_get_flags(a));
  o.Num("validLft", rtnl_addr_get_valid_lifetime(a));
  o.Num("preferredLft", rtnl_addr_get_preferred_lifetime(a));
  Unknown(o, nlh, sizeof(struct ifaddrmsg), IFA_MAX);
}

// --- routes ------------------------------------------------------------------

namespace {

// RTA_MULTIPATH: rtnexthop records, not attributes. Each is checked to fit
// (libnl spins on a zero length) and copied with only its gateway.
void MultipathCustom(const struct nlattr* a, std::vector<uint8_t>* out) {
  static const Policy inner("RTA_MULTIPATH nexthop", RTA_MAX, {CNM_BIN(RTA_GATEWAY, 0, 16)});
  const uint8_t* p = (const uint8_t*)mnl_attr_get_payload(a);
  size_t len = mnl_attr_get_payload_len(a);
  std::vector<uint8_t> body;
  for (size_t off = 0; off < len;) {
    struct rtnexthop nh;
    if (len - off < sizeof nh) throw Malformed("RTA_MULTIPATH: " + std::to_string(len - off) + " trailing bytes, not a nexthop");
    memcpy(&nh, p + off, sizeof nh);
    if (nh.rtnh_len < sizeof nh || nh.rtnh_len > len - off)
      throw Malformed("RTA_MULTIPATH: nexthop length " + std::to_string(nh.rtnh_len) + " out of bounds");
    std::vector<uint8_t> attrs;
    Sanitize(p + off + sizeof nh, nh.rtnh_len - sizeof nh, inner, &attrs);
    struct rtnexthop copy = nh;
    copy.rtnh_len = (unsigned short)(sizeof nh + attrs.size());
    const uint8_t* cp = (const uint8_t*)&copy;
    body.insert(body.end(), cp, cp + sizeof copy);
    body.insert(body.end(), attrs.begin(), attrs.end());
    off += RTNH_ALIGN(nh.rtnh_len);
  }
  if (out) PutAttr(out, a->nla_type, body.data(), body.size());
}

const Policy& MetricsPolicy() {
  static const Policy* p = [] {
    auto* q = new Policy("RTA_METRICS", RTAX_MAX, {});
    for (uint16_t t = 1; t <= RTAX_MAX; t++) q->rules[t] = Rule{t, AK::U32, nullptr};
    return q;
  }();
  return *p;
}

}  // namespace

void ParseRouteCore(const struct nlmsghdr* nlh, Out& o) {
  static const Policy pol("RTA", RTA_MAX, {
    CNM_BIN(RTA_DST, 0, 16), CNM_BIN(RTA_SRC, 0, 16), CNM_A(RTA_IIF, U32), CNM_A(RTA_OIF, U32),
    CNM_BIN(RTA_GATEWAY, 0, 16), CNM_A(RTA_PRIORITY, U32), CNM_BIN(RTA_PREFSRC, 0, 16),
    CNM_NEST(RTA_METRICS, &MetricsPolicy()),
    Rule{RTA_MULTIPATH, AK::Bin, "RTA_MULTIPATH", 0, 0, nullptr, MultipathCustom}, CNM_A(RTA_TABLE, U32)});
  std::vector<uint8_t> m = SanitizeMsg(nlh, sizeof(struct rtmsg), pol);
  struct rtnl_route* r = nullptr;
  int err = rtnl_route_parse((struct nlmsghdr*)m.data(), &r);
  if (err < 0 || !r) {
    if (r) rtnl_route_put(r);
    throw Malformed(std::string("RTM_NEWROUTE: libnl refused it (") + nl_geterror(err < 0 ? err : -NLE_NOMEM) + ")");
  }
  ObjRef ref{(struct nl_object*)r};
  int family = rtnl_route_get_family(r);
  o.Num("family", family);
  struct nl_addr* dst = rtnl_route_get_dst(r);
  std::string d = AddrText(dst);
  if (!dst || nl_addr_get_prefixlen(dst) == 0 || d.empty()) o.Str("dst", "default");
  else o.Str("dst", d + "/" + std::to_string(nl_addr_get_prefixlen(dst)));
  struct nl_addr* src = rtnl_route_get_src(r);
  std::string s = AddrText(src);
  if (src && nl_addr_get_prefixlen(src) && !s.empty()) o.Str("src", s + "/" + std::to_string(nl_addr_get_prefixlen(src)));
  PutAddr(o, "prefsrc", rtnl_route_get_pref_src(r));
  o.Num("table", rtnl_route_get_table(r));
  o.Num("metric", rtnl_route_get_priority(r));
  o.Num("protocol", rtnl_route_get_protocol(r));
  o.Num("scope", rtnl_route_get_scope(r));
  o.Num("type", rtnl_route_get_type(r));
  o.Num("flags", rtnl_route_get_flags(r));
  if (rtnl_route_get_iif(r) > 0) o.Num("iif", rtnl_route_get_iif(r));
  uint32_t mtu;
  if (rtnl_route_get_metric(r, RTAX_MTU, &mtu) == 0) o.Num("mtu", mtu);
  int n = rtnl_route_get_nnexthops(r);
  if (n == 1) {
    struct rtnl_nexthop* nh = rtnl_route_nexthop_n(r, 0);
    if (rtnl_route_nh_get_ifindex(nh)) o.Num("dev", rtnl_route_nh_get_ifindex(nh));
    PutAddr(o, "gateway", rtnl_route_nh_get_gateway(nh));
    if (rtnl_route_nh_get_flags(nh) & RTNH_F_ONLINK) o.Bool("onlink", true);
  } else if (n > 1) {
    Out& mp = o.Arr("multipath");
    for (int i = 0; i < n; i++) {
      struct rtnl_nexthop* nh = rtnl_route_nexthop_n(r, i);
      Out& x = mp.Obj(nullptr);
      if (rtnl_route_nh_get_ifindex(nh)) x.Num("dev", rtnl_route_nh_get_ifindex(nh));
      PutAddr(x, "gateway", rtnl_route_nh_get_gateway(nh));
      x.Num("weight", rtnl_route_nh_get_weight(nh) + 1);
      x.Num("flags", rtnl_route_nh_get_flags(nh));
    }
  }
  Unknown(o, nlh, sizeof(struct rtmsg), RTA_MAX);
}

// --- neighbours --------------------------------------------------------------

void ParseNeighCore(const struct nlmsghdr* nlh, Out& o) {
  static const Policy pol("NDA", NDA_MAX, {
    CNM_BIN(NDA_DST, 0, 16), CNM_BIN(NDA_LLADDR, 0, kAddrMax), CNM_BIN(NDA_CACHEINFO, sizeof(struct nda_cacheinfo), 0),
    CNM_A(NDA_PROBES, U32), CNM_A(NDA_VLAN, U16), CNM_A(NDA_PORT, U16), CNM_A(NDA_VNI, U32),
    CNM_A(NDA_IFINDEX, U32), CNM_A(NDA_MASTER, U32)});
  std::vector<uint8_t> m = SanitizeMsg(nlh, sizeof(struct ndmsg), pol);
  struct rtnl_neigh* n = nullptr;
  int err = rtnl_neigh_parse((struct nlmsghdr*)m.data(), &n);
  if (err < 0 || !n) {
    if (n) rtnl_neigh_put(n);
    throw Malformed(std::string("RTM_NEWNEIGH: libnl refused it (") + nl_geterror(err < 0 ? err : -NLE_NOMEM) + ")");
  }
  ObjRef ref{(struct nl_object*)n};
  o.Num("family", rtnl_neigh_get_family(n));
  o.Num("index", rtnl_neigh_get_ifindex(n));
  PutAddr(o, "dst", rtnl_neigh_get_dst(n));
  PutAddr(o, "lladdr", rtnl_neigh_get_lladdr(n));
  o.Num("state", rtnl_neigh_get_state(n));
  o.Num("flags", rtnl_neigh_get_flags(n));
  if (rtnl_neigh_get_vlan(n) >= 0) o.Num("vlan", rtnl_neigh_get_vlan(n));
  if (rtnl_neigh_get_master(n) > 0) o.Num("master", rtnl_neigh_get_master(n));
  // libnl 3.7 does not decode these; read them from the validated copy.
  EachMsgAttr((const struct nlmsghdr*)m.data(), sizeof(struct ndmsg), [&](const struct nlattr* a) {
    if (mnl_attr_get_type(a) == NDA_VNI) o.Num("vni", mnl_attr_get_u32(a));
    else if (mnl_attr_get_type(a) == NDA_PORT) o.Num("port", ntohs(mnl_attr_get_u16(a)));
  });
  Unknown(o, nlh, sizeof(struct ndmsg), NDA_MAX);
}

}  // namespace cnm
