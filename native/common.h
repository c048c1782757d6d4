// Shared declarations of the native layer. The native side holds no policy:
// builders turn plain JS objects into netlink message bytes (via libnl /
// libnftnl), parsers turn received messages into plain JS objects.
#pragma once
#include <napi.h>
#include <linux/netlink.h>
#include <string>

namespace cnm {

// Throws a JS error (class registered by TS) with code/errno/syscall.
// Bad input found while building a message: the TS ValidationError (code EINVAL), never an uncoded TypeError.
[[noreturn]] void ThrowInvalid(Napi::Env env, const std::string& msg);
[[noreturn]] void ThrowErrno(Napi::Env env, int err, const char* syscall,
                             const std::string& detail = "");
Napi::Value MakeErrnoError(Napi::Env env, int err, const char* syscall,
                           const std::string& detail = "");
const char* ErrnoCode(int err);
void InitError(Napi::Env env, Napi::Object exports);

// Copies a finished nl_msg (libnl) into a Buffer and frees nothing.
Napi::Buffer<uint8_t> MsgToBuffer(Napi::Env env, const struct nlmsghdr* nlh);

// Decodes one received message into a plain object (parse.cc over the
// Node-free cores of parse_msg.cc). `protocol` selects the family of
// parsers (NETLINK_ROUTE, NETLINK_NETFILTER).
Napi::Object ParseMessage(Napi::Env env, int protocol, const struct nlmsghdr* nlh);

void InitSocket(Napi::Env env, Napi::Object exports);
void InitNetns(Napi::Env env, Napi::Object exports);
void InitLink(Napi::Env env, Napi::Object exports);
void InitAddr(Napi::Env env, Napi::Object exports);
void InitRoute(Napi::Env env, Napi::Object exports);
void InitNeigh(Napi::Env env, Napi::Object exports);
void InitNft(Napi::Env env, Napi::Object exports);
void InitFlock(Napi::Env env, Napi::Object exports);
void InitFdWatch(Napi::Env env, Napi::Object exports);
void InitParse(Napi::Env env, Napi::Object exports);

// Small helpers for reading optional properties of request objects.
inline bool Has(const Napi::Object& o, const char* k) {
  if (!o.Has(k)) return false;
  Napi::Value v = o.Get(k);
  return !v.IsUndefined() && !v.IsNull();
}
inline uint32_t U32(const Napi::Object& o, const char* k) {
  return o.Get(k).As<Napi::Number>().Uint32Value();
}
inline int32_t I32(const Napi::Object& o, const char* k) {
  return o.Get(k).As<Napi::Number>().Int32Value();
}
inline std::string Str(const Napi::Object& o, const char* k) {
  return o.Get(k).As<Napi::String>().Utf8Value();
}
inline bool Bool(const Napi::Object& o, const char* k) {
  return o.Get(k).ToBoolean().Value();
}

}  // namespace cnm
