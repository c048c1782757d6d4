// Decoding of received messages: the netlink header, errors with their
// extended ACK, then a per-object parser chosen by protocol and type.
#include "common.h"
#include <netlink/msg.h>
#include <netlink/attr.h>
#include <linux/rtnetlink.h>
#include <cstring>

#ifndef NLM_F_ACK_TLVS
#define NLM_F_ACK_TLVS 0x200
#endif
#ifndef NLM_F_CAPPED
#define NLM_F_CAPPED 0x100
#endif

namespace cnm {

Napi::Buffer<uint8_t> MsgToBuffer(Napi::Env env, const struct nlmsghdr* nlh) {
  return Napi::Buffer<uint8_t>::Copy(env, (const uint8_t*)nlh, nlh->nlmsg_len);
}

Napi::Array UnknownAttrs(Napi::Env env, const struct nlmsghdr* nlh, size_t hdrlen,
                         const bool* known, int maxKnown) {
  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
  struct nlattr* a;
  int rem;
  nlmsg_for_each_attr(a, (struct nlmsghdr*)nlh, hdrlen, rem) {
    int t = nla_type(a);
    if (t <= maxKnown && (known == nullptr || known[t])) continue;
    Napi::Object o = Napi::Object::New(env);
    o.Set("type", t);
    o.Set("data", Napi::Buffer<uint8_t>::Copy(env, (const uint8_t*)nla_data(a), nla_len(a)));
    out.Set(i++, o);
  }
  return out;
}

// Error / ACK: errno (positive, 0 for an ACK) plus extended-ACK text/offset.
static void ParseError(Napi::Env env, Napi::Object o, const struct nlmsghdr* nlh) {
  if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr))) return;
  auto* e = (const struct nlmsgerr*)NLMSG_DATA(nlh);
  o.Set("error", -e->error);
  if (e->error) o.Set("code", ErrnoCode(-e->error));
  o.Set("reqType", e->msg.nlmsg_type);
  o.Set("reqSeq", e->msg.nlmsg_seq);
  if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS)) return;
  size_t off = sizeof(struct nlmsgerr);
  if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) off += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
  if (NLMSG_LENGTH(off) > nlh->nlmsg_len) return;
  struct nlattr* tb[NLMSGERR_ATTR_MAX + 1] = {};
  if (nla_parse(tb, NLMSGERR_ATTR_MAX, (struct nlattr*)((char*)NLMSG_DATA(nlh) + NLMSG_ALIGN(off)),
                nlh->nlmsg_len - NLMSG_LENGTH(NLMSG_ALIGN(off)), nullptr) < 0)
    return;
  if (tb[NLMSGERR_ATTR_MSG]) o.Set("extack", std::string((const char*)nla_data(tb[NLMSGERR_ATTR_MSG]),
                                                          strnlen((const char*)nla_data(tb[NLMSGERR_ATTR_MSG]), nla_len(tb[NLMSGERR_ATTR_MSG]))));
  if (tb[NLMSGERR_ATTR_OFFS]) o.Set("extackOffset", nla_get_u32(tb[NLMSGERR_ATTR_OFFS]));
#ifdef NLMSGERR_ATTR_MISS_TYPE
  if (tb[NLMSGERR_ATTR_MISS_TYPE]) o.Set("missingAttr", nla_get_u32(tb[NLMSGERR_ATTR_MISS_TYPE]));
#endif
}

Napi::Object ParseMessage(Napi::Env env, int protocol, const struct nlmsghdr* nlh) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("type", nlh->nlmsg_type);
  o.Set("flags", nlh->nlmsg_flags);
  o.Set("seq", nlh->nlmsg_seq);
  o.Set("pid", nlh->nlmsg_pid);
  if (nlh->nlmsg_type == NLMSG_ERROR) { ParseError(env, o, nlh); return o; }
  if (nlh->nlmsg_type == NLMSG_DONE) {
    // A dump may end in error (e.g. EINTR, ENOBUFS): the int after the header.
    if (nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(int))) {
      int err = *(const int*)NLMSG_DATA(nlh);
      if (err < 0) { o.Set("error", -err); o.Set("code", ErrnoCode(-err)); }
    }
    return o;
  }
  if (nlh->nlmsg_type < NLMSG_MIN_TYPE) return o;
  Napi::Value body = env.Undefined();
  if (protocol == NETLINK_ROUTE) {
    switch (nlh->nlmsg_type) {
      case RTM_NEWLINK: case RTM_DELLINK: body = ParseLink(env, nlh); break;
      case RTM_NEWADDR: case RTM_DELADDR: body = ParseAddr(env, nlh); break;
      case RTM_NEWROUTE: case RTM_DELROUTE: body = ParseRoute(env, nlh); break;
      case RTM_NEWNEIGH: case RTM_DELNEIGH: body = ParseNeigh(env, nlh); break;
      default: break;
    }
  } else if (protocol == NETLINK_NETFILTER) {
    body = ParseNetfilter(env, nlh);
  }
  if (body.IsUndefined()) o.Set("raw", MsgToBuffer(env, nlh));
  else o.Set("body", body);
  return o;
}

}  // namespace cnm
