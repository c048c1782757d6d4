// Attribute validation in front of libnl/libnftnl. Neither library checks
// everything it reads: libnftnl exit()s ("kernel ABI is broken") on an
// attribute of the wrong size, dereferences a missing expression name and
// strdup()s strings without a NUL; libnl reads u32s from attributes it has
// no policy for. So every received message is first walked here, with
// libmnl's rules per attribute (exact sizes for integers, NUL-terminated
// strings, bounded binaries, nests that hold only whole attributes), and
// the libraries get a copy that holds only what was validated: attributes
// nothing here reads are left out of the copy, never passed on unchecked.
#pragma once
#include "out.h"
#include <libmnl/libmnl.h>
#include <initializer_list>
#include <string>
#include <vector>

namespace cnm {

enum class AK : uint8_t { Drop = 0, U8, U16, U32, U64, Str, Bin, Nest };

struct Policy;
struct Rule {
  uint16_t type = 0;
  AK kind = AK::Drop;
  const char* name = nullptr;
  uint16_t min = 0, max = 0;        // Bin: payload bounds; Str: max payload (with NUL)
  const Policy* child = nullptr;     // Nest: its attributes
  // Validates and emits the whole attribute itself (formats that are not
  // plain attribute lists, e.g. RTA_MULTIPATH).
  void (*custom)(const struct nlattr* a, std::vector<uint8_t>* out) = nullptr;
};

// The attribute table of one nest level.
struct Policy {
  const char* name;
  uint16_t maxType;
  std::vector<Rule> rules;  // indexed by type
  // Picks the policy of a nested attribute from its validated siblings
  // (expression data by expression name); nullptr leaves it out.
  const Policy* (*childFor)(uint16_t type, const struct nlattr* const* tb) = nullptr;
  // Presence and combination rules, after each attribute validated:
  // returns what is wrong, or nullptr.
  const char* (*check)(const struct nlattr* const* tb) = nullptr;

  Policy(const char* n, uint16_t max, std::initializer_list<Rule> rs) : name(n), maxType(max), rules(max + 1) {
    for (const Rule& r : rs) rules.at(r.type) = r;
  }
};

// Shorthands for policy tables; each names the attribute after its constant.
#define CNM_A(t, k) ::cnm::Rule{(uint16_t)(t), ::cnm::AK::k, #t}
#define CNM_BIN(t, lo, hi) ::cnm::Rule{(uint16_t)(t), ::cnm::AK::Bin, #t, (uint16_t)(lo), (uint16_t)(hi)}
#define CNM_STR(t, hi) ::cnm::Rule{(uint16_t)(t), ::cnm::AK::Str, #t, 0, (uint16_t)(hi)}
#define CNM_NEST(t, pol) ::cnm::Rule{(uint16_t)(t), ::cnm::AK::Nest, #t, 0, 0, (pol)}

// Validates the attributes in [p, p + len) against pol, throwing Malformed
// for the first fault, and appends the ones pol keeps to out (if given).
void Sanitize(const uint8_t* p, size_t len, const Policy& pol, std::vector<uint8_t>* out);

// A copy of a whole message: header, the fixed family header of hdrlen
// bytes, then the sanitized attributes (nlmsg_len adjusted).
std::vector<uint8_t> SanitizeMsg(const struct nlmsghdr* nlh, size_t hdrlen, const Policy& pol);

// The payload of nlh after a family header of hdrlen bytes, checked to be there.
void CheckHeader(const struct nlmsghdr* nlh, size_t hdrlen, const char* what);

// Appends one attribute (header and payload, padded) to out.
void PutAttr(std::vector<uint8_t>* out, uint16_t type, const void* p, size_t n);

// Calls f for each attribute in [p, p + len); only for bytes Sanitize has
// already accepted (every attribute whole).
template <typename F>
inline void EachAttr(const void* p, size_t len, F f) {
  for (size_t off = 0; off + MNL_ATTR_HDRLEN <= len;) {
    auto* a = (const struct nlattr*)((const uint8_t*)p + off);
    if (a->nla_len < MNL_ATTR_HDRLEN || a->nla_len > len - off) return;
    f(a);
    off += MNL_ALIGN(a->nla_len);
  }
}
template <typename F>
inline void EachNested(const struct nlattr* nest, F f) {
  EachAttr(mnl_attr_get_payload(nest), mnl_attr_get_payload_len(nest), f);
}
template <typename F>
inline void EachMsgAttr(const struct nlmsghdr* nlh, size_t hdrlen, F f) {
  size_t head = MNL_NLMSG_HDRLEN + MNL_ALIGN(hdrlen);
  if (nlh->nlmsg_len > head) EachAttr((const uint8_t*)nlh + head, nlh->nlmsg_len - head, f);
}

}  // namespace cnm
