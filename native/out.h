// What a parser writes into, without Node: the addon implements it with
// Napi objects (parse.cc), the fuzz harnesses with a plain copy sink, so
// both run the very same parse code (parse_rtnl.cc, parse_nft.cc).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

struct nlmsghdr;

namespace cnm {

// A received message that does not hold what its type promises; what()
// names the attribute. The addon turns it into an EBADMSG-coded error.
struct Malformed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// One object (or array: keys are ignored and values appended) being filled.
class Out {
 public:
  virtual ~Out() = default;
  virtual void Num(const char* k, double v) = 0;
  // A 64-bit count (counters, quotas): the addon makes it a BigInt above 2^53 - 1, never a rounded number.
  virtual void U64(const char* k, uint64_t v) { Num(k, (double)v); }
  virtual void Bool(const char* k, bool v) = 0;
  virtual void Str(const char* k, const char* p, size_t n) = 0;
  virtual void Bytes(const char* k, const void* p, size_t n) = 0;
  virtual Out& Obj(const char* k) = 0;
  virtual Out& Arr(const char* k) = 0;
  void Str(const char* k, const std::string& s) { Str(k, s.data(), s.size()); }
  // A string a library handed back: NULL means the message lacked it.
  void CStr(const char* k, const char* s, const char* attr) {
    if (!s) throw Malformed(std::string(attr) + " missing");
    Str(k, s, strlen(s));
  }
};

// The header fields of one message (type, flags, seq, pid) and, for
// NLMSG_ERROR / NLMSG_DONE, the errno and extended ACK. Returns true when
// the message has a body for ParseBody.
bool ParseHead(const struct nlmsghdr* nlh, Out& o);
// The body of one message, by protocol and type; false when no parser
// knows the type (the caller keeps it raw). Throws Malformed.
bool ParseBody(int protocol, const struct nlmsghdr* nlh, Out& body);
// nftRuleExprs: one NFTA_RULE_EXPRESSIONS attribute (as ParseBody puts in
// a rule's exprList) -> array of expressions. Throws Malformed.
void ParseNftExprList(const uint8_t* p, size_t len, Out& arr);

// Per-object cores behind ParseBody.
void ParseLinkCore(const struct nlmsghdr* nlh, Out& o);
void ParseAddrCore(const struct nlmsghdr* nlh, Out& o);
void ParseRouteCore(const struct nlmsghdr* nlh, Out& o);
void ParseNeighCore(const struct nlmsghdr* nlh, Out& o);
bool ParseNftCore(const struct nlmsghdr* nlh, Out& o);

}  // namespace cnm
