// Routes (like `ip route`): RTM_NEWROUTE/DELROUTE/GETROUTE via libnl-route.
#include "nlutil.h"
#include <netlink/route/route.h>
#include <netlink/route/nexthop.h>
#include <linux/rtnetlink.h>

namespace cnm {

static struct rtnl_nexthop* BuildNexthop(Napi::Env env, const Napi::Object& o, int family) {
  struct rtnl_nexthop* nh = rtnl_route_nh_alloc();
  if (Has(o, "dev")) rtnl_route_nh_set_ifindex(nh, I32(o, "dev"));
  if (Has(o, "weight")) rtnl_route_nh_set_weight(nh, U32(o, "weight") - 1);  // rtnh_hops
  if (Has(o, "onlink") && Bool(o, "onlink")) rtnl_route_nh_set_flags(nh, RTNH_F_ONLINK);
  if (Has(o, "gateway")) {
    struct nl_addr* gw = nullptr;
    try {
      gw = ParseNlAddr(env, Str(o, "gateway"), family, "gateway");
    } catch (...) {
      rtnl_route_nh_free(nh);
      throw;
    }
    rtnl_route_nh_set_gateway(nh, gw);
    nl_addr_put(gw);
  }
  return nh;
}

// Route request: {family, dst ("10.0.0.0/24" | "default"), gateway?, dev?,
// table?, metric?, protocol?, scope?, type?, prefsrc?, multipath?: [...]}.
static struct rtnl_route* BuildRoute(Napi::Env env, const Napi::Object& req) {
  int family = U32(req, "family");
  struct rtnl_route* r = rtnl_route_alloc();
  try {
    rtnl_route_set_family(r, family);
    struct nl_addr* dst = ParseNlAddr(env, Str(req, "dst"), family, "destination");
    rtnl_route_set_dst(r, dst);
    nl_addr_put(dst);
    if (Has(req, "table")) rtnl_route_set_table(r, U32(req, "table"));
    if (Has(req, "metric")) rtnl_route_set_priority(r, U32(req, "metric"));
    if (Has(req, "protocol")) rtnl_route_set_protocol(r, U32(req, "protocol"));
    if (Has(req, "scope")) rtnl_route_set_scope(r, U32(req, "scope"));
    if (Has(req, "type")) rtnl_route_set_type(r, U32(req, "type"));
    if (Has(req, "mtu")) rtnl_route_set_metric(r, RTAX_MTU, U32(req, "mtu"));
    if (Has(req, "prefsrc")) {
      struct nl_addr* p = ParseNlAddr(env, Str(req, "prefsrc"), family, "prefsrc");
      rtnl_route_set_pref_src(r, p);
      nl_addr_put(p);
    }
    if (Has(req, "multipath")) {
      Napi::Array mp = req.Get("multipath").As<Napi::Array>();
      for (uint32_t i = 0; i < mp.Length(); i++)
        rtnl_route_add_nexthop(r, BuildNexthop(env, mp.Get(i).As<Napi::Object>(), family));
    } else if (Has(req, "gateway") || Has(req, "dev")) {
      rtnl_route_add_nexthop(r, BuildNexthop(env, req, family));
    }
  } catch (...) {
    rtnl_route_put(r);
    throw;
  }
  return r;
}

// routeBuild(req, msgType, nlFlags): RTM_NEWROUTE (add/replace) or RTM_DELROUTE.
static Napi::Value RouteBuild(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct rtnl_route* r = BuildRoute(env, info[0].As<Napi::Object>());
  int type = info[1].As<Napi::Number>().Int32Value();
  int flags = info[2].As<Napi::Number>().Int32Value();
  struct nl_msg* msg = nullptr;
  int err = type == RTM_DELROUTE ? rtnl_route_build_del_request(r, flags, &msg)
                                 : rtnl_route_build_add_request(r, flags, &msg);
  rtnl_route_put(r);
  if (err < 0) ThrowNl(env, err, "build route");
  return TakeMsg(env, msg);
}

// routeDump({family}, nlFlags) and routeGet({family, dst, src?, oif?, iif?}):
// the latter asks the kernel which route it would use (like `ip route get`).
static Napi::Value RouteDump(const Napi::CallbackInfo& info) {
  Napi::Object req = info[0].As<Napi::Object>();
  struct nl_msg* msg = nlmsg_alloc_simple(RTM_GETROUTE, info[1].As<Napi::Number>().Int32Value());
  struct rtmsg rtm = {};
  rtm.rtm_family = Has(req, "family") ? U32(req, "family") : AF_UNSPEC;
  nlmsg_append(msg, &rtm, sizeof rtm, NLMSG_ALIGNTO);
  return TakeMsg(info.Env(), msg);
}

static Napi::Value RouteGet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object req = info[0].As<Napi::Object>();
  struct nl_addr* dst = ParseNlAddr(env, Str(req, "dst"), AF_UNSPEC, "destination");
  struct nl_msg* msg = nlmsg_alloc_simple(RTM_GETROUTE, info[1].As<Napi::Number>().Int32Value());
  struct rtmsg rtm = {};
  rtm.rtm_family = nl_addr_get_family(dst);
  rtm.rtm_dst_len = nl_addr_get_len(dst) * 8;
  nlmsg_append(msg, &rtm, sizeof rtm, NLMSG_ALIGNTO);
  nla_put_addr(msg, RTA_DST, dst);
  nl_addr_put(dst);
  if (Has(req, "src")) {
    struct nl_addr* s = ParseNlAddr(env, Str(req, "src"), rtm.rtm_family, "source");
    nla_put_addr(msg, RTA_SRC, s);
    nl_addr_put(s);
  }
  if (Has(req, "oif")) nla_put_u32(msg, RTA_OIF, U32(req, "oif"));
  if (Has(req, "iif")) nla_put_u32(msg, RTA_IIF, U32(req, "iif"));
  return TakeMsg(env, msg);
}

void InitRoute(Napi::Env env, Napi::Object exports) {
  exports.Set("routeBuild", Napi::Function::New(env, RouteBuild));
  exports.Set("routeDump", Napi::Function::New(env, RouteDump));
  exports.Set("routeGet", Napi::Function::New(env, RouteGet));
}

}  // namespace cnm
