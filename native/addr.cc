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
      rtnl_addr_set_peer(a, p);
      nl_addr_put(p);
    }
    if (Has(req, "broadcast")) {
      struct nl_addr* b = ParseNlAddr(env, Str(req, "broadcast"), AF_INET, "broadcast");
      rtnl_addr_set_broadcast(a, b);
      nl_addr_put(b);
    }
    if (Has(req, "label")) {
      if (rtnl_addr_set_label(a, Str(req, "label").c_str()) < 0)
        throw Napi::TypeError::New(env, "invalid label");
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

static void OnAddr(struct nl_object* obj, void* arg) {
  auto* c = static_cast<ParseCtx*>(arg);
  Napi::Env env = c->env;
  auto* a = (struct rtnl_addr*)obj;
  Napi::Object o = Napi::Object::New(env);
  o.Set("index", rtnl_addr_get_ifindex(a));
  o.Set("family", rtnl_addr_get_family(a));
  o.Set("prefixlen", rtnl_addr_get_prefixlen(a));
  Napi::Value local = AddrText(env, rtnl_addr_get_local(a));
  if (!local.IsUndefined()) {
    o.Set("local", local);
    o.Set("address", local.As<Napi::String>().Utf8Value() + "/" + std::to_string(rtnl_addr_get_prefixlen(a)));
  }
  struct nl_addr* peer = rtnl_addr_get_peer(a);
  if (peer && rtnl_addr_get_local(a) && nl_addr_cmp(peer, rtnl_addr_get_local(a)) != 0)
    o.Set("peer", AddrText(env, peer));
  Napi::Value brd = AddrText(env, rtnl_addr_get_broadcast(a));
  if (!brd.IsUndefined()) o.Set("broadcast", brd);
  if (rtnl_addr_get_label(a)) o.Set("label", rtnl_addr_get_label(a));
  o.Set("scope", rtnl_addr_get_scope(a));
  o.Set("flags", rtnl_addr_get_flags(a));
  o.Set("validLft", rtnl_addr_get_valid_lifetime(a));
  o.Set("preferredLft", rtnl_addr_get_preferred_lifetime(a));
  o.Set("unknown", UnknownAttrs(env, c->nlh, sizeof(struct ifaddrmsg), nullptr, IFA_MAX));
  c->out = o;
}

Napi::Value ParseAddr(Napi::Env env, const struct nlmsghdr* nlh) {
  return ParseWithLibnl(env, nlh, OnAddr);
}

void InitAddr(Napi::Env env, Napi::Object exports) {
  exports.Set("addrAdd", Napi::Function::New(env, AddrAdd));
  exports.Set("addrDelete", Napi::Function::New(env, AddrDelete));
  exports.Set("addrDump", Napi::Function::New(env, AddrDump));
}

}  // namespace cnm
