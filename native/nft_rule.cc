// Rules (like `nft add/insert/replace/delete rule`): the rule's attributes
// go through libnftnl; its expression list is encoded in nft_expr.cc (and
// decoded in parse_nft.cc) so expressions libnftnl does not know survive
// as raw bytes.
#include "nftutil.h"
#include <libnftnl/rule.h>
#include <cstring>

namespace cnm {

// nftRule(cmd, family, nlFlags, {table, chain?, handle?, position?, id?,
//   userdata?, exprs?: [...]})
static Napi::Value BuildRule(const Napi::CallbackInfo& info) {
  BuildArgs a = Args(info);
  Napi::Env env = info.Env();
  struct nftnl_rule* r = nftnl_rule_alloc();
  if (Has(a.obj, "table")) nftnl_rule_set_str(r, NFTNL_RULE_TABLE, Str(a.obj, "table").c_str());
  if (Has(a.obj, "chain")) nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, Str(a.obj, "chain").c_str());
  if (Has(a.obj, "handle")) nftnl_rule_set_u64(r, NFTNL_RULE_HANDLE, (uint64_t)Num(a.obj, "handle"));
  if (Has(a.obj, "position")) nftnl_rule_set_u64(r, NFTNL_RULE_POSITION, (uint64_t)Num(a.obj, "position"));
  if (Has(a.obj, "id")) nftnl_rule_set_u32(r, NFTNL_RULE_ID, U32(a.obj, "id"));
  PutUserdata(a.obj, r, nftnl_rule_set_data, NFTNL_RULE_USERDATA);
  Napi::Array exprs = Has(a.obj, "exprs") ? a.obj.Get("exprs").As<Napi::Array>() : Napi::Array::New(env);
  NftMsg m(1024 + BufLen(a.obj, "userdata") + NftExprsSize(exprs), a.cmd, a.family, a.flags);
  nftnl_rule_nlmsg_build_payload(m.nlh, r);
  nftnl_rule_free(r);
  if (exprs.Length()) NftPutExprs(env, m.nlh, m.cap, exprs);
  return m.Take(env);
}

void InitNftRule(Napi::Env env, Napi::Object exports) {
  exports.Set("nftRule", Napi::Function::New(env, BuildRule));
}

}  // namespace cnm
