// Rule expressions: plain JS objects {type: 'payload', base, offset, ...}
// <-> libnftnl expressions. A table maps JS property names to libnftnl
// attributes; numbers stay numbers (their meaning lives in TypeScript).
// Expressions not in the table travel as {type, raw: Buffer} (the
// NFTA_EXPR_DATA payload), both ways, so nothing read is ever dropped.
#include "nftutil.h"
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <cstring>

namespace cnm {

enum Kind { K_U8, K_U16, K_U32, K_I32, K_U64, K_STR, K_DATA };
struct AttrSpec { const char* prop; uint16_t attr; Kind kind; };
struct ExprSpec { const char* name; std::vector<AttrSpec> attrs; };

static const std::vector<ExprSpec>& Specs() {
  static const std::vector<ExprSpec> specs = {
    {"payload", {{"dreg", NFTNL_EXPR_PAYLOAD_DREG, K_U32}, {"base", NFTNL_EXPR_PAYLOAD_BASE, K_U32},
                 {"offset", NFTNL_EXPR_PAYLOAD_OFFSET, K_U32}, {"len", NFTNL_EXPR_PAYLOAD_LEN, K_U32},
                 {"sreg", NFTNL_EXPR_PAYLOAD_SREG, K_U32}, {"csumType", NFTNL_EXPR_PAYLOAD_CSUM_TYPE, K_U32},
                 {"csumOffset", NFTNL_EXPR_PAYLOAD_CSUM_OFFSET, K_U32}, {"csumFlags", NFTNL_EXPR_PAYLOAD_FLAGS, K_U32}}},
    {"meta", {{"key", NFTNL_EXPR_META_KEY, K_U32}, {"dreg", NFTNL_EXPR_META_DREG, K_U32}, {"sreg", NFTNL_EXPR_META_SREG, K_U32}}},
    {"cmp", {{"sreg", NFTNL_EXPR_CMP_SREG, K_U32}, {"op", NFTNL_EXPR_CMP_OP, K_U32}, {"data", NFTNL_EXPR_CMP_DATA, K_DATA}}},
    {"range", {{"sreg", NFTNL_EXPR_RANGE_SREG, K_U32}, {"op", NFTNL_EXPR_RANGE_OP, K_U32},
               {"from", NFTNL_EXPR_RANGE_FROM_DATA, K_DATA}, {"to", NFTNL_EXPR_RANGE_TO_DATA, K_DATA}}},
    {"immediate", {{"dreg", NFTNL_EXPR_IMM_DREG, K_U32}, {"data", NFTNL_EXPR_IMM_DATA, K_DATA},
                   {"verdict", NFTNL_EXPR_IMM_VERDICT, K_I32}, {"chain", NFTNL_EXPR_IMM_CHAIN, K_STR}}},
    {"counter", {{"packets", NFTNL_EXPR_CTR_PACKETS, K_U64}, {"bytes", NFTNL_EXPR_CTR_BYTES, K_U64}}},
    {"bitwise", {{"sreg", NFTNL_EXPR_BITWISE_SREG, K_U32}, {"dreg", NFTNL_EXPR_BITWISE_DREG, K_U32},
                 {"len", NFTNL_EXPR_BITWISE_LEN, K_U32}, {"mask", NFTNL_EXPR_BITWISE_MASK, K_DATA},
                 {"xor", NFTNL_EXPR_BITWISE_XOR, K_DATA}, {"op", NFTNL_EXPR_BITWISE_OP, K_U32},
                 {"data", NFTNL_EXPR_BITWISE_DATA, K_DATA}}},
    {"nat", {{"natType", NFTNL_EXPR_NAT_TYPE, K_U32}, {"family", NFTNL_EXPR_NAT_FAMILY, K_U32},
             {"regAddrMin", NFTNL_EXPR_NAT_REG_ADDR_MIN, K_U32}, {"regAddrMax", NFTNL_EXPR_NAT_REG_ADDR_MAX, K_U32},
             {"regProtoMin", NFTNL_EXPR_NAT_REG_PROTO_MIN, K_U32}, {"regProtoMax", NFTNL_EXPR_NAT_REG_PROTO_MAX, K_U32},
             {"flags", NFTNL_EXPR_NAT_FLAGS, K_U32}}},
    {"lookup", {{"sreg", NFTNL_EXPR_LOOKUP_SREG, K_U32}, {"dreg", NFTNL_EXPR_LOOKUP_DREG, K_U32},
                {"set", NFTNL_EXPR_LOOKUP_SET, K_STR}, {"setId", NFTNL_EXPR_LOOKUP_SET_ID, K_U32},
                {"flags", NFTNL_EXPR_LOOKUP_FLAGS, K_U32}}},
    {"log", {{"prefix", NFTNL_EXPR_LOG_PREFIX, K_STR}, {"group", NFTNL_EXPR_LOG_GROUP, K_U16},
             {"snaplen", NFTNL_EXPR_LOG_SNAPLEN, K_U32}, {"qthreshold", NFTNL_EXPR_LOG_QTHRESHOLD, K_U16},
             {"level", NFTNL_EXPR_LOG_LEVEL, K_U32}, {"flags", NFTNL_EXPR_LOG_FLAGS, K_U32}}},
    {"ct", {{"dreg", NFTNL_EXPR_CT_DREG, K_U32}, {"key", NFTNL_EXPR_CT_KEY, K_U32},
            {"dir", NFTNL_EXPR_CT_DIR, K_U8}, {"sreg", NFTNL_EXPR_CT_SREG, K_U32}}},
    {"limit", {{"rate", NFTNL_EXPR_LIMIT_RATE, K_U64}, {"unit", NFTNL_EXPR_LIMIT_UNIT, K_U64},
               {"burst", NFTNL_EXPR_LIMIT_BURST, K_U32}, {"limitType", NFTNL_EXPR_LIMIT_TYPE, K_U32},
               {"flags", NFTNL_EXPR_LIMIT_FLAGS, K_U32}}},
    {"reject", {{"rejectType", NFTNL_EXPR_REJECT_TYPE, K_U32}, {"code", NFTNL_EXPR_REJECT_CODE, K_U8}}},
    {"masq", {{"flags", NFTNL_EXPR_MASQ_FLAGS, K_U32}, {"regProtoMin", NFTNL_EXPR_MASQ_REG_PROTO_MIN, K_U32},
              {"regProtoMax", NFTNL_EXPR_MASQ_REG_PROTO_MAX, K_U32}}},
    {"redir", {{"regProtoMin", NFTNL_EXPR_REDIR_REG_PROTO_MIN, K_U32}, {"regProtoMax", NFTNL_EXPR_REDIR_REG_PROTO_MAX, K_U32},
               {"flags", NFTNL_EXPR_REDIR_FLAGS, K_U32}}},
    {"fib", {{"dreg", NFTNL_EXPR_FIB_DREG, K_U32}, {"result", NFTNL_EXPR_FIB_RESULT, K_U32},
             {"flags", NFTNL_EXPR_FIB_FLAGS, K_U32}}},
    {"quota", {{"bytes", NFTNL_EXPR_QUOTA_BYTES, K_U64}, {"flags", NFTNL_EXPR_QUOTA_FLAGS, K_U32},
               {"consumed", NFTNL_EXPR_QUOTA_CONSUMED, K_U64}}},
    {"notrack", {}},
  };
  return specs;
}

static const ExprSpec* FindSpec(const std::string& name) {
  for (const auto& s : Specs()) if (name == s.name) return &s;
  return nullptr;
}

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

static Napi::Object Decode(Napi::Env env, const ExprSpec& spec, const struct nftnl_expr* e) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("type", spec.name);
  for (const auto& a : spec.attrs) {
    if (!nftnl_expr_is_set(e, a.attr)) continue;
    uint32_t len = 0;
    const void* p = nftnl_expr_get(e, a.attr, &len);
    if (!p) continue;
    switch (a.kind) {
      case K_STR: o.Set(a.prop, std::string((const char*)p, strnlen((const char*)p, len))); break;
      case K_DATA: o.Set(a.prop, Bytes(env, p, len)); break;
      case K_I32: o.Set(a.prop, *(const int32_t*)p); break;
      default: {
        uint64_t v = 0;
        if (len == 1) v = *(const uint8_t*)p;
        else if (len == 2) v = *(const uint16_t*)p;
        else if (len == 4) v = *(const uint32_t*)p;
        else if (len == 8) v = *(const uint64_t*)p;
        o.Set(a.prop, U64(env, v));
      }
    }
  }
  return o;
}

static Napi::Object RawExpr(Napi::Env env, const std::string& name, const struct nlattr* data) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("type", name);
  o.Set("raw", data ? Bytes(env, mnl_attr_get_payload(data), mnl_attr_get_payload_len(data)) : Bytes(env, "", 0));
  return o;
}

// The name and data attributes of one NFTA_LIST_ELEM (an expression).
static void ExprNameData(const struct nlattr* elem, std::string* name, const struct nlattr** data) {
  for (auto* a = (const struct nlattr*)mnl_attr_get_payload(elem);
       mnl_attr_ok(a, (const char*)mnl_attr_get_payload(elem) + mnl_attr_get_payload_len(elem) - (const char*)a);
       a = mnl_attr_next(a)) {
    if (mnl_attr_get_type(a) == NFTA_EXPR_NAME) *name = mnl_attr_get_str(a);
    else if (mnl_attr_get_type(a) == NFTA_EXPR_DATA) *data = a;
  }
}

// Decodes one NFTA_LIST_ELEM: libnftnl parses it inside a one-expression
// rule message; anything it or our table does not know is kept raw.
static Napi::Object ParseOne(Napi::Env env, const struct nlattr* elem) {
  std::string name;
  const struct nlattr* data = nullptr;
  ExprNameData(elem, &name, &data);
  const ExprSpec* spec = FindSpec(name);
  if (!spec) return RawExpr(env, name, data);
  std::vector<char> buf(MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(struct nfgenmsg)) + MNL_ALIGN(elem->nla_len) + 64, 0);
  struct nlmsghdr* nlh = nftnl_nlmsg_build_hdr(buf.data(), NFT_MSG_NEWRULE, NFPROTO_UNSPEC_, 0, 0);
  struct nlattr* list = mnl_attr_nest_start(nlh, NFTA_RULE_EXPRESSIONS);
  mnl_attr_put(nlh, NFTA_LIST_ELEM | NLA_F_NESTED, mnl_attr_get_payload_len(elem), mnl_attr_get_payload(elem));
  mnl_attr_nest_end(nlh, list);
  struct nftnl_rule* r = nftnl_rule_alloc();
  Napi::Object out;
  if (nftnl_rule_nlmsg_parse(nlh, r) >= 0) {
    struct nftnl_expr_iter* it = nftnl_expr_iter_create(r);
    struct nftnl_expr* e = it ? nftnl_expr_iter_next(it) : nullptr;
    if (e) out = Decode(env, *spec, e);
    if (it) nftnl_expr_iter_destroy(it);
  }
  nftnl_rule_free(r);
  return out.IsEmpty() ? RawExpr(env, name, data) : out;
}

Napi::Array NftParseExprs(Napi::Env env, const struct nlattr* list) {
  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
  for (auto* elem = (const struct nlattr*)mnl_attr_get_payload(list);
       mnl_attr_ok(elem, (const char*)mnl_attr_get_payload(list) + mnl_attr_get_payload_len(list) - (const char*)elem);
       elem = mnl_attr_next(elem)) {
    if (mnl_attr_get_type(elem) != NFTA_LIST_ELEM) continue;
    out.Set(i++, ParseOne(env, elem));
  }
  return out;
}

Napi::Array NftDecodeExprs(Napi::Env env, const struct nftnl_rule* r, const struct nlattr* list) {
  Napi::Array out = Napi::Array::New(env);
  struct nftnl_expr_iter* it = nftnl_expr_iter_create(r);
  uint32_t i = 0;
  for (auto* elem = (const struct nlattr*)mnl_attr_get_payload(list);
       mnl_attr_ok(elem, (const char*)mnl_attr_get_payload(list) + mnl_attr_get_payload_len(list) - (const char*)elem);
       elem = mnl_attr_next(elem)) {
    if (mnl_attr_get_type(elem) != NFTA_LIST_ELEM) continue;
    struct nftnl_expr* e = it ? nftnl_expr_iter_next(it) : nullptr;
    std::string name;
    const struct nlattr* data = nullptr;
    ExprNameData(elem, &name, &data);
    const ExprSpec* spec = FindSpec(name);
    out.Set(i++, spec && e ? Decode(env, *spec, e) : RawExpr(env, name, data));
  }
  if (it) nftnl_expr_iter_destroy(it);
  return out;
}

}  // namespace cnm
