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
  ThrowInvalid(env, std::string(what) + ": " + nl_geterror(nlerr));
}

// "10.0.0.1/24", "fe80::1", "aa:bb:cc:dd:ee:ff" -> nl_addr (caller puts it).
inline struct nl_addr* ParseNlAddr(Napi::Env env, const std::string& s, int family, const char* what) {
  struct nl_addr* a = nullptr;
  int err = nl_addr_parse(s.c_str(), family, &a);
  if (err < 0) ThrowInvalid(env, std::string("invalid ") + what + ": " + s);
  return a;
}

}  // namespace cnm
