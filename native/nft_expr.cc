// Rule expressions: plain JS objects {type: 'payload', base, offset, ...}
// -> libnftnl expressions (decoding is in parse_nft.cc). A table maps JS property names to libnftnl
// attributes; numbers stay numbers (their meaning lives in TypeScript).
// Expressions not in the table travel as {type, raw: Buffer} (the
// NFTA_EXPR_DATA payload), both ways, so nothing read is ever dropped.
#include "nftutil.h"
#include "nft_spec.h"
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <cstring>

namespace cnm {

// Upper bound of the encoded list: data attributes are capped at 64 bytes
// and strings at 256, so only raw expressions need looking at.
size_t NftExprsSize(const Napi::Array& exprs) {
  size_t n = 64;
  for (uint32_t i = 0; i < exprs.Length(); i++) {
    Napi::Value raw = GetKey(exprs.Get(i).As<Napi::Object>(), "raw");
    n += raw.IsBuffer() ? raw.As<Napi::Buffer<uint8_t>>().Length() + 320 : 1536;
  }
  return n;
}

static void PutOne(Napi::Env env, struct nlmsghdr* nlh, const Napi::Object& o) {
  Napi::Value t = GetKey(o, "type");
  if (!t.IsString()) throw Napi::TypeError::New(env, "expression without type");
  std::string name = t.As<Napi::String>().Utf8Value();
  const ExprSpec* spec = FindSpec(name);
  Napi::Value raw = GetKey(o, "raw");
  if (!spec || raw.IsBuffer()) {
    if (!raw.IsBuffer()) throw Napi::TypeError::New(env, "unknown expression type without raw data: " + name);
    auto b = raw.As<Napi::Buffer<uint8_t>>();
    if (b.Length() > 65000) throw Napi::TypeError::New(env, name + ": raw data too long");
    mnl_attr_put_strz(nlh, NFTA_EXPR_NAME, name.c_str());
    mnl_attr_put(nlh, NFTA_EXPR_DATA | NLA_F_NESTED, b.Length(), b.Data());
    return;
  }
  struct nftnl_expr* e = nftnl_expr_alloc(name.c_str());
  if (!e) throw Napi::TypeError::New(env, "libnftnl does not know expression " + name);
  for (const auto& a : spec->attrs) {
    // One property read per attribute: this runs for every expression of every rule.
    Napi::Value v = GetKey(o, a.prop);
    if (v.IsUndefined() || v.IsNull()) continue;
    bool ok = a.kind == K_STR ? v.IsString() : a.kind == K_DATA ? v.IsBuffer() : v.IsNumber();
    if (!ok) { nftnl_expr_free(e); throw Napi::TypeError::New(env, name + "." + a.prop + ": wrong type"); }
    switch (a.kind) {
      case K_U8: nftnl_expr_set_u8(e, a.attr, (uint8_t)v.As<Napi::Number>().Uint32Value()); break;
      case K_U16: nftnl_expr_set_u16(e, a.attr, (uint16_t)v.As<Napi::Number>().Uint32Value()); break;
      case K_U32: nftnl_expr_set_u32(e, a.attr, v.As<Napi::Number>().Uint32Value()); break;
      case K_I32: nftnl_expr_set_u32(e, a.attr, (uint32_t)v.As<Napi::Number>().Int32Value()); break;
      case K_U64: nftnl_expr_set_u64(e, a.attr, (uint64_t)v.As<Napi::Number>().DoubleValue()); break;
      case K_STR: {
        std::string str = v.As<Napi::String>().Utf8Value();
        if (str.size() > 255) { nftnl_expr_free(e); throw Napi::TypeError::New(env, name + "." + a.prop + ": longer than 255 bytes"); }
        nftnl_expr_set_str(e, a.attr, str.c_str());
        break;
      }
      case K_DATA: {
        auto b = v.As<Napi::Buffer<uint8_t>>();
        if (b.Length() > 64) { nftnl_expr_free(e); throw Napi::TypeError::New(env, name + "." + a.prop + ": more than 64 bytes"); }
        nftnl_expr_set(e, a.attr, b.Data(), b.Length());
        break;
      }
    }
  }
  nftnl_expr_build_payload(nlh, e);
  nftnl_expr_free(e);
}

void NftPutExprs(Napi::Env env, struct nlmsghdr* nlh, const Napi::Array& exprs) {
  struct nlattr* list = mnl_attr_nest_start(nlh, NFTA_RULE_EXPRESSIONS);
  for (uint32_t i = 0; i < exprs.Length(); i++) {
    struct nlattr* elem = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
    PutOne(env, nlh, exprs.Get(i).As<Napi::Object>());
    mnl_attr_nest_end(nlh, elem);
  }
  mnl_attr_nest_end(nlh, list);
}

}  // namespace cnm
