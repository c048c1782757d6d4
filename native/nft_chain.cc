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

void InitNftChain(Napi::Env env, Napi::Object exports) {
  exports.Set("nftChain", Napi::Function::New(env, BuildChain));
}

}  // namespace cnm
