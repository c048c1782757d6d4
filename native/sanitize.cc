// The attribute walker of sanitize.h. Headers are read with memcpy: a
// Buffer handed over from JS may sit at any offset.
#include "sanitize.h"
#include <linux/netlink.h>

namespace cnm {

static std::string Name(const Policy& pol, uint16_t t) {
  const Rule* r = t <= pol.maxType ? &pol.rules[t] : nullptr;
  if (r && r->name) return r->name;
  return std::string(pol.name) + " attribute " + std::to_string(t);
}

[[noreturn]] static void Fail(const std::string& what) { throw Malformed(what); }

static void CheckOne(const Policy& pol, const Rule& r, uint16_t t, const uint8_t* payload, uint32_t n) {
  auto exact = [&](uint32_t want) {
    if (n != want)
      Fail(Name(pol, t) + ": " + std::to_string(n) + " bytes, expected " + std::to_string(want));
  };
  switch (r.kind) {
    case AK::U8: exact(1); break;
    case AK::U16: exact(2); break;
    case AK::U32: exact(4); break;
    case AK::U64: exact(8); break;
    case AK::Str:
      if (n == 0) Fail(Name(pol, t) + ": empty string attribute");
      if (payload[n - 1] != 0) Fail(Name(pol, t) + ": string without terminating NUL");
      if (r.max && n > r.max) Fail(Name(pol, t) + ": string of " + std::to_string(n) + " bytes, at most " + std::to_string(r.max));
      break;
    case AK::Bin:
      if (n < r.min) Fail(Name(pol, t) + ": " + std::to_string(n) + " bytes, at least " + std::to_string(r.min));
      if (r.max && n > r.max) Fail(Name(pol, t) + ": " + std::to_string(n) + " bytes, at most " + std::to_string(r.max));
      break;
    case AK::Nest:
      if (n != 0 && n < MNL_ATTR_HDRLEN) Fail(Name(pol, t) + ": nest of " + std::to_string(n) + " bytes");
      break;
    case AK::Drop: break;
  }
}

void PutAttr(std::vector<uint8_t>* out, uint16_t type, const void* p, size_t n) {
  struct nlattr h;
  h.nla_len = (uint16_t)(MNL_ATTR_HDRLEN + n);
  h.nla_type = type;
  const uint8_t* hp = (const uint8_t*)&h;
  out->insert(out->end(), hp, hp + sizeof h);
  out->insert(out->end(), (const uint8_t*)p, (const uint8_t*)p + n);
  out->resize(out->size() + (MNL_ALIGN(n) - n), 0);
}

void Sanitize(const uint8_t* p, size_t len, const Policy& pol, std::vector<uint8_t>* out) {
  // Pass 1: every attribute whole and inside the nest, kept ones of the
  // right size; the last of each type is what the libraries would use.
  std::vector<const struct nlattr*> tb(pol.maxType + 1, nullptr);
  size_t off = 0;
  while (off < len) {
    if (len - off < MNL_ATTR_HDRLEN) Fail(std::string(pol.name) + ": " + std::to_string(len - off) + " trailing bytes, not an attribute");
    struct nlattr h;
    memcpy(&h, p + off, sizeof h);
    uint16_t t = h.nla_type & NLA_TYPE_MASK;
    if (h.nla_len < MNL_ATTR_HDRLEN || h.nla_len > len - off)
      Fail(Name(pol, t) + ": length " + std::to_string(h.nla_len) + " past the end of " + pol.name);
    if (t <= pol.maxType && pol.rules[t].kind != AK::Drop) {
      CheckOne(pol, pol.rules[t], t, p + off + MNL_ATTR_HDRLEN, h.nla_len - MNL_ATTR_HDRLEN);
      tb[t] = (const struct nlattr*)(p + off);
    }
    off += MNL_ALIGN(h.nla_len);
  }
  if (pol.check) {
    if (const char* why = pol.check(tb.data())) Fail(std::string(pol.name) + ": " + why);
  }
  // Pass 2: nests recursively, and the copy.
  off = 0;
  while (off < len) {
    struct nlattr h;
    memcpy(&h, p + off, sizeof h);
    uint16_t t = h.nla_type & NLA_TYPE_MASK;
    const uint8_t* payload = p + off + MNL_ATTR_HDRLEN;
    uint32_t n = h.nla_len - MNL_ATTR_HDRLEN;
    off += MNL_ALIGN(h.nla_len);
    if (t > pol.maxType) continue;
    const Rule& r = pol.rules[t];
    if (r.kind == AK::Drop) continue;
    if (r.custom) { r.custom((const struct nlattr*)(payload - MNL_ATTR_HDRLEN), out); continue; }
    if (r.kind != AK::Nest) {
      if (out) PutAttr(out, h.nla_type, payload, n);
      continue;
    }
    const Policy* child = r.child ? r.child : pol.childFor ? pol.childFor(t, tb.data()) : nullptr;
    if (!child) continue;
    size_t start = out ? out->size() : 0;
    if (out) PutAttr(out, h.nla_type, nullptr, 0);
    Sanitize(payload, n, *child, out);
    if (out) {
      size_t total = out->size() - start;
      if (total > 0xffff) Fail(Name(pol, t) + ": too long");
      uint16_t l = (uint16_t)total;
      memcpy(out->data() + start, &l, sizeof l);
    }
  }
}

void CheckHeader(const struct nlmsghdr* nlh, size_t hdrlen, const char* what) {
  if (nlh->nlmsg_len < NLMSG_HDRLEN + NLMSG_ALIGN(hdrlen))
    Fail(std::string(what) + ": message of " + std::to_string(nlh->nlmsg_len) + " bytes, shorter than its header");
}

std::vector<uint8_t> SanitizeMsg(const struct nlmsghdr* nlh, size_t hdrlen, const Policy& pol) {
  CheckHeader(nlh, hdrlen, pol.name);
  size_t head = NLMSG_HDRLEN + NLMSG_ALIGN(hdrlen);
  std::vector<uint8_t> out((const uint8_t*)nlh, (const uint8_t*)nlh + head);
  out.reserve(nlh->nlmsg_len + 64);
  Sanitize((const uint8_t*)nlh + head, nlh->nlmsg_len - head, pol, &out);
  uint32_t l = (uint32_t)out.size();
  memcpy(out.data(), &l, sizeof l);
#ifdef CNM_FUZZ
  out.shrink_to_fit();  // no slack: ASan sees a library read one byte past the copy
#endif
  return out;
}

}  // namespace cnm
