// Chains (like `nft add/delete/flush/list chain`): base chains carry type,
// hook and priority; regular chains only a name.
#include "nftutil.h"
#include <libnftnl/chain.h>

namespace cnm {

// nftChain(cmd, family, nlFlags, {table, name?, handle?, hooknum?, prio?,
//   policy?, type?, dev?, flags?, userdata?})
static Napi::Value BuildChain(const Napi::CallbackInfo& info) {
  BuildArgs a = Args(info);
  struct nftnl_chain* c = nftnl_chain_alloc();
  if (Has(a.obj, "table")) nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, Str(a.obj, "table").c_str());
  if (Has(a.obj, "name")) nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, Str(a.obj, "name").c_str());
  if (Has(a.obj, "handle")) nftnl_chain_set_u64(c, NFTNL_CHAIN_HANDLE, (uint64_t)Num(a.obj, "handle"));
  if (Has(a.obj, "hooknum")) nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, U32(a.obj, "hooknum"));
  if (Has(a.obj, "prio")) nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, I32(a.obj, "prio"));
  if (Has(a.obj, "policy")) nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, U32(a.obj, "policy"));
  if (Has(a.obj, "type")) nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, Str(a.obj, "type").c_str());
  if (Has(a.obj, "dev")) nftnl_chain_set_str(c, NFTNL_CHAIN_DEV, Str(a.obj, "dev").c_str());
  if (Has(a.obj, "flags")) nftnl_chain_set_u32(c, NFTNL_CHAIN_FLAGS, U32(a.obj, "flags"));
  PutUserdata(a.obj, c, nftnl_chain_set_data, NFTNL_CHAIN_USERDATA);
  NftMsg m(1024 + BufLen(a.obj, "userdata"), a.cmd, a.family, a.flags);
  nftnl_chain_nlmsg_build_payload(m.nlh, c);
  nftnl_chain_free(c);
  return m.Take(info.Env());
}

Napi::Value NftParseChain(Napi::Env env, const struct nlmsghdr* nlh) {
  struct nftnl_chain* c = nftnl_chain_alloc();
  if (nftnl_chain_nlmsg_parse(nlh, c) < 0) { nftnl_chain_free(c); return env.Undefined(); }
  Napi::Object o = Napi::Object::New(env);
  o.Set("kind", "chain");
  o.Set("family", nftnl_chain_get_u32(c, NFTNL_CHAIN_FAMILY));
  o.Set("table", nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE));
  o.Set("name", nftnl_chain_get_str(c, NFTNL_CHAIN_NAME));
  if (nftnl_chain_is_set(c, NFTNL_CHAIN_HANDLE)) o.Set("handle", U64(env, nftnl_chain_get_u64(c, NFTNL_CHAIN_HANDLE)));
  if (nftnl_chain_is_set(c, NFTNL_CHAIN_HOOKNUM)) o.Set("hooknum", nftnl_chain_get_u32(c, NFTNL_CHAIN_HOOKNUM));
  if (nftnl_chain_is_set(c, NFTNL_CHAIN_PRIO)) o.Set("prio", nftnl_chain_get_s32(c, NFTNL_CHAIN_PRIO));
  if (nftnl_chain_is_set(c, NFTNL_CHAIN_POLICY)) o.Set("policy", nftnl_chain_get_u32(c, NFTNL_CHAIN_POLICY));
  if (nftnl_chain_is_set(c, NFTNL_CHAIN_TYPE)) o.Set("type", nftnl_chain_get_str(c, NFTNL_CHAIN_TYPE));
  if (nftnl_chain_is_set(c, NFTNL_CHAIN_DEV)) o.Set("dev", nftnl_chain_get_str(c, NFTNL_CHAIN_DEV));
  if (nftnl_chain_is_set(c, NFTNL_CHAIN_FLAGS)) o.Set("flags", nftnl_chain_get_u32(c, NFTNL_CHAIN_FLAGS));
  if (nftnl_chain_is_set(c, NFTNL_CHAIN_USE)) o.Set("use", nftnl_chain_get_u32(c, NFTNL_CHAIN_USE));
  if (nftnl_chain_is_set(c, NFTNL_CHAIN_PACKETS)) o.Set("packets", U64(env, nftnl_chain_get_u64(c, NFTNL_CHAIN_PACKETS)));
  if (nftnl_chain_is_set(c, NFTNL_CHAIN_BYTES)) o.Set("bytes", U64(env, nftnl_chain_get_u64(c, NFTNL_CHAIN_BYTES)));
  GetUserdata(env, o, c, nftnl_chain_is_set, nftnl_chain_get_data, NFTNL_CHAIN_USERDATA);
  nftnl_chain_free(c);
  return o;
}

void InitNftChain(Napi::Env env, Napi::Object exports) {
  exports.Set("nftChain", Napi::Function::New(env, BuildChain));
}

}  // namespace cnm
