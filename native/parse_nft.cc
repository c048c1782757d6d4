// Received nftables messages (tables, chains, rules, sets, elements, the
// generation) and rule expressions -> Out. Each message is validated and
// copied by sanitize.cc first; libnftnl parses only that copy. The policy
// tables below follow libnftnl 1.2's parse callbacks attribute by attribute
// (the same libmnl types it checks, where a mismatch would exit()), plus
// what it leaves unchecked: NUL-terminated strings, a present expression
// name and verdict code, value sizes it copies into fixed buffers.
#include "sanitize.h"
#include "nft_spec.h"
#include <arpa/inet.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/gen.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <memory>
#include <net/if.h>

namespace cnm {
namespace {

#define CNM_PTR(T) \
  struct T##_del { void operator()(T* p) const { T##_free(p); } }; \
  using T##_ptr = std::unique_ptr<T, T##_del>;
CNM_PTR(nftnl_table)
CNM_PTR(nftnl_chain)
CNM_PTR(nftnl_rule)
CNM_PTR(nftnl_set)
CNM_PTR(nftnl_gen)
#undef CNM_PTR
using TablePtr = nftnl_table_ptr;
using ChainPtr = nftnl_chain_ptr;
using RulePtr = nftnl_rule_ptr;
using SetPtr = nftnl_set_ptr;
using GenPtr = nftnl_gen_ptr;

constexpr uint16_t kNameMax = NFT_NAME_MAXLEN;   // table, set, chain names, with NUL
constexpr uint16_t kDataMax = NFT_DATA_VALUE_MAXLEN;  // libnftnl's value buffer

const char* Str(const struct nlattr* a) { return (const char*)mnl_attr_get_payload(a); }

// NFTA_DATA_*: a value (copied into a 64-byte buffer) or a verdict.
const Policy& VerdictPolicy() {
  static const Policy* p = [] {
    auto* q = new Policy("NFTA_VERDICT", NFTA_VERDICT_MAX, {
      CNM_A(NFTA_VERDICT_CODE, U32), CNM_STR(NFTA_VERDICT_CHAIN, kNameMax), CNM_A(NFTA_VERDICT_CHAIN_ID, U32)});
    q->check = [](const struct nlattr* const* tb) -> const char* {
      // libnftnl reads the code from an uninitialised table when it is missing.
      if (!tb[NFTA_VERDICT_CODE]) return "verdict without NFTA_VERDICT_CODE";
      int32_t code = (int32_t)ntohl(mnl_attr_get_u32(tb[NFTA_VERDICT_CODE]));
      switch (code) {
        case NF_ACCEPT: case NF_DROP: case NF_QUEUE: case NFT_CONTINUE: case NFT_BREAK: case NFT_RETURN: return nullptr;
        case NFT_JUMP: case NFT_GOTO: return tb[NFTA_VERDICT_CHAIN] ? nullptr : "jump/goto verdict without NFTA_VERDICT_CHAIN";
        default: return "unknown NFTA_VERDICT_CODE";
      }
    };
    return q;
  }();
  return *p;
}

const Policy& DataPolicy() {
  static const Policy* p = [] {
    auto* q = new Policy("NFTA_DATA", NFTA_DATA_MAX, {
      CNM_BIN(NFTA_DATA_VALUE, 1, kDataMax), CNM_NEST(NFTA_DATA_VERDICT, &VerdictPolicy())});
    // libnftnl leaves the data's type uninitialised when neither is there
    // (and reads a chain through it).
    q->check = [](const struct nlattr* const* tb) -> const char* {
      if (tb[NFTA_DATA_VALUE] && tb[NFTA_DATA_VERDICT]) return "both a value and a verdict";
      return tb[NFTA_DATA_VALUE] || tb[NFTA_DATA_VERDICT] ? nullptr : "neither a value nor a verdict";
    };
    return q;
  }();
  return *p;
}

// Data that can only be a value (set keys, cmp/range/bitwise operands):
// libnftnl would strdup a verdict's chain there and never free it.
const Policy& ValuePolicy() {
  static const Policy* p = [] {
    auto* q = new Policy("NFTA_DATA", NFTA_DATA_MAX, {CNM_BIN(NFTA_DATA_VALUE, 1, kDataMax), CNM_NEST(NFTA_DATA_VERDICT, &VerdictPolicy())});
    q->check = [](const struct nlattr* const* tb) -> const char* {
      return tb[NFTA_DATA_VALUE] && !tb[NFTA_DATA_VERDICT] ? nullptr : "a verdict where only a value fits";
    };
    return q;
  }();
  return *p;
}

// One policy per expression the addon decodes (nft_spec.h), by name.
const Policy* ExprPolicy(const char* name) {
  // Never destroyed (as the other policies): they live as long as the process.
  static const auto& table = *new std::vector<std::pair<std::string, Policy*>>([] {
    const Policy* D = &DataPolicy();
    const Policy* V = &ValuePolicy();
    std::vector<std::pair<std::string, Policy*>> t;
    auto add = [&](const char* n, uint16_t max, std::initializer_list<Rule> rs) { t.push_back({n, new Policy(n, max, rs)}); };
    add("payload", NFTA_PAYLOAD_MAX, {CNM_A(NFTA_PAYLOAD_SREG, U32), CNM_A(NFTA_PAYLOAD_DREG, U32), CNM_A(NFTA_PAYLOAD_BASE, U32),
        CNM_A(NFTA_PAYLOAD_OFFSET, U32), CNM_A(NFTA_PAYLOAD_LEN, U32), CNM_A(NFTA_PAYLOAD_CSUM_TYPE, U32),
        CNM_A(NFTA_PAYLOAD_CSUM_OFFSET, U32), CNM_A(NFTA_PAYLOAD_CSUM_FLAGS, U32)});
    add("meta", NFTA_META_MAX, {CNM_A(NFTA_META_KEY, U32), CNM_A(NFTA_META_DREG, U32), CNM_A(NFTA_META_SREG, U32)});
    add("cmp", NFTA_CMP_MAX, {CNM_A(NFTA_CMP_SREG, U32), CNM_A(NFTA_CMP_OP, U32), CNM_NEST(NFTA_CMP_DATA, V)});
    add("range", NFTA_RANGE_MAX, {CNM_A(NFTA_RANGE_SREG, U32), CNM_A(NFTA_RANGE_OP, U32),
        CNM_NEST(NFTA_RANGE_FROM_DATA, V), CNM_NEST(NFTA_RANGE_TO_DATA, V)});
    add("immediate", NFTA_IMMEDIATE_MAX, {CNM_A(NFTA_IMMEDIATE_DREG, U32), CNM_NEST(NFTA_IMMEDIATE_DATA, D)});
    add("counter", NFTA_COUNTER_MAX, {CNM_A(NFTA_COUNTER_BYTES, U64), CNM_A(NFTA_COUNTER_PACKETS, U64)});
    add("bitwise", NFTA_BITWISE_MAX, {CNM_A(NFTA_BITWISE_SREG, U32), CNM_A(NFTA_BITWISE_DREG, U32), CNM_A(NFTA_BITWISE_OP, U32),
        CNM_A(NFTA_BITWISE_LEN, U32), CNM_NEST(NFTA_BITWISE_MASK, V), CNM_NEST(NFTA_BITWISE_XOR, V), CNM_NEST(NFTA_BITWISE_DATA, V)});
    add("nat", NFTA_NAT_MAX, {CNM_A(NFTA_NAT_TYPE, U32), CNM_A(NFTA_NAT_FAMILY, U32), CNM_A(NFTA_NAT_REG_ADDR_MIN, U32),
        CNM_A(NFTA_NAT_REG_ADDR_MAX, U32), CNM_A(NFTA_NAT_REG_PROTO_MIN, U32), CNM_A(NFTA_NAT_REG_PROTO_MAX, U32),
        CNM_A(NFTA_NAT_FLAGS, U32)});
    add("lookup", NFTA_LOOKUP_MAX, {CNM_A(NFTA_LOOKUP_SREG, U32), CNM_A(NFTA_LOOKUP_DREG, U32), CNM_STR(NFTA_LOOKUP_SET, kNameMax),
        CNM_A(NFTA_LOOKUP_SET_ID, U32), CNM_A(NFTA_LOOKUP_FLAGS, U32)});
    add("log", NFTA_LOG_MAX, {CNM_STR(NFTA_LOG_PREFIX, 0), CNM_A(NFTA_LOG_GROUP, U16), CNM_A(NFTA_LOG_SNAPLEN, U32),
        CNM_A(NFTA_LOG_QTHRESHOLD, U16), CNM_A(NFTA_LOG_LEVEL, U32), CNM_A(NFTA_LOG_FLAGS, U32)});
    add("ct", NFTA_CT_MAX, {CNM_A(NFTA_CT_DREG, U32), CNM_A(NFTA_CT_KEY, U32), CNM_A(NFTA_CT_DIRECTION, U8), CNM_A(NFTA_CT_SREG, U32)});
    add("limit", NFTA_LIMIT_MAX, {CNM_A(NFTA_LIMIT_RATE, U64), CNM_A(NFTA_LIMIT_UNIT, U64), CNM_A(NFTA_LIMIT_BURST, U32),
        CNM_A(NFTA_LIMIT_TYPE, U32), CNM_A(NFTA_LIMIT_FLAGS, U32)});
    add("reject", NFTA_REJECT_MAX, {CNM_A(NFTA_REJECT_TYPE, U32), CNM_A(NFTA_REJECT_ICMP_CODE, U8)});
    add("masq", NFTA_MASQ_MAX, {CNM_A(NFTA_MASQ_FLAGS, U32), CNM_A(NFTA_MASQ_REG_PROTO_MIN, U32), CNM_A(NFTA_MASQ_REG_PROTO_MAX, U32)});
    add("redir", NFTA_REDIR_MAX, {CNM_A(NFTA_REDIR_REG_PROTO_MIN, U32), CNM_A(NFTA_REDIR_REG_PROTO_MAX, U32), CNM_A(NFTA_REDIR_FLAGS, U32)});
    add("fib", NFTA_FIB_MAX, {CNM_A(NFTA_FIB_DREG, U32), CNM_A(NFTA_FIB_RESULT, U32), CNM_A(NFTA_FIB_FLAGS, U32)});
    add("quota", NFTA_QUOTA_MAX, {CNM_A(NFTA_QUOTA_BYTES, U64), CNM_A(NFTA_QUOTA_FLAGS, U32), CNM_A(NFTA_QUOTA_CONSUMED, U64)});
    add("notrack", 0, {});
    return t;
  }());
  for (const auto& e : table) if (e.first == name) return e.second;
  return nullptr;
}

// NFTA_LIST_ELEM of a rule: {NFTA_EXPR_NAME, NFTA_EXPR_DATA}. Data of an
// expression without a policy stays out of the copy (kept raw for JS).
const Policy& ExprPolicyOuter() {
  static const Policy* p = [] {
    auto* q = new Policy("NFTA_EXPR", NFTA_EXPR_MAX, {
      CNM_STR(NFTA_EXPR_NAME, 64), Rule{NFTA_EXPR_DATA, AK::Nest, "NFTA_EXPR_DATA"}});
    q->check = [](const struct nlattr* const* tb) -> const char* {
      return tb[NFTA_EXPR_NAME] ? nullptr : "expression without NFTA_EXPR_NAME";
    };
    q->childFor = [](uint16_t type, const struct nlattr* const* tb) -> const Policy* {
      return type == NFTA_EXPR_DATA ? ExprPolicy(Str(tb[NFTA_EXPR_NAME])) : nullptr;
    };
    return q;
  }();
  return *p;
}

const Policy& ExprListPolicy() {
  static const Policy p("NFTA_RULE_EXPRESSIONS", NFTA_LIST_ELEM, {CNM_NEST(NFTA_LIST_ELEM, &ExprPolicyOuter())});
  return p;
}

const Policy& TablePolicy() {
  static const Policy p("NFTA_TABLE", NFTA_TABLE_MAX, {
    CNM_STR(NFTA_TABLE_NAME, kNameMax), CNM_A(NFTA_TABLE_HANDLE, U64), CNM_A(NFTA_TABLE_FLAGS, U32),
    CNM_A(NFTA_TABLE_USE, U32), CNM_A(NFTA_TABLE_OWNER, U32), CNM_BIN(NFTA_TABLE_USERDATA, 0, 0)});
  return p;
}

const Policy& ChainPolicy() {
  static const Policy hook("NFTA_HOOK", NFTA_HOOK_MAX, {
    CNM_A(NFTA_HOOK_HOOKNUM, U32), CNM_A(NFTA_HOOK_PRIORITY, U32), CNM_STR(NFTA_HOOK_DEV, IFNAMSIZ)});
  static const Policy counters("NFTA_COUNTER", NFTA_COUNTER_MAX, {
    CNM_A(NFTA_COUNTER_BYTES, U64), CNM_A(NFTA_COUNTER_PACKETS, U64)});
  static const Policy p("NFTA_CHAIN", NFTA_CHAIN_MAX, {
    CNM_STR(NFTA_CHAIN_TABLE, kNameMax), CNM_A(NFTA_CHAIN_HANDLE, U64), CNM_STR(NFTA_CHAIN_NAME, kNameMax),
    CNM_NEST(NFTA_CHAIN_HOOK, &hook), CNM_A(NFTA_CHAIN_POLICY, U32), CNM_A(NFTA_CHAIN_USE, U32),
    CNM_STR(NFTA_CHAIN_TYPE, kNameMax), CNM_NEST(NFTA_CHAIN_COUNTERS, &counters), CNM_A(NFTA_CHAIN_FLAGS, U32),
    CNM_A(NFTA_CHAIN_ID, U32), CNM_BIN(NFTA_CHAIN_USERDATA, 0, 0)});
  return p;
}

const Policy& RulePolicy() {
  // NFTA_RULE_EXPRESSIONS is checked to be a nest but left out of the
  // copy: it travels as bytes (exprList) until nftRuleExprs decodes it.
  static const Policy p("NFTA_RULE", NFTA_RULE_MAX, {
    CNM_STR(NFTA_RULE_TABLE, kNameMax), CNM_STR(NFTA_RULE_CHAIN, kNameMax), CNM_A(NFTA_RULE_HANDLE, U64),
    Rule{NFTA_RULE_EXPRESSIONS, AK::Nest, "NFTA_RULE_EXPRESSIONS"}, CNM_A(NFTA_RULE_POSITION, U64),
    CNM_BIN(NFTA_RULE_USERDATA, 0, 0), CNM_A(NFTA_RULE_ID, U32), CNM_A(NFTA_RULE_POSITION_ID, U32)});
  return p;
}

// NFTA_SET_DESC_CONCAT: field lengths, which libnftnl stores into a
// 16-entry array without bounds; at most NFT_REG32_COUNT of them.
void ConcatCustom(const struct nlattr* a, std::vector<uint8_t>* out) {
  static const Policy field("NFTA_SET_FIELD", NFTA_SET_FIELD_MAX, {CNM_A(NFTA_SET_FIELD_LEN, U32)});
  static const Policy list("NFTA_SET_DESC_CONCAT", NFTA_LIST_ELEM, {CNM_NEST(NFTA_LIST_ELEM, &field)});
  std::vector<uint8_t> inner;
  Sanitize((const uint8_t*)mnl_attr_get_payload(a), mnl_attr_get_payload_len(a), list, &inner);
  int fields = 0;
  const uint8_t* p = inner.data();
  for (size_t off = 0; off < inner.size();) {
    const struct nlattr* e = (const struct nlattr*)(p + off);
    EachNested(e, [&](const struct nlattr*) { fields++; });
    off += MNL_ALIGN(e->nla_len);
  }
  if (fields > NFT_REG32_COUNT) throw Malformed("NFTA_SET_DESC_CONCAT: more than " + std::to_string(NFT_REG32_COUNT) + " fields");
  if (out) PutAttr(out, a->nla_type, inner.data(), inner.size());
}

const Policy& SetPolicy() {
  static const Policy desc("NFTA_SET_DESC", NFTA_SET_DESC_MAX, {
    CNM_A(NFTA_SET_DESC_SIZE, U32),
    Rule{NFTA_SET_DESC_CONCAT, AK::Nest, "NFTA_SET_DESC_CONCAT", 0, 0, nullptr, ConcatCustom}});
  static const Policy p("NFTA_SET", NFTA_SET_MAX, {
    CNM_STR(NFTA_SET_TABLE, kNameMax), CNM_STR(NFTA_SET_NAME, kNameMax), CNM_A(NFTA_SET_FLAGS, U32),
    CNM_A(NFTA_SET_KEY_TYPE, U32), CNM_A(NFTA_SET_KEY_LEN, U32), CNM_A(NFTA_SET_DATA_TYPE, U32),
    CNM_A(NFTA_SET_DATA_LEN, U32), CNM_A(NFTA_SET_POLICY, U32), CNM_NEST(NFTA_SET_DESC, &desc),
    CNM_A(NFTA_SET_ID, U32), CNM_A(NFTA_SET_TIMEOUT, U64), CNM_A(NFTA_SET_GC_INTERVAL, U32),
    CNM_BIN(NFTA_SET_USERDATA, 0, 0), CNM_A(NFTA_SET_OBJ_TYPE, U32), CNM_A(NFTA_SET_HANDLE, U64)});
  return p;
}

const Policy& SetElemsPolicy() {
  static const Policy elem("NFTA_SET_ELEM", NFTA_SET_ELEM_MAX, {
    CNM_NEST(NFTA_SET_ELEM_KEY, &ValuePolicy()), CNM_NEST(NFTA_SET_ELEM_DATA, &DataPolicy()),
    CNM_A(NFTA_SET_ELEM_FLAGS, U32), CNM_A(NFTA_SET_ELEM_TIMEOUT, U64), CNM_A(NFTA_SET_ELEM_EXPIRATION, U64),
    CNM_BIN(NFTA_SET_ELEM_USERDATA, 0, 0), CNM_NEST(NFTA_SET_ELEM_KEY_END, &ValuePolicy())});
  static const Policy list("NFTA_SET_ELEM_LIST_ELEMENTS", NFTA_LIST_ELEM, {CNM_NEST(NFTA_LIST_ELEM, &elem)});
  static const Policy p("NFTA_SET_ELEM_LIST", NFTA_SET_ELEM_LIST_MAX, {
    CNM_STR(NFTA_SET_ELEM_LIST_TABLE, kNameMax), CNM_STR(NFTA_SET_ELEM_LIST_SET, kNameMax),
    CNM_NEST(NFTA_SET_ELEM_LIST_ELEMENTS, &list), CNM_A(NFTA_SET_ELEM_LIST_SET_ID, U32)});
  return p;
}

const Policy& GenPolicy() {
  static const Policy p("NFTA_GEN", NFTA_GEN_MAX, {CNM_A(NFTA_GEN_ID, U32)});
  return p;
}

const struct nlmsghdr* Hdr(const std::vector<uint8_t>& m) { return (const struct nlmsghdr*)m.data(); }

[[noreturn]] void Refused(const char* what) {
  throw Malformed(std::string(what) + ": libnftnl could not parse the validated message");
}

void Userdata(Out& o, const void* p, uint32_t len) { o.Bytes("userdata", p, len); }

void ParseTable(const struct nlmsghdr* nlh, Out& o) {
  std::vector<uint8_t> m = SanitizeMsg(nlh, sizeof(struct nfgenmsg), TablePolicy());
  TablePtr t(nftnl_table_alloc());
  if (nftnl_table_nlmsg_parse(Hdr(m), t.get()) < 0) Refused("NFTA_TABLE");
  o.Str("kind", "table");
  o.Num("family", nftnl_table_get_u32(t.get(), NFTNL_TABLE_FAMILY));
  o.CStr("name", nftnl_table_get_str(t.get(), NFTNL_TABLE_NAME), "NFTA_TABLE_NAME");
  if (nftnl_table_is_set(t.get(), NFTNL_TABLE_FLAGS)) o.Num("flags", nftnl_table_get_u32(t.get(), NFTNL_TABLE_FLAGS));
  if (nftnl_table_is_set(t.get(), NFTNL_TABLE_HANDLE)) o.Num("handle", (double)nftnl_table_get_u64(t.get(), NFTNL_TABLE_HANDLE));
  if (nftnl_table_is_set(t.get(), NFTNL_TABLE_USE)) o.Num("use", nftnl_table_get_u32(t.get(), NFTNL_TABLE_USE));
  if (nftnl_table_is_set(t.get(), NFTNL_TABLE_OWNER)) o.Num("owner", nftnl_table_get_u32(t.get(), NFTNL_TABLE_OWNER));
  if (nftnl_table_is_set(t.get(), NFTNL_TABLE_USERDATA)) {
    uint32_t len = 0;
    const void* p = nftnl_table_get_data(t.get(), NFTNL_TABLE_USERDATA, &len);
    Userdata(o, p, len);
  }
}

void ParseChain(const struct nlmsghdr* nlh, Out& o) {
  std::vector<uint8_t> m = SanitizeMsg(nlh, sizeof(struct nfgenmsg), ChainPolicy());
  ChainPtr c(nftnl_chain_alloc());
  nftnl_chain* x = c.get();
  if (nftnl_chain_nlmsg_parse(Hdr(m), x) < 0) Refused("NFTA_CHAIN");
  o.Str("kind", "chain");
  o.Num("family", nftnl_chain_get_u32(x, NFTNL_CHAIN_FAMILY));
  o.CStr("table", nftnl_chain_get_str(x, NFTNL_CHAIN_TABLE), "NFTA_CHAIN_TABLE");
  o.CStr("name", nftnl_chain_get_str(x, NFTNL_CHAIN_NAME), "NFTA_CHAIN_NAME");
  if (nftnl_chain_is_set(x, NFTNL_CHAIN_HANDLE)) o.Num("handle", (double)nftnl_chain_get_u64(x, NFTNL_CHAIN_HANDLE));
  if (nftnl_chain_is_set(x, NFTNL_CHAIN_HOOKNUM)) o.Num("hooknum", nftnl_chain_get_u32(x, NFTNL_CHAIN_HOOKNUM));
  if (nftnl_chain_is_set(x, NFTNL_CHAIN_PRIO)) o.Num("prio", nftnl_chain_get_s32(x, NFTNL_CHAIN_PRIO));
  if (nftnl_chain_is_set(x, NFTNL_CHAIN_POLICY)) o.Num("policy", nftnl_chain_get_u32(x, NFTNL_CHAIN_POLICY));
  if (nftnl_chain_is_set(x, NFTNL_CHAIN_TYPE)) o.CStr("type", nftnl_chain_get_str(x, NFTNL_CHAIN_TYPE), "NFTA_CHAIN_TYPE");
  if (nftnl_chain_is_set(x, NFTNL_CHAIN_DEV)) o.CStr("dev", nftnl_chain_get_str(x, NFTNL_CHAIN_DEV), "NFTA_HOOK_DEV");
  if (nftnl_chain_is_set(x, NFTNL_CHAIN_FLAGS)) o.Num("flags", nftnl_chain_get_u32(x, NFTNL_CHAIN_FLAGS));
  if (nftnl_chain_is_set(x, NFTNL_CHAIN_USE)) o.Num("use", nftnl_chain_get_u32(x, NFTNL_CHAIN_USE));
  if (nftnl_chain_is_set(x, NFTNL_CHAIN_PACKETS)) o.U64("packets", nftnl_chain_get_u64(x, NFTNL_CHAIN_PACKETS));
  if (nftnl_chain_is_set(x, NFTNL_CHAIN_BYTES)) o.U64("bytes", nftnl_chain_get_u64(x, NFTNL_CHAIN_BYTES));
  if (nftnl_chain_is_set(x, NFTNL_CHAIN_USERDATA)) {
    uint32_t len = 0;
    const void* p = nftnl_chain_get_data(x, NFTNL_CHAIN_USERDATA, &len);
    Userdata(o, p, len);
  }
}

// Rules are decoded in two steps: the rule's attributes here, its
// expressions only when asked (nftRuleExprs), so echoes of big
// transactions, read just for their handles, cost little.
void ParseRule(const struct nlmsghdr* nlh, Out& o) {
  std::vector<uint8_t> m = SanitizeMsg(nlh, sizeof(struct nfgenmsg), RulePolicy());
  const struct nlattr* exprs = nullptr;  // validated whole by SanitizeMsg; the last one counts
  EachMsgAttr(nlh, sizeof(struct nfgenmsg), [&](const struct nlattr* a) {
    if (mnl_attr_get_type(a) == NFTA_RULE_EXPRESSIONS) exprs = a;
  });
  RulePtr r(nftnl_rule_alloc());
  nftnl_rule* x = r.get();
  if (nftnl_rule_nlmsg_parse(Hdr(m), x) < 0) Refused("NFTA_RULE");
  o.Str("kind", "rule");
  o.Num("family", nftnl_rule_get_u32(x, NFTNL_RULE_FAMILY));
  o.CStr("table", nftnl_rule_get_str(x, NFTNL_RULE_TABLE), "NFTA_RULE_TABLE");
  o.CStr("chain", nftnl_rule_get_str(x, NFTNL_RULE_CHAIN), "NFTA_RULE_CHAIN");
  if (nftnl_rule_is_set(x, NFTNL_RULE_HANDLE)) o.Num("handle", (double)nftnl_rule_get_u64(x, NFTNL_RULE_HANDLE));
  if (nftnl_rule_is_set(x, NFTNL_RULE_POSITION)) o.Num("position", (double)nftnl_rule_get_u64(x, NFTNL_RULE_POSITION));
  if (nftnl_rule_is_set(x, NFTNL_RULE_ID)) o.Num("id", nftnl_rule_get_u32(x, NFTNL_RULE_ID));
  if (nftnl_rule_is_set(x, NFTNL_RULE_USERDATA)) {
    uint32_t len = 0;
    const void* p = nftnl_rule_get_data(x, NFTNL_RULE_USERDATA, &len);
    Userdata(o, p, len);
  }
  // The NFTA_RULE_EXPRESSIONS attribute as is (its own length, no padding), for nftRuleExprs.
  if (exprs) o.Bytes("exprList", exprs, exprs->nla_len);
}

void ParseSet(const struct nlmsghdr* nlh, Out& o) {
  std::vector<uint8_t> m = SanitizeMsg(nlh, sizeof(struct nfgenmsg), SetPolicy());
  SetPtr s(nftnl_set_alloc());
  nftnl_set* x = s.get();
  if (nftnl_set_nlmsg_parse(Hdr(m), x) < 0) Refused("NFTA_SET");
  o.Str("kind", "set");
  o.Num("family", nftnl_set_get_u32(x, NFTNL_SET_FAMILY));
  o.CStr("table", nftnl_set_get_str(x, NFTNL_SET_TABLE), "NFTA_SET_TABLE");
  o.CStr("name", nftnl_set_get_str(x, NFTNL_SET_NAME), "NFTA_SET_NAME");
  struct { const char* k; uint16_t a; } u32s[] = {
    {"flags", NFTNL_SET_FLAGS}, {"keyType", NFTNL_SET_KEY_TYPE}, {"keyLen", NFTNL_SET_KEY_LEN},
    {"dataType", NFTNL_SET_DATA_TYPE}, {"dataLen", NFTNL_SET_DATA_LEN}, {"objType", NFTNL_SET_OBJ_TYPE},
    {"policy", NFTNL_SET_POLICY}, {"size", NFTNL_SET_DESC_SIZE}, {"gcInterval", NFTNL_SET_GC_INTERVAL},
    {"id", NFTNL_SET_ID}};
  for (auto& f : u32s) if (nftnl_set_is_set(x, f.a)) o.Num(f.k, nftnl_set_get_u32(x, f.a));
  if (nftnl_set_is_set(x, NFTNL_SET_HANDLE)) o.Num("handle", (double)nftnl_set_get_u64(x, NFTNL_SET_HANDLE));
  if (nftnl_set_is_set(x, NFTNL_SET_TIMEOUT)) o.Num("timeout", (double)nftnl_set_get_u64(x, NFTNL_SET_TIMEOUT));
  if (nftnl_set_is_set(x, NFTNL_SET_DESC_CONCAT)) {
    uint32_t len = 0;
    const uint8_t* p = (const uint8_t*)nftnl_set_get_data(x, NFTNL_SET_DESC_CONCAT, &len);
    Out& f = o.Arr("fieldLens");
    for (uint32_t i = 0; p && i < len && p[i]; i++) f.Num(nullptr, p[i]);
  }
  if (nftnl_set_is_set(x, NFTNL_SET_USERDATA)) {
    uint32_t len = 0;
    const void* p = nftnl_set_get_data(x, NFTNL_SET_USERDATA, &len);
    Userdata(o, p, len);
  }
}

void ParseSetElems(const struct nlmsghdr* nlh, Out& o) {
  std::vector<uint8_t> m = SanitizeMsg(nlh, sizeof(struct nfgenmsg), SetElemsPolicy());
  SetPtr s(nftnl_set_alloc());
  nftnl_set* x = s.get();
  if (nftnl_set_elems_nlmsg_parse(Hdr(m), x) < 0) Refused("NFTA_SET_ELEM_LIST");
  o.Str("kind", "elements");
  o.Num("family", nftnl_set_get_u32(x, NFTNL_SET_FAMILY));
  o.CStr("table", nftnl_set_get_str(x, NFTNL_SET_TABLE), "NFTA_SET_ELEM_LIST_TABLE");
  o.CStr("set", nftnl_set_get_str(x, NFTNL_SET_NAME), "NFTA_SET_ELEM_LIST_SET");
  Out& arr = o.Arr("elements");
  struct Iter { nftnl_set_elems_iter* it; ~Iter() { if (it) nftnl_set_elems_iter_destroy(it); } } it{nftnl_set_elems_iter_create(x)};
  for (struct nftnl_set_elem* e = it.it ? nftnl_set_elems_iter_next(it.it) : nullptr; e; e = nftnl_set_elems_iter_next(it.it)) {
    Out& el = arr.Obj(nullptr);
    uint32_t len = 0;
    const void* p;
    auto bytes = [&](const char* k, uint16_t attr) {
      if (nftnl_set_elem_is_set(e, attr) && (p = nftnl_set_elem_get(e, attr, &len))) el.Bytes(k, p, len);
    };
    bytes("key", NFTNL_SET_ELEM_KEY);
    bytes("keyEnd", NFTNL_SET_ELEM_KEY_END);
    bytes("data", NFTNL_SET_ELEM_DATA);
    if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_VERDICT)) el.Num("verdict", (int32_t)nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_VERDICT));
    if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_CHAIN)) el.CStr("chain", nftnl_set_elem_get_str(e, NFTNL_SET_ELEM_CHAIN), "NFTA_VERDICT_CHAIN");
    if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS)) el.Num("flags", nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS));
    if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_TIMEOUT)) el.Num("timeout", (double)nftnl_set_elem_get_u64(e, NFTNL_SET_ELEM_TIMEOUT));
    if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_EXPIRATION)) el.Num("expiration", (double)nftnl_set_elem_get_u64(e, NFTNL_SET_ELEM_EXPIRATION));
    bytes("userdata", NFTNL_SET_ELEM_USERDATA);
  }
}

void ParseGen(const struct nlmsghdr* nlh, Out& o) {
  std::vector<uint8_t> m = SanitizeMsg(nlh, sizeof(struct nfgenmsg), GenPolicy());
  GenPtr g(nftnl_gen_alloc());
  if (nftnl_gen_nlmsg_parse(Hdr(m), g.get()) < 0) Refused("NFTA_GEN");
  if (!nftnl_gen_is_set(g.get(), NFTNL_GEN_ID)) throw Malformed("NFTA_GEN_ID missing");
  o.Str("kind", "generation");
  o.Num("id", nftnl_gen_get_u32(g.get(), NFTNL_GEN_ID));
}

// One expression libnftnl parsed -> {type, props...} by its spec.
void Decode(const ExprSpec& spec, const struct nftnl_expr* e, Out& o) {
  o.Str("type", spec.name);
  for (const auto& a : spec.attrs) {
    if (!nftnl_expr_is_set(e, a.attr)) continue;
    uint32_t len = 0;
    const void* p = nftnl_expr_get(e, a.attr, &len);
    if (!p) continue;
    switch (a.kind) {
      case K_STR: o.Str(a.prop, (const char*)p, strnlen((const char*)p, len)); break;
      case K_DATA: o.Bytes(a.prop, p, len); break;
      case K_I32: {
        int32_t v = 0;
        if (len == sizeof v) memcpy(&v, p, sizeof v);
        o.Num(a.prop, v);
        break;
      }
      default: {
        uint64_t v = 0;
        if (len == 1) { uint8_t x; memcpy(&x, p, 1); v = x; }
        else if (len == 2) { uint16_t x; memcpy(&x, p, 2); v = x; }
        else if (len == 4) { uint32_t x; memcpy(&x, p, 4); v = x; }
        else if (len == 8) memcpy(&v, p, 8);
        o.U64(a.prop, v);
      }
    }
  }
}

}  // namespace

// The list is validated whole first; expressions the spec table knows are
// parsed by libnftnl in one rule message made of their validated copies,
// the others are kept as {type, raw} (their NFTA_EXPR_DATA payload).
void ParseNftExprList(const uint8_t* p, size_t len, Out& arr) {
  if (len < MNL_ATTR_HDRLEN) throw Malformed("expression list: " + std::to_string(len) + " bytes, not an attribute");
  struct nlattr h;
  memcpy(&h, p, sizeof h);
  if (h.nla_len != len) throw Malformed("expression list: attribute length " + std::to_string(h.nla_len) + " but " + std::to_string(len) + " bytes");
  if ((h.nla_type & NLA_TYPE_MASK) != NFTA_RULE_EXPRESSIONS) throw Malformed("expression list: not an NFTA_RULE_EXPRESSIONS attribute");
  // Aligned copies: the JS Buffer may start anywhere.
  std::vector<uint8_t> orig(p + MNL_ATTR_HDRLEN, p + len);
  std::vector<uint8_t> clean;
  Sanitize(orig.data(), orig.size(), ExprListPolicy(), &clean);
  // Walk both: Sanitize keeps every NFTA_LIST_ELEM, in order.
  struct Item { std::string name; const struct nlattr* data; const ExprSpec* spec; };
  std::vector<Item> items;
  std::vector<uint8_t> msgbuf(MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(struct nfgenmsg)) + clean.size() + 64, 0);
  struct nlmsghdr* nlh = nftnl_nlmsg_build_hdr((char*)msgbuf.data(), NFT_MSG_NEWRULE, NFPROTO_UNSPEC, 0, 0);
  struct nlattr* nest = mnl_attr_nest_start(nlh, NFTA_RULE_EXPRESSIONS);
  size_t co = 0;
  for (size_t off = 0; off < orig.size();) {
    const struct nlattr* e = (const struct nlattr*)(orig.data() + off);
    off += MNL_ALIGN(e->nla_len);
    if (mnl_attr_get_type(e) != NFTA_LIST_ELEM) continue;
    const struct nlattr* ce = (const struct nlattr*)(clean.data() + co);
    co += MNL_ALIGN(ce->nla_len);
    Item it{"", nullptr, nullptr};
    EachNested(e, [&](const struct nlattr* a) {
      if (mnl_attr_get_type(a) == NFTA_EXPR_NAME) it.name = Str(a);
      else if (mnl_attr_get_type(a) == NFTA_EXPR_DATA) it.data = a;
    });
    it.spec = FindSpec(it.name);
    if (it.spec) mnl_attr_put(nlh, NFTA_LIST_ELEM | NLA_F_NESTED, mnl_attr_get_payload_len(ce), mnl_attr_get_payload(ce));
    items.push_back(it);
  }
  mnl_attr_nest_end(nlh, nest);
  RulePtr r(nftnl_rule_alloc());
  if (nftnl_rule_nlmsg_parse(nlh, r.get()) < 0) throw Malformed("expression list: libnftnl could not parse the validated expressions");
  struct Iter { nftnl_expr_iter* it; ~Iter() { if (it) nftnl_expr_iter_destroy(it); } } it{nftnl_expr_iter_create(r.get())};
  for (const Item& x : items) {
    Out& o = arr.Obj(nullptr);
    if (!x.spec) {
      o.Str("type", x.name);
      if (x.data) o.Bytes("raw", mnl_attr_get_payload(x.data), mnl_attr_get_payload_len(x.data));
      else o.Bytes("raw", "", 0);
      continue;
    }
    struct nftnl_expr* e = it.it ? nftnl_expr_iter_next(it.it) : nullptr;
    if (!e) throw Malformed("expression " + x.name + ": libnftnl lost it");
    Decode(*x.spec, e, o);
  }
}

bool ParseNftCore(const struct nlmsghdr* nlh, Out& o) {
  if ((nlh->nlmsg_type >> 8) != NFNL_SUBSYS_NFTABLES) return false;
  switch (nlh->nlmsg_type & 0xff) {
    case NFT_MSG_NEWTABLE: case NFT_MSG_DELTABLE: ParseTable(nlh, o); return true;
    case NFT_MSG_NEWCHAIN: case NFT_MSG_DELCHAIN: ParseChain(nlh, o); return true;
    case NFT_MSG_NEWRULE: case NFT_MSG_DELRULE: ParseRule(nlh, o); return true;
    case NFT_MSG_NEWSET: case NFT_MSG_DELSET: ParseSet(nlh, o); return true;
    case NFT_MSG_NEWSETELEM: case NFT_MSG_DELSETELEM: ParseSetElems(nlh, o); return true;
    case NFT_MSG_NEWGEN: ParseGen(nlh, o); return true;
    default: return false;
  }
}

}  // namespace cnm
