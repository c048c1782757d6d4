// Shared glue of the nftables files: message buffers, JS<->bytes helpers
// and the per-object entry points that nft.cc registers and dispatches to.
#pragma once
#include "common.h"
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/rule.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <vector>

namespace cnm {

constexpr uint16_t NFPROTO_UNSPEC_ = 0;

// A growable buffer for one message; libnftnl/libmnl write without bounds
// checks, so callers size it from the request (NftMsgSize) up front.
// Builders run on the JS thread one at a time, so they share one scratch
// buffer (no allocation or zeroing per message; libmnl zeroes what it uses).
struct NftMsg {
  struct nlmsghdr* nlh = nullptr;
  size_t cap = 0;  // bytes the buffer holds: puts beyond it are refused (NftPutExprs checks)
  NftMsg(size_t size, uint16_t cmd, uint16_t family, uint16_t flags) {
    static thread_local std::vector<char> scratch;
    if (scratch.size() < size) scratch.resize(size);
    cap = size;
    nlh = nftnl_nlmsg_build_hdr(scratch.data(), cmd, family, flags, 0);
  }
  Napi::Value Take(Napi::Env env) const {
    return Napi::Buffer<uint8_t>::Copy(env, (const uint8_t*)nlh, nlh->nlmsg_len);
  }
};

// (cmd, family, flags, obj) arguments shared by every builder.
struct BuildArgs {
  uint16_t cmd, family, flags;
  Napi::Object obj;
};
inline BuildArgs Args(const Napi::CallbackInfo& info) {
  return {(uint16_t)info[0].As<Napi::Number>().Uint32Value(),
          (uint16_t)info[1].As<Napi::Number>().Uint32Value(),
          (uint16_t)info[2].As<Napi::Number>().Uint32Value(),
          info[3].IsObject() ? info[3].As<Napi::Object>() : Napi::Object::New(info.Env())};
}

// One property read (builders run per expression and per element, so they
// read each key once instead of Has + Get).
inline Napi::Value GetKey(const Napi::Object& o, const char* k) { return o.Get(k); }

inline Napi::Buffer<uint8_t> BufOf(const Napi::Object& o, const char* k) {
  Napi::Value v = o.Get(k);
  if (!v.IsBuffer()) ThrowInvalid(o.Env(), std::string(k) + " must be a Buffer");
  return v.As<Napi::Buffer<uint8_t>>();
}
inline size_t BufLen(const Napi::Object& o, const char* k) {
  return Has(o, k) && o.Get(k).IsBuffer() ? o.Get(k).As<Napi::Buffer<uint8_t>>().Length() : 0;
}
inline double Num(const Napi::Object& o, const char* k) { return o.Get(k).As<Napi::Number>().DoubleValue(); }
inline Napi::Value Bytes(Napi::Env env, const void* p, uint32_t len) {
  return Napi::Buffer<uint8_t>::Copy(env, (const uint8_t*)p, len);
}
inline Napi::Value U64(Napi::Env env, uint64_t v) { return Napi::Number::New(env, (double)v); }

// Userdata (nft's comments, set key types) moves the same way for every
// object; libnftnl only names the accessors per object type.
template <typename T>
inline void PutUserdata(const Napi::Object& o, T* obj, int (*setData)(T*, uint16_t, const void*, uint32_t), uint16_t attr) {
  if (!Has(o, "userdata")) return;
  auto b = BufOf(o, "userdata");
  setData(obj, attr, b.Data(), b.Length());
}
template <typename T>
inline void GetUserdata(Napi::Env env, Napi::Object& out, const T* obj, bool (*isSet)(const T*, uint16_t),
                        const void* (*getData)(const T*, uint16_t, uint32_t*), uint16_t attr) {
  if (!isSet(obj, attr)) return;
  uint32_t len = 0;
  const void* p = getData(obj, attr, &len);
  out.Set("userdata", Bytes(env, p, len));
}

// Expressions (nft_expr.cc): appends NFTA_RULE_EXPRESSIONS for a JS array.
size_t NftExprsSize(const Napi::Array& exprs);
void NftPutExprs(Napi::Env env, struct nlmsghdr* nlh, size_t cap, const Napi::Array& exprs);

void InitNftTable(Napi::Env env, Napi::Object exports);
void InitNftChain(Napi::Env env, Napi::Object exports);
void InitNftRule(Napi::Env env, Napi::Object exports);
void InitNftSet(Napi::Env env, Napi::Object exports);

}  // namespace cnm
