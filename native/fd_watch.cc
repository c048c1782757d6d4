// watchReadable(fds, cb) / unwatchReadable(id): calls cb once, when any of
// the fds becomes readable, after its poll handles are closed (so a Node
// handle may take the fds over then: two polls on one fd in one loop are
// not allowed). Lets a sandbox's resolver cost nothing until asked.
// Does not keep the loop alive.
#include "common.h"
#include <uv.h>
#include <unordered_map>
#include <vector>

namespace cnm {
namespace {
struct Watch {
  uint32_t id = 0;
  napi_env env = nullptr;
  std::vector<uv_poll_t*> polls;
  size_t open = 0;
  Napi::FunctionReference cb;
  Napi::AsyncContext* ctx = nullptr;
  bool fired = false;
  bool cancelled = false;
};
// Loop thread only (one per env thread).
thread_local std::unordered_map<uint32_t, Watch*> watches;
thread_local uint32_t nextId = 0;

void Finish(Watch* w) {
  watches.erase(w->id);
  if (w->fired && !w->cancelled) {
    Napi::Env env(w->env);
    Napi::HandleScope scope(env);
    try { w->cb.MakeCallback(env.Global(), {}, *w->ctx); } catch (const Napi::Error& e) { napi_fatal_exception(env, e.Value()); }
  }
  delete w->ctx;
  delete w;
}

void CloseAll(Watch* w) {
  for (uv_poll_t* p : w->polls) {
    uv_poll_stop(p);
    uv_close((uv_handle_t*)p, [](uv_handle_t* h) {
      auto* w = static_cast<Watch*>(h->data);
      delete (uv_poll_t*)h;
      if (--w->open == 0) Finish(w);
    });
  }
}

void OnReadable(uv_poll_t* h, int, int) {
  auto* w = static_cast<Watch*>(h->data);
  if (w->fired || w->cancelled) return;
  w->fired = true;
  CloseAll(w);
}

Napi::Value WatchReadable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray() || !info[1].IsFunction()) throw Napi::TypeError::New(env, "watchReadable(fds, cb)");
  Napi::Array a = info[0].As<Napi::Array>();
  std::vector<int> fds;
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value v = a.Get(i);
    if (!v.IsNumber()) throw Napi::TypeError::New(env, "watchReadable: fds must be numbers");
    fds.push_back(v.As<Napi::Number>().Int32Value());
  }
  if (fds.empty()) throw Napi::TypeError::New(env, "watchReadable: no fds");
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  auto* w = new Watch();
  w->env = env;
  for (int fd : fds) {
    auto* p = new uv_poll_t;
    int err = uv_poll_init_socket(loop, p, fd);
    if (err < 0) {
      delete p;
      if (w->polls.empty()) { delete w; ThrowErrno(env, -err, "uv_poll_init", std::to_string(fd)); }
      w->cancelled = true;
      CloseAll(w);
      ThrowErrno(env, -err, "uv_poll_init", std::to_string(fd));
    }
    p->data = w;
    w->polls.push_back(p);
    w->open++;
  }
  for (uv_poll_t* p : w->polls) {
    uv_poll_start(p, UV_READABLE, OnReadable);
    uv_unref((uv_handle_t*)p);
  }
  w->cb = Napi::Persistent(info[1].As<Napi::Function>());
  w->ctx = new Napi::AsyncContext(env, "cnm-fd-watch");
  w->id = ++nextId;
  watches[w->id] = w;
  return Napi::Number::New(env, w->id);
}

// Stops a watch; its callback is not called. An unknown id (fired and done) is fine.
Napi::Value UnwatchReadable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) throw Napi::TypeError::New(env, "unwatchReadable(id)");
  auto it = watches.find(info[0].As<Napi::Number>().Uint32Value());
  if (it == watches.end()) return env.Undefined();
  Watch* w = it->second;
  bool closing = w->fired;
  w->cancelled = true;
  if (!closing) CloseAll(w);
  return env.Undefined();
}
}  // namespace

void InitFdWatch(Napi::Env env, Napi::Object exports) {
  exports.Set("watchReadable", Napi::Function::New(env, WatchReadable));
  exports.Set("unwatchReadable", Napi::Function::New(env, UnwatchReadable));
}
}  // namespace cnm
