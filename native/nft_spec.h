// The expressions the addon encodes and decodes by name: JS property ->
// libnftnl attribute. Shared by the builder (nft_expr.cc) and the parser
// (parse_nft.cc); no Node here.
#pragma once
#include <libnftnl/expr.h>
#include <cstdint>
#include <string>
#include <vector>

namespace cnm {

enum Kind { K_U8, K_U16, K_U32, K_I32, K_U64, K_STR, K_DATA };
struct AttrSpec { const char* prop; uint16_t attr; Kind kind; };
struct ExprSpec { const char* name; std::vector<AttrSpec> attrs; };

inline const std::vector<ExprSpec>& Specs() {
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

inline const ExprSpec* FindSpec(const std::string& name) {
  for (const auto& s : Specs()) if (name == s.name) return &s;
  return nullptr;
}

}  // namespace cnm
