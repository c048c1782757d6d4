// Neighbours (like `ip neigh` and `bridge fdb`): RTM_NEWNEIGH/DELNEIGH/
// GETNEIGH via libnl-route. Family AF_BRIDGE addresses the FDB.
#include "nlutil.h"
#include <netlink/route/neighbour.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>

namespace cnm {

// req: {family, index, dst?, lladdr?, state?, flags?, vlan?, master?, vni?}
static Napi::Value NeighBuild(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object req = info[0].As<Napi::Object>();
  int type = info[1].As<Napi::Number>().Int32Value();
  int flags = info[2].As<Napi::Number>().Int32Value();
  int family = U32(req, "family");
  struct rtnl_neigh* n = rtnl_neigh_alloc();
  try {
    // dst before family: libnl refuses a dst whose family differs from an
    // already-set one, and an FDB entry (AF_BRIDGE) carries an IP dst.
    if (Has(req, "dst")) {
      struct nl_addr* d = ParseNlAddr(env, Str(req, "dst"), AF_UNSPEC, "neighbour address");
      int err = rtnl_neigh_set_dst(n, d);
      nl_addr_put(d);
      if (err < 0) ThrowNl(env, err, "neighbour address");
    }
    rtnl_neigh_set_family(n, family);
    rtnl_neigh_set_ifindex(n, I32(req, "index"));
    if (Has(req, "lladdr")) {
      struct nl_addr* l = ParseNlAddr(env, Str(req, "lladdr"), AF_LLC, "MAC address");
      rtnl_neigh_set_lladdr(n, l);
      nl_addr_put(l);
    }
    if (Has(req, "state")) rtnl_neigh_set_state(n, U32(req, "state"));
    if (Has(req, "flags")) rtnl_neigh_set_flags(n, U32(req, "flags"));
    if (Has(req, "vlan")) rtnl_neigh_set_vlan(n, U32(req, "vlan"));
    if (Has(req, "master")) rtnl_neigh_set_master(n, U32(req, "master"));
  } catch (...) {
    rtnl_neigh_put(n);
    throw;
  }
  struct nl_msg* msg = nullptr;
  int err = type == RTM_DELNEIGH ? rtnl_neigh_build_delete_request(n, flags, &msg)
                                 : rtnl_neigh_build_add_request(n, flags, &msg);
  rtnl_neigh_put(n);
  if (err < 0) ThrowNl(env, err, "build neighbour");
  if (Has(req, "vni")) nla_put_u32(msg, NDA_VNI, U32(req, "vni"));
  if (Has(req, "port")) nla_put_u16(msg, NDA_PORT, htons(U32(req, "port")));
  return TakeMsg(env, msg);
}

// neighDump({family, index?}, nlFlags)
static Napi::Value NeighDump(const Napi::CallbackInfo& info) {
  Napi::Object req = info[0].As<Napi::Object>();
  struct nl_msg* msg = nlmsg_alloc_simple(RTM_GETNEIGH, info[1].As<Napi::Number>().Int32Value());
  struct ndmsg nd = {};
  nd.ndm_family = Has(req, "family") ? U32(req, "family") : AF_UNSPEC;
  if (Has(req, "index")) nd.ndm_ifindex = I32(req, "index");
  if (Has(req, "proxy") && Bool(req, "proxy")) nd.ndm_flags = NTF_PROXY;
  nlmsg_append(msg, &nd, sizeof nd, NLMSG_ALIGNTO);
  return TakeMsg(info.Env(), msg);
}

void InitNeigh(Napi::Env env, Napi::Object exports) {
  exports.Set("neighBuild", Napi::Function::New(env, NeighBuild));
  exports.Set("neighDump", Napi::Function::New(env, NeighDump));
}

}  // namespace cnm
