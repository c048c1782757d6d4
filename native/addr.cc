// Addresses (like `ip addr`): RTM_NEWADDR/DELADDR/GETADDR via libnl-route.
#include "nlutil.h"
#include <netlink/route/addr.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>

namespace cnm {

static struct rtnl_addr* BuildAddr(Napi::Env env, const Napi::Object& req) {
  struct rtnl_addr* a = rtnl_addr_alloc();
  try {
    rtnl_addr_set_ifindex(a, I32(req, "index"));
    struct nl_addr* local = ParseNlAddr(env, Str(req, "local"), AF_UNSPEC, "address");
    rtnl_addr_set_local(a, local);
    rtnl_addr_set_family(a, nl_addr_get_family(local));
    nl_addr_put(local);
    if (Has(req, "prefixlen")) rtnl_addr_set_prefixlen(a, U32(req, "prefixlen"));
    if (Has(req, "peer")) {
      struct nl_addr* p = ParseNlAddr(env, Str(req, "peer"), AF_UNSPEC, "peer");
      int err = rtnl_addr_set_peer(a, p);
      nl_addr_put(p);
      if (err < 0) ThrowNl(env, err, "peer");
    }
    if (Has(req, "broadcast")) {
      struct nl_addr* b = ParseNlAddr(env, Str(req, "broadcast"), AF_INET, "broadcast");
      int err = rtnl_addr_set_broadcast(a, b);
      nl_addr_put(b);
      if (err < 0) ThrowNl(env, err, "broadcast");
    }
    if (Has(req, "label")) {
      if (rtnl_addr_set_label(a, Str(req, "label").c_str()) < 0)
        ThrowInvalid(env, "invalid label");
    }
    if (Has(req, "scope")) rtnl_addr_set_scope(a, U32(req, "scope"));
    if (Has(req, "flags")) rtnl_addr_set_flags(a, U32(req, "flags"));
    if (Has(req, "validLft")) rtnl_addr_set_valid_lifetime(a, U32(req, "validLft"));
    if (Has(req, "preferredLft")) rtnl_addr_set_preferred_lifetime(a, U32(req, "preferredLft"));
  } catch (...) {
    rtnl_addr_put(a);
    throw;
  }
  return a;
}

// addrAdd(req, nlFlags) / addrDelete(req, nlFlags): req.local is "ip/len".
static Napi::Value AddrAdd(const Napi::CallbackInfo& info) {
  struct rtnl_addr* a = BuildAddr(info.Env(), info[0].As<Napi::Object>());
  struct nl_msg* msg = nullptr;
  int err = rtnl_addr_build_add_request(a, info[1].As<Napi::Number>().Int32Value(), &msg);
  rtnl_addr_put(a);
  if (err < 0) ThrowNl(info.Env(), err, "build addr add");
  return TakeMsg(info.Env(), msg);
}

static Napi::Value AddrDelete(const Napi::CallbackInfo& info) {
  struct rtnl_addr* a = BuildAddr(info.Env(), info[0].As<Napi::Object>());
  struct nl_msg* msg = nullptr;
  int err = rtnl_addr_build_delete_request(a, info[1].As<Napi::Number>().Int32Value(), &msg);
  rtnl_addr_put(a);
  if (err < 0) ThrowNl(info.Env(), err, "build addr delete");
  return TakeMsg(info.Env(), msg);
}

// addrDump({family?, index?}, nlFlags)
static Napi::Value AddrDump(const Napi::CallbackInfo& info) {
  Napi::Object req = info[0].As<Napi::Object>();
  struct nl_msg* msg = nlmsg_alloc_simple(RTM_GETADDR, info[1].As<Napi::Number>().Int32Value());
  struct ifaddrmsg ifa = {};
  ifa.ifa_family = Has(req, "family") ? U32(req, "family") : AF_UNSPEC;
  if (Has(req, "index")) ifa.ifa_index = U32(req, "index");
  nlmsg_append(msg, &ifa, sizeof ifa, NLMSG_ALIGNTO);
  return TakeMsg(info.Env(), msg);
}

void InitAddr(Napi::Env env, Napi::Object exports) {
  exports.Set("addrAdd", Napi::Function::New(env, AddrAdd));
  exports.Set("addrDelete", Napi::Function::New(env, AddrDelete));
  exports.Set("addrDump", Napi::Function::New(env, AddrDump));
}

}  // namespace cnm
