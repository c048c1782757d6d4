// Rule expressions: plain JS objects {type: 'payload', base, offset, ...}
// -> libnftnl expressions (decoding is in parse_nft.cc). A table maps JS property names to libnftnl
// attributes; numbers stay numbers (their meaning lives in TypeScript).
// Expressions not in the table travel as {type, raw: Buffer} (the
// NFTA_EXPR_DATA payload), both ways, so nothing read is ever dropped.
#include "nftutil.h"
#include "nft_spec.h"
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <cmath>
#include <cstring>

namespace cnm {

// Estimate of the encoded list, to size the message buffer: data attributes
// are capped at 64 bytes, strings and names at 255, so only raw expressions
// need looking at. (Only an estimate: a getter may answer differently when
// the expressions are encoded, so every put is checked against the buffer.)
size_t NftExprsSize(const Napi::Array& exprs) {
  size_t n = 64;
  for (uint32_t i = 0; i < exprs.Length(); i++) {
    Napi::Value e = exprs.Get(i);
    Napi::Value raw = e.IsObject() ? GetKey(e.As<Napi::Object>(), "raw") : Napi::Value();
    n += !raw.IsEmpty() && raw.IsBuffer() ? raw.As<Napi::Buffer<uint8_t>>().Length() + 320 : 1536;
  }
  return n;
}

static size_t AttrSize(size_t len) { return MNL_ALIGN(MNL_ATTR_HDRLEN + len); }

// The room left in the message for `need` more bytes, else EINVAL (never a write past the buffer).
static void Room(Napi::Env env, struct nlmsghdr* nlh, size_t cap, size_t need, const std::string& what) {
  if ((size_t)nlh->nlmsg_len + need > cap) ThrowInvalid(env, what + ": the rule's expressions do not fit one message");
}

// A number for a field of `kind`: an integer in its range, never truncated.
static bool InRange(Kind kind, double d) {
  // (Bounds first: casting NaN, an infinity or |d| >= 2^63 to an integer is undefined.)
  if (!std::isfinite(d) || d < -9007199254740991.0 || d > 9007199254740991.0 || d != std::trunc(d)) return false;
  switch (kind) {
    case K_U8: return d >= 0 && d <= 0xff;
    case K_U16: return d >= 0 && d <= 0xffff;
    case K_U32: return d >= 0 && d <= 0xffffffffu;
    case K_I32: return d >= -2147483648.0 && d <= 2147483647.0;
    case K_U64: return d >= 0;  // (2^53 at most: above)
    default: return false;
  }
}

static void PutOne(Napi::Env env, struct nlmsghdr* nlh, size_t cap, const Napi::Value& v) {
  if (!v.IsObject()) ThrowInvalid(env, "expression: not an object");
  Napi::Object o = v.As<Napi::Object>();
  // Each field read once: what is checked is what is written.
  Napi::Value t = GetKey(o, "type");
  if (!t.IsString()) ThrowInvalid(env, "expression without type");
  std::string name = t.As<Napi::String>().Utf8Value();
  if (name.empty() || name.size() > 255 || name.find('\0') != std::string::npos) ThrowInvalid(env, "expression type: 1 to 255 bytes, no NUL");
  const ExprSpec* spec = FindSpec(name);
  Napi::Value raw = GetKey(o, "raw");
  if (!spec || raw.IsBuffer()) {
    if (!raw.IsBuffer()) ThrowInvalid(env, "unknown expression type without raw data: " + name);
    auto b = raw.As<Napi::Buffer<uint8_t>>();
    if (b.Length() > 65000) ThrowInvalid(env, name + ": raw data too long");
    Room(env, nlh, cap, AttrSize(name.size() + 1) + AttrSize(b.Length()), name);
    mnl_attr_put_strz(nlh, NFTA_EXPR_NAME, name.c_str());
    mnl_attr_put(nlh, NFTA_EXPR_DATA | NLA_F_NESTED, b.Length(), b.Data());
    return;
  }
  struct nftnl_expr* e = nftnl_expr_alloc(name.c_str());
  if (!e) ThrowInvalid(env, "libnftnl does not know expression " + name);
  size_t need = AttrSize(name.size() + 1) + AttrSize(0);
  for (const auto& a : spec->attrs) {
    // One property read per attribute: this runs for every expression of every rule.
    Napi::Value v = GetKey(o, a.prop);
    if (v.IsUndefined() || v.IsNull()) continue;
    // (A 64-bit field may be a BigInt, as read back above 2^53 - 1.)
    bool big = a.kind == K_U64 && v.IsBigInt();
    bool ok = a.kind == K_STR ? v.IsString() : a.kind == K_DATA ? v.IsBuffer() : (v.IsNumber() || big);
    if (!ok) { nftnl_expr_free(e); ThrowInvalid(env, name + "." + a.prop + ": wrong type"); }
    uint64_t u64 = 0;
    if (big) {
      bool lossless = false;
      u64 = v.As<Napi::BigInt>().Uint64Value(&lossless);
      if (!lossless) { nftnl_expr_free(e); ThrowInvalid(env, name + "." + a.prop + ": out of range"); }
    } else if (a.kind != K_STR && a.kind != K_DATA && !InRange(a.kind, v.As<Napi::Number>().DoubleValue())) {
      nftnl_expr_free(e);
      ThrowInvalid(env, name + "." + a.prop + ": out of range");
    }
    switch (a.kind) {
      case K_U8: nftnl_expr_set_u8(e, a.attr, (uint8_t)v.As<Napi::Number>().Uint32Value()); need += AttrSize(4); break;
      case K_U16: nftnl_expr_set_u16(e, a.attr, (uint16_t)v.As<Napi::Number>().Uint32Value()); need += AttrSize(4); break;
      case K_U32: nftnl_expr_set_u32(e, a.attr, v.As<Napi::Number>().Uint32Value()); need += AttrSize(4); break;
      case K_I32: nftnl_expr_set_u32(e, a.attr, (uint32_t)v.As<Napi::Number>().Int32Value()); need += AttrSize(4); break;
      case K_U64: nftnl_expr_set_u64(e, a.attr, big ? u64 : (uint64_t)v.As<Napi::Number>().DoubleValue()); need += AttrSize(8); break;
      case K_STR: {
        std::string str = v.As<Napi::String>().Utf8Value();
        if (str.size() > 255) { nftnl_expr_free(e); ThrowInvalid(env, name + "." + a.prop + ": longer than 255 bytes"); }
        nftnl_expr_set_str(e, a.attr, str.c_str());
        need += AttrSize(str.size() + 1);
        break;
      }
      case K_DATA: {
        auto b = v.As<Napi::Buffer<uint8_t>>();
        if (b.Length() > 64) { nftnl_expr_free(e); ThrowInvalid(env, name + "." + a.prop + ": more than 64 bytes"); }
        nftnl_expr_set(e, a.attr, b.Data(), b.Length());
        // (As a nested NFTA_DATA_VALUE, or a verdict with its chain.)
        need += AttrSize(AttrSize(b.Length())) + AttrSize(0);
        break;
      }
    }
  }
  // (Attributes libnftnl adds itself, such as a verdict's nest, fit the slack.)
  if ((size_t)nlh->nlmsg_len + need + 64 > cap) { nftnl_expr_free(e); Room(env, nlh, cap, need + 64, name); }
  nftnl_expr_build_payload(nlh, e);
  nftnl_expr_free(e);
}

void NftPutExprs(Napi::Env env, struct nlmsghdr* nlh, size_t cap, const Napi::Array& exprs) {
  Room(env, nlh, cap, AttrSize(0), "expressions");
  struct nlattr* list = mnl_attr_nest_start(nlh, NFTA_RULE_EXPRESSIONS);
  for (uint32_t i = 0; i < exprs.Length(); i++) {
    Room(env, nlh, cap, AttrSize(0), "expressions");
    struct nlattr* elem = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
    PutOne(env, nlh, cap, exprs.Get(i));
    mnl_attr_nest_end(nlh, elem);
  }
  mnl_attr_nest_end(nlh, list);
  // A nest's length is 16 bits: longer lists would wrap and mean something else.
  if ((char*)mnl_nlmsg_get_payload_tail(nlh) - (char*)list > 0xffff) ThrowInvalid(env, "expressions: more than 64 KiB in one rule");
}

}  // namespace cnm
