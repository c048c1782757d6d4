// libnl glue shared by the rtnetlink object files.
#pragma once
#include "common.h"
#include <netlink/netlink.h>
#include <netlink/msg.h>
#include <netlink/attr.h>
#include <netlink/addr.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>

namespace cnm {

// Hands a finished libnl message to JS as bytes and frees it.
inline Napi::Value TakeMsg(Napi::Env env, struct nl_msg* msg) {
  Napi::Buffer<uint8_t> b = MsgToBuffer(env, nlmsg_hdr(msg));
  nlmsg_free(msg);
  return b;
}

// Throws a JS error for a libnl return code (negative NLE_*).
[[noreturn]] inline void ThrowNl(Napi::Env env, int nlerr, const char* what) {
  throw Napi::TypeError::New(env, std::string(what) + ": " + nl_geterror(nlerr));
}

// "10.0.0.1/24", "fe80::1", "aa:bb:cc:dd:ee:ff" -> nl_addr (caller puts it).
inline struct nl_addr* ParseNlAddr(Napi::Env env, const std::string& s, int family, const char* what) {
  struct nl_addr* a = nullptr;
  int err = nl_addr_parse(s.c_str(), family, &a);
  if (err < 0) throw Napi::TypeError::New(env, std::string("invalid ") + what + ": " + s);
  return a;
}

// Binary address -> text, without prefix (prefix is reported separately).
inline Napi::Value AddrText(Napi::Env env, struct nl_addr* a) {
  if (!a) return env.Undefined();
  int fam = nl_addr_get_family(a);
  unsigned len = nl_addr_get_len(a);
  const void* bin = nl_addr_get_binary_addr(a);
  char buf[INET6_ADDRSTRLEN + 1];
  if (fam == AF_INET && len == 4) return Napi::String::New(env, inet_ntop(AF_INET, bin, buf, sizeof buf));
  if (fam == AF_INET6 && len == 16) return Napi::String::New(env, inet_ntop(AF_INET6, bin, buf, sizeof buf));
  if (len == 0) return env.Undefined();
  std::string out;
  const uint8_t* p = (const uint8_t*)bin;
  for (unsigned i = 0; i < len; i++) {
    char h[4];
    snprintf(h, sizeof h, i ? ":%02x" : "%02x", p[i]);
    out += h;
  }
  return Napi::String::New(env, out);
}

inline Napi::Value NestedU32(Napi::Env env, struct nlattr* a) {
  return a ? Napi::Number::New(env, nla_get_u32(a)) : env.Undefined();
}

}  // namespace cnm

namespace cnm {
struct ParseCtx { Napi::Env env; Napi::Value out; const struct nlmsghdr* nlh; };
// Runs libnl's own parser (selected by message type) over one message.
Napi::Value ParseWithLibnl(Napi::Env env, const struct nlmsghdr* nlh,
                           void (*cb)(struct nl_object*, void*));
// "addr/len" with the prefix, or bare address when len is the full width.
inline Napi::Value PrefixText(Napi::Env env, struct nl_addr* a) {
  Napi::Value t = AddrText(env, a);
  if (t.IsUndefined()) return t;
  return Napi::String::New(env, t.As<Napi::String>().Utf8Value() + "/" + std::to_string(nl_addr_get_prefixlen(a)));
}
}  // namespace cnm
