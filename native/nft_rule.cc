// Rules (like `nft add/insert/replace/delete rule`): the rule's attributes
// go through libnftnl; its expression list is encoded/decoded in
// nft_expr.cc so expressions libnftnl does not know survive as raw bytes.
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
  if (exprs.Length()) NftPutExprs(env, m.nlh, exprs);
  return m.Take(env);
}

// Rules are decoded in two steps: the rule's attributes here, its
// expressions only when asked (nftRuleExprs), so echoes of big transactions,
// read just for their handles, cost little.
Napi::Value NftParseRule(Napi::Env env, const struct nlmsghdr* nlh) {
  std::vector<char> copy((const char*)nlh, (const char*)nlh + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg)));
  const struct nlattr* exprs = nullptr;
  for (auto* attr = (const struct nlattr*)mnl_nlmsg_get_payload_offset(nlh, sizeof(struct nfgenmsg));
       mnl_attr_ok(attr, (const char*)mnl_nlmsg_get_payload_tail(nlh) - (const char*)attr);
       attr = mnl_attr_next(attr)) {
    if (mnl_attr_get_type(attr) == NFTA_RULE_EXPRESSIONS) { exprs = attr; continue; }
    const char* p = (const char*)attr;
    copy.insert(copy.end(), p, p + MNL_ALIGN(attr->nla_len));
  }
  ((struct nlmsghdr*)copy.data())->nlmsg_len = copy.size();
  struct nftnl_rule* r = nftnl_rule_alloc();
  if (nftnl_rule_nlmsg_parse((const struct nlmsghdr*)copy.data(), r) < 0) { nftnl_rule_free(r); return env.Undefined(); }
  Napi::Object o = Napi::Object::New(env);
  o.Set("kind", "rule");
  o.Set("family", nftnl_rule_get_u32(r, NFTNL_RULE_FAMILY));
  o.Set("table", nftnl_rule_get_str(r, NFTNL_RULE_TABLE));
  o.Set("chain", nftnl_rule_get_str(r, NFTNL_RULE_CHAIN));
  if (nftnl_rule_is_set(r, NFTNL_RULE_HANDLE)) o.Set("handle", U64(env, nftnl_rule_get_u64(r, NFTNL_RULE_HANDLE)));
  if (nftnl_rule_is_set(r, NFTNL_RULE_POSITION)) o.Set("position", U64(env, nftnl_rule_get_u64(r, NFTNL_RULE_POSITION)));
  if (nftnl_rule_is_set(r, NFTNL_RULE_ID)) o.Set("id", nftnl_rule_get_u32(r, NFTNL_RULE_ID));
  GetUserdata(env, o, r, nftnl_rule_is_set, nftnl_rule_get_data, NFTNL_RULE_USERDATA);
  nftnl_rule_free(r);
  // The NFTA_RULE_EXPRESSIONS attribute as is, for nftRuleExprs.
  if (exprs) o.Set("exprList", Bytes(env, exprs, exprs->nla_len));
  return o;
}

// nftRuleExprs(exprList: Buffer) -> [{type, ...}]: libnftnl parses the list
// whole when it knows every expression, else expression by expression.
static Napi::Value RuleExprs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsBuffer()) return Napi::Array::New(env);
  auto b = info[0].As<Napi::Buffer<uint8_t>>();
  if (b.Length() < sizeof(struct nlattr)) return Napi::Array::New(env);
  const struct nlattr* list = (const struct nlattr*)b.Data();
  if (list->nla_len > b.Length() || list->nla_len < sizeof(struct nlattr)) throw Napi::TypeError::New(env, "bad expression list");
  NftMsg m(MNL_NLMSG_HDRLEN + 64 + MNL_ALIGN(b.Length()), NFT_MSG_NEWRULE, NFPROTO_UNSPEC_, 0);
  mnl_attr_put(m.nlh, NFTA_RULE_EXPRESSIONS | NLA_F_NESTED, mnl_attr_get_payload_len(list), mnl_attr_get_payload(list));
  struct nftnl_rule* r = nftnl_rule_alloc();
  Napi::Array out = nftnl_rule_nlmsg_parse(m.nlh, r) >= 0 ? NftDecodeExprs(env, r, list) : NftParseExprs(env, list);
  nftnl_rule_free(r);
  return out;
}

void InitNftRule(Napi::Env env, Napi::Object exports) {
  exports.Set("nftRule", Napi::Function::New(env, BuildRule));
  exports.Set("nftRuleExprs", Napi::Function::New(env, RuleExprs));
}

}  // namespace cnm
