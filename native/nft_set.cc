// Sets and maps (like `nft add set/map`, `nft add/delete element`). Keys
// and data are bytes here; their types and byte order live in TypeScript.
#include "nftutil.h"
#include <libnftnl/set.h>
#include <cstring>

namespace cnm {

// nftSet(cmd, family, nlFlags, {table, name?, handle?, id?, flags?, keyType?,
//   keyLen?, dataType?, dataLen?, objType?, policy?, size?, timeout?,
//   gcInterval?, fieldLens?: number[], userdata?})
static Napi::Value BuildSet(const Napi::CallbackInfo& info) {
  BuildArgs a = Args(info);
  Napi::Object o = a.obj;
  struct nftnl_set* s = nftnl_set_alloc();
  if (Has(o, "table")) nftnl_set_set_str(s, NFTNL_SET_TABLE, Str(o, "table").c_str());
  if (Has(o, "name")) nftnl_set_set_str(s, NFTNL_SET_NAME, Str(o, "name").c_str());
  if (Has(o, "handle")) nftnl_set_set_u64(s, NFTNL_SET_HANDLE, (uint64_t)Num(o, "handle"));
  if (Has(o, "id")) nftnl_set_set_u32(s, NFTNL_SET_ID, U32(o, "id"));
  if (Has(o, "flags")) nftnl_set_set_u32(s, NFTNL_SET_FLAGS, U32(o, "flags"));
  if (Has(o, "keyType")) nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, U32(o, "keyType"));
  if (Has(o, "keyLen")) nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, U32(o, "keyLen"));
  if (Has(o, "dataType")) nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, U32(o, "dataType"));
  if (Has(o, "dataLen")) nftnl_set_set_u32(s, NFTNL_SET_DATA_LEN, U32(o, "dataLen"));
  if (Has(o, "objType")) nftnl_set_set_u32(s, NFTNL_SET_OBJ_TYPE, U32(o, "objType"));
  if (Has(o, "policy")) nftnl_set_set_u32(s, NFTNL_SET_POLICY, U32(o, "policy"));
  if (Has(o, "size")) nftnl_set_set_u32(s, NFTNL_SET_DESC_SIZE, U32(o, "size"));
  if (Has(o, "timeout")) nftnl_set_set_u64(s, NFTNL_SET_TIMEOUT, (uint64_t)Num(o, "timeout"));
  if (Has(o, "gcInterval")) nftnl_set_set_u32(s, NFTNL_SET_GC_INTERVAL, U32(o, "gcInterval"));
  if (Has(o, "fieldLens")) {
    Napi::Array f = o.Get("fieldLens").As<Napi::Array>();
    uint8_t lens[NFT_REG32_COUNT + 1] = {};
    for (uint32_t i = 0; i < f.Length() && i < NFT_REG32_COUNT; i++) lens[i] = f.Get(i).As<Napi::Number>().Uint32Value();
    nftnl_set_set_data(s, NFTNL_SET_DESC_CONCAT, lens, f.Length() < NFT_REG32_COUNT ? f.Length() : NFT_REG32_COUNT);
  }
  PutUserdata(o, s, nftnl_set_set_data, NFTNL_SET_USERDATA);
  NftMsg m(1024 + BufLen(o, "userdata"), a.cmd, a.family, a.flags);
  nftnl_set_nlmsg_build_payload(m.nlh, s);
  nftnl_set_free(s);
  return m.Take(info.Env());
}

// nftSetElems(cmd, family, nlFlags, {table, set, setId?, elements: [{key,
//   keyEnd?, data?, verdict?, chain?, flags?, timeout?, userdata?}]})
// One message for all given elements (callers chunk big lists).
static Napi::Value BuildSetElems(const Napi::CallbackInfo& info) {
  BuildArgs a = Args(info);
  Napi::Env env = info.Env();
  Napi::Object o = a.obj;
  struct nftnl_set* s = nftnl_set_alloc();
  if (Has(o, "table")) nftnl_set_set_str(s, NFTNL_SET_TABLE, Str(o, "table").c_str());
  if (Has(o, "set")) nftnl_set_set_str(s, NFTNL_SET_NAME, Str(o, "set").c_str());
  if (Has(o, "setId")) nftnl_set_set_u32(s, NFTNL_SET_ID, U32(o, "setId"));
  size_t size = 1024;
  Napi::Array elems = Has(o, "elements") ? o.Get("elements").As<Napi::Array>() : Napi::Array::New(env);
  try {
    for (uint32_t i = 0; i < elems.Length(); i++) {
      Napi::Object e = elems.Get(i).As<Napi::Object>();
      struct nftnl_set_elem* el = nftnl_set_elem_alloc();
      nftnl_set_elem_add(s, el);  // owned by the set from here on
      size += 96;
      // One property read each: this runs for every element of big maps.
      auto data = [&](const char* k, uint16_t attr) {
        Napi::Value v = GetKey(e, k);
        if (v.IsUndefined() || v.IsNull()) return;
        if (!v.IsBuffer()) ThrowInvalid(env, std::string("element ") + k + " must be a Buffer");
        auto b = v.As<Napi::Buffer<uint8_t>>();
        if (b.Length() > 255) ThrowInvalid(env, std::string("element ") + k + " too long");
        size += b.Length() + 16;
        nftnl_set_elem_set(el, attr, b.Data(), b.Length());
      };
      data("key", NFTNL_SET_ELEM_KEY);
      data("keyEnd", NFTNL_SET_ELEM_KEY_END);
      data("data", NFTNL_SET_ELEM_DATA);
      data("userdata", NFTNL_SET_ELEM_USERDATA);
      Napi::Value v = GetKey(e, "verdict");
      if (v.IsNumber()) nftnl_set_elem_set_u32(el, NFTNL_SET_ELEM_VERDICT, (uint32_t)v.As<Napi::Number>().Int32Value());
      v = GetKey(e, "chain");
      if (v.IsString()) {
        std::string c = v.As<Napi::String>().Utf8Value();
        if (c.size() > 255) ThrowInvalid(env, "element chain name too long");
        size += c.size() + 8;
        nftnl_set_elem_set_str(el, NFTNL_SET_ELEM_CHAIN, c.c_str());
      }
      v = GetKey(e, "flags");
      if (v.IsNumber()) nftnl_set_elem_set_u32(el, NFTNL_SET_ELEM_FLAGS, v.As<Napi::Number>().Uint32Value());
      v = GetKey(e, "timeout");
      if (v.IsNumber()) nftnl_set_elem_set_u64(el, NFTNL_SET_ELEM_TIMEOUT, (uint64_t)v.As<Napi::Number>().DoubleValue());
    }
  } catch (...) {
    nftnl_set_free(s);
    throw;
  }
  NftMsg m(size, a.cmd, a.family, a.flags);
  nftnl_set_elems_nlmsg_build_payload(m.nlh, s);
  nftnl_set_free(s);
  return m.Take(env);
}

void InitNftSet(Napi::Env env, Napi::Object exports) {
  exports.Set("nftSet", Napi::Function::New(env, BuildSet));
  exports.Set("nftSetElems", Napi::Function::New(env, BuildSetElems));
}

}  // namespace cnm
