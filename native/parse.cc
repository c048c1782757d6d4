// The addon's side of message decoding: Out implemented with Napi objects,
// and the entry points (NetlinkSocket.read via ParseMessage, nlParse,
// nftRuleExprs). A message the cores find malformed stays a message: its
// bytes as `raw` and an EBADMSG-coded error as `malformed` naming what was
// wrong (error and DONE messages carry it as their error), so one bad
// message never takes the others of a read down with it.
#include "common.h"
#include "out.h"
#include <cerrno>
#include <memory>
#include <vector>

namespace cnm {

Napi::Buffer<uint8_t> MsgToBuffer(Napi::Env env, const struct nlmsghdr* nlh) {
  return Napi::Buffer<uint8_t>::Copy(env, (const uint8_t*)nlh, nlh->nlmsg_len);
}

namespace {

class NapiOut : public Out {
 public:
  NapiOut(Napi::Env env, Napi::Object obj, bool array = false) : env_(env), obj_(obj), array_(array) {}
  void Num(const char* k, double v) override { Put(k, Napi::Number::New(env_, v)); }
  void U64(const char* k, uint64_t v) override {
    if (v <= 9007199254740991ull) Put(k, Napi::Number::New(env_, (double)v));
    else Put(k, Napi::BigInt::New(env_, v));
  }
  void Bool(const char* k, bool v) override { Put(k, Napi::Boolean::New(env_, v)); }
  void Str(const char* k, const char* p, size_t n) override { Put(k, Napi::String::New(env_, p, n)); }
  void Bytes(const char* k, const void* p, size_t n) override {
    Put(k, Napi::Buffer<uint8_t>::Copy(env_, (const uint8_t*)p, n));
  }
  Out& Obj(const char* k) override { return Kid(k, Napi::Object::New(env_), false); }
  Out& Arr(const char* k) override { return Kid(k, Napi::Array::New(env_), true); }

 private:
  void Put(const char* k, Napi::Value v) {
    if (array_) obj_.Set(n_++, v);
    else obj_.Set(k, v);
  }
  Out& Kid(const char* k, Napi::Object o, bool array) {
    Put(k, o);
    kids_.push_back(std::make_unique<NapiOut>(env_, o, array));
    return *kids_.back();
  }
  Napi::Env env_;
  Napi::Object obj_;
  bool array_;
  uint32_t n_ = 0;
  std::vector<std::unique_ptr<NapiOut>> kids_;
};

Napi::Value Malformation(Napi::Env env, const char* where, const std::string& what) {
  return MakeErrnoError(env, EBADMSG, where, what);
}

}  // namespace

Napi::Object ParseMessage(Napi::Env env, int protocol, const struct nlmsghdr* nlh) {
  Napi::Object o = Napi::Object::New(env);
  NapiOut head(env, o);
  try {
    if (ParseHead(nlh, head)) {
      Napi::Object b = Napi::Object::New(env);
      NapiOut body(env, b);
      if (ParseBody(protocol, nlh, body)) o.Set("body", b);
      else o.Set("raw", MsgToBuffer(env, nlh));
    }
  } catch (const Malformed& m) {
    o.Delete("body");
    o.Set("raw", MsgToBuffer(env, nlh));
    o.Set("malformed", Malformation(env, "parse", m.what()));
    if (nlh->nlmsg_type == NLMSG_ERROR || nlh->nlmsg_type == NLMSG_DONE) {
      // Never mistaken for an ACK: the request it answers fails with EBADMSG.
      o.Set("error", EBADMSG);
      o.Set("code", ErrnoCode(EBADMSG));
      o.Set("extack", std::string("malformed reply: ") + m.what());
    }
  }
  return o;
}

// nlParse(protocol, bytes) -> messages, as NetlinkSocket.read() decodes
// one datagram (for tests and tools: decoding without a socket).
static Napi::Value NlParse(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) throw Napi::TypeError::New(env, "protocol must be a number");
  if (!info[1].IsBuffer()) throw Napi::TypeError::New(env, "bytes must be a Buffer");
  int protocol = info[0].As<Napi::Number>().Int32Value();
  auto b = info[1].As<Napi::Buffer<uint8_t>>();
  // An aligned copy, as a datagram read from the socket would be.
  std::vector<uint8_t> buf(b.Data(), b.Data() + b.Length());
  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
  int len = (int)buf.size();
  struct nlmsghdr* h = (struct nlmsghdr*)buf.data();
  for (; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) out.Set(i++, ParseMessage(env, protocol, h));
  if (len > 0) ThrowErrno(env, EBADMSG, "nlParse", std::to_string(len) + " trailing bytes are not a whole message");
  return out;
}

// nftRuleExprs(exprList: Buffer) -> [{type, ...}] (exprList as a parsed
// rule carries it). A malformed list throws an EBADMSG-coded error.
static Napi::Value RuleExprs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsBuffer()) {
    Napi::Error e = Napi::TypeError::New(env, "exprList must be a Buffer");
    e.Set("code", "ERR_INVALID_ARG_TYPE");
    throw e;
  }
  auto b = info[0].As<Napi::Buffer<uint8_t>>();
  Napi::Array out = Napi::Array::New(env);
  NapiOut arr(env, out, true);
  try {
    ParseNftExprList(b.Data(), b.Length(), arr);
  } catch (const Malformed& m) {
    throw Napi::Error(env, Malformation(env, "nftRuleExprs", m.what()));
  }
  return out;
}

void InitParse(Napi::Env env, Napi::Object exports) {
  exports.Set("nlParse", Napi::Function::New(env, NlParse));
  exports.Set("nftRuleExprs", Napi::Function::New(env, RuleExprs));
}

}  // namespace cnm
