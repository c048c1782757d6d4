// One received message -> Out: the netlink header, errors with their
// extended ACK, then the per-object core chosen by protocol and type.
#include "sanitize.h"
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#ifndef NLM_F_ACK_TLVS
#define NLM_F_ACK_TLVS 0x200
#endif
#ifndef NLM_F_CAPPED
#define NLM_F_CAPPED 0x100
#endif

namespace cnm {

const char* ErrnoName(int err);  // error_names.cc

// A kernel errno travels negated; anything outside 1..4095 is not one
// (and negating INT_MIN is undefined).
static int KernelErrno(int32_t v, const char* what) {
  if (v > 0 || v < -4095) throw Malformed(std::string(what) + ": " + std::to_string(v) + " is not a negative errno");
  return -v;
}

// Error / ACK: errno (positive, 0 for an ACK) plus extended-ACK text/offset.
static void ParseError(const struct nlmsghdr* nlh, Out& o) {
  if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr)))
    throw Malformed("NLMSG_ERROR: " + std::to_string(nlh->nlmsg_len) + " bytes, shorter than struct nlmsgerr");
  struct nlmsgerr e;
  memcpy(&e, NLMSG_DATA(nlh), sizeof e);
  int err = KernelErrno(e.error, "NLMSG_ERROR");
  o.Num("error", err);
  if (err) o.Str("code", ErrnoName(err));
  o.Num("reqType", e.msg.nlmsg_type);
  o.Num("reqSeq", e.msg.nlmsg_seq);
  if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS)) return;
  // The request is echoed unless capped; the TLVs follow it.
  size_t off = NLMSG_HDRLEN + sizeof(struct nlmsgerr);
  if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) {
    if (e.msg.nlmsg_len < NLMSG_HDRLEN) throw Malformed("NLMSG_ERROR: echoed request shorter than its header");
    off += e.msg.nlmsg_len - NLMSG_HDRLEN;
  }
  off = NLMSG_ALIGN(off);
  if (off > nlh->nlmsg_len) throw Malformed("NLMSG_ERROR: echoed request longer than the message");
  static const Policy pol("NLMSGERR_ATTR", NLMSGERR_ATTR_MAX, {
    CNM_STR(NLMSGERR_ATTR_MSG, 0), CNM_A(NLMSGERR_ATTR_OFFS, U32),
#ifdef NLMSGERR_ATTR_MISS_TYPE
    CNM_A(NLMSGERR_ATTR_MISS_TYPE, U32),
#endif
  });
  const uint8_t* p = (const uint8_t*)nlh + off;
  size_t len = nlh->nlmsg_len - off;
  Sanitize(p, len, pol, nullptr);
  for (size_t i = 0; i < len;) {
    struct nlattr h;
    memcpy(&h, p + i, sizeof h);
    const uint8_t* d = p + i + MNL_ATTR_HDRLEN;
    uint32_t u;
    switch (h.nla_type & NLA_TYPE_MASK) {
      case NLMSGERR_ATTR_MSG: o.Str("extack", std::string((const char*)d)); break;
      case NLMSGERR_ATTR_OFFS: memcpy(&u, d, 4); o.Num("extackOffset", u); break;
#ifdef NLMSGERR_ATTR_MISS_TYPE
      case NLMSGERR_ATTR_MISS_TYPE: memcpy(&u, d, 4); o.Num("missingAttr", u); break;
#endif
    }
    i += MNL_ALIGN(h.nla_len);
  }
}

bool ParseHead(const struct nlmsghdr* nlh, Out& o) {
  o.Num("type", nlh->nlmsg_type);
  o.Num("flags", nlh->nlmsg_flags);
  o.Num("seq", nlh->nlmsg_seq);
  o.Num("pid", nlh->nlmsg_pid);
  if (nlh->nlmsg_type == NLMSG_ERROR) { ParseError(nlh, o); return false; }
  if (nlh->nlmsg_type == NLMSG_DONE) {
    // A dump may end in error (e.g. EINTR, ENOBUFS): the int after the header.
    if (nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(int32_t))) {
      int32_t v;
      memcpy(&v, NLMSG_DATA(nlh), sizeof v);
      if (v < 0) {
        int err = KernelErrno(v, "NLMSG_DONE");
        o.Num("error", err);
        o.Str("code", ErrnoName(err));
      }
    }
    return false;
  }
  return nlh->nlmsg_type >= NLMSG_MIN_TYPE;
}

bool ParseBody(int protocol, const struct nlmsghdr* nlh, Out& body) {
  if (protocol == NETLINK_ROUTE) {
    switch (nlh->nlmsg_type) {
      case RTM_NEWLINK: case RTM_DELLINK: ParseLinkCore(nlh, body); return true;
      case RTM_NEWADDR: case RTM_DELADDR: ParseAddrCore(nlh, body); return true;
      case RTM_NEWROUTE: case RTM_DELROUTE: ParseRouteCore(nlh, body); return true;
      case RTM_NEWNEIGH: case RTM_DELNEIGH: ParseNeighCore(nlh, body); return true;
      default: return false;
    }
  }
  if (protocol == NETLINK_NETFILTER) return ParseNftCore(nlh, body);
  return false;
}

}  // namespace cnm
