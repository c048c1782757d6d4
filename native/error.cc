// Errors: the JS class is handed over once by TS (setErrorClass), as
// better-sqlite3 does, and native code throws instances of it.
#include "common.h"
#include <cerrno>
#include <cstring>

namespace cnm {

static Napi::FunctionReference* errorClass = nullptr;
static Napi::FunctionReference* invalidClass = nullptr;

const char* ErrnoName(int err);  // error_names.cc

// Every errno by its name (EXFULL, EBADMSG, ...); EUNKNOWN only for numbers
// that are no errno at all.
const char* ErrnoCode(int err) { return ErrnoName(err); }

Napi::Value MakeErrnoError(Napi::Env env, int err, const char* syscall,
                           const std::string& detail) {
  std::string msg = std::string(ErrnoCode(err)) + ": " + strerror(err) + ", " + syscall;
  if (!detail.empty()) msg += " (" + detail + ")";
  Napi::Object e;
  if (errorClass) {
    e = errorClass->New({Napi::String::New(env, msg)});
  } else {
    e = Napi::Error::New(env, msg).Value();
  }
  e.Set("code", ErrnoCode(err));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", syscall);
  return e;
}

void ThrowInvalid(Napi::Env env, const std::string& msg) {
  if (invalidClass) throw Napi::Error(env, invalidClass->New({Napi::String::New(env, msg)}));
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", "EINVAL");
  e.Set("errno", Napi::Number::New(env, EINVAL));
  throw e;
}

void ThrowErrno(Napi::Env env, int err, const char* syscall, const std::string& detail) {
  throw Napi::Error(env, MakeErrnoError(env, err, syscall, detail));
}

static Napi::Value SetErrorClass(const Napi::CallbackInfo& info) {
  if (!errorClass) errorClass = new Napi::FunctionReference();
  *errorClass = Napi::Persistent(info[0].As<Napi::Function>());
  if (info[1].IsFunction()) {
    if (!invalidClass) invalidClass = new Napi::FunctionReference();
    *invalidClass = Napi::Persistent(info[1].As<Napi::Function>());
  }
  return info.Env().Undefined();
}

static Napi::Value Strerror(const Napi::CallbackInfo& info) {
  int err = info[0].As<Napi::Number>().Int32Value();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("code", ErrnoCode(err));
  o.Set("message", strerror(err));
  return o;
}

void InitError(Napi::Env env, Napi::Object exports) {
  exports.Set("setErrorClass", Napi::Function::New(env, SetErrorClass));
  exports.Set("strerror", Napi::Function::New(env, Strerror));
}

}  // namespace cnm
