// Namespace primitives. Every setns()/unshare() happens on a dedicated
// short-lived std::thread, never on the loop thread or a libuv pool thread:
// the thread's namespace dies with it.
#include "common.h"
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <thread>
#include <memory>
#include <system_error>

namespace cnm {

struct ThreadResult { int err = 0; const char* step = ""; int fd = -1; std::string text; };

template <typename F>
static ThreadResult OnThread(F f) {
  ThreadResult r;
  try {
    std::thread([&]() { f(r); }).join();
  } catch (const std::system_error&) {
    r.err = EAGAIN; r.step = "pthread_create";
  }
  return r;
}

// netnsNew(bindPath?) -> fd of a fresh network namespace. With bindPath (an
// existing empty file, as `ip netns add` makes) the namespace is pinned by a
// bind mount of the creating thread's ns file.
static Napi::Value NetnsNew(const Napi::CallbackInfo& info) {
  std::string path = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  ThreadResult r = OnThread([&](ThreadResult& r) {
    if (unshare(CLONE_NEWNET) < 0) { r.err = errno; r.step = "unshare"; return; }
    if (!path.empty() &&
        mount("/proc/thread-self/ns/net", path.c_str(), "none", MS_BIND, nullptr) < 0) {
      r.err = errno; r.step = "mount"; return;
    }
    r.fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (r.fd < 0) {
      r.err = errno; r.step = "open";
      if (!path.empty()) umount2(path.c_str(), MNT_DETACH);
    }
  });
  if (r.err) ThrowErrno(info.Env(), r.err, r.step, path);
  return Napi::Number::New(info.Env(), r.fd);
}

// netnsNewAsync(bindPath?) -> Promise<fd>: the same on a detached dedicated
// thread, so the loop keeps sending netlink requests meanwhile (namespace
// creation is slow in the kernel and needs no RTNL).
static Napi::Value NetnsNewAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  auto deferred = std::make_shared<Napi::Promise::Deferred>(env);
  auto tsfn = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}), "netnsNewAsync", 0, 1);
  Napi::Promise promise = deferred->Promise();
  auto work = [path, deferred, tsfn]() mutable {
    auto* r = new ThreadResult();
    if (unshare(CLONE_NEWNET) < 0) { r->err = errno; r->step = "unshare"; }
    else if (!path.empty() && mount("/proc/thread-self/ns/net", path.c_str(), "none", MS_BIND, nullptr) < 0) {
      r->err = errno; r->step = "mount";
    } else {
      r->fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
      if (r->fd < 0) {
        r->err = errno; r->step = "open";
        if (!path.empty()) umount2(path.c_str(), MNT_DETACH);
      }
    }
    tsfn.BlockingCall([deferred, r, path](Napi::Env env, Napi::Function) {
      if (r->err) deferred->Reject(MakeErrnoError(env, r->err, r->step, path));
      else deferred->Resolve(Napi::Number::New(env, r->fd));
      delete r;
    });
    tsfn.Release();
  };
  try {
    std::thread(std::move(work)).detach();
  } catch (const std::system_error&) {
    tsfn.Release();
    deferred->Reject(MakeErrnoError(env, EAGAIN, "pthread_create", path));
  }
  return promise;
}

// mount(source, target, fstype, flags, data) — a plain syscall wrapper.
static Napi::Value Mount(const Napi::CallbackInfo& info) {
  auto s = [&](int i) { return info[i].IsString() ? info[i].As<Napi::String>().Utf8Value() : std::string(); };
  std::string src = s(0), tgt = s(1), fstype = s(2), data = s(4);
  unsigned long flags = info[3].IsNumber() ? (unsigned long)info[3].As<Napi::Number>().Int64Value() : 0;
  if (mount(src.empty() ? nullptr : src.c_str(), tgt.c_str(), fstype.empty() ? nullptr : fstype.c_str(),
            flags, data.empty() ? nullptr : data.c_str()) < 0)
    ThrowErrno(info.Env(), errno, "mount", tgt);
  return info.Env().Undefined();
}

static Napi::Value Umount(const Napi::CallbackInfo& info) {
  std::string tgt = info[0].As<Napi::String>().Utf8Value();
  int flags = info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 0;
  if (umount2(tgt.c_str(), flags) < 0) ThrowErrno(info.Env(), errno, "umount2", tgt);
  return info.Env().Undefined();
}

// procFileInNetns(nsFd, path, value?) -> contents. /proc/sys/net resolves
// against the namespace of the opening thread, so open it from inside.
static Napi::Value ProcFileInNetns(const Napi::CallbackInfo& info) {
  int nsFd = info[0].As<Napi::Number>().Int32Value();
  std::string path = info[1].As<Napi::String>().Utf8Value();
  bool write = info[2].IsString();
  std::string value = write ? info[2].As<Napi::String>().Utf8Value() : "";
  ThreadResult r = OnThread([&](ThreadResult& r) {
    if (nsFd >= 0 && setns(nsFd, CLONE_NEWNET) < 0) { r.err = errno; r.step = "setns"; return; }
    int fd = open(path.c_str(), (write ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
    if (fd < 0) { r.err = errno; r.step = "open"; return; }
    if (write) {
      if (::write(fd, value.data(), value.size()) < 0) { r.err = errno; r.step = "write"; }
    } else {
      char b[4096];
      ssize_t n;
      while ((n = ::read(fd, b, sizeof b)) > 0) r.text.append(b, n);
      if (n < 0) { r.err = errno; r.step = "read"; }
    }
    close(fd);
  });
  if (r.err) ThrowErrno(info.Env(), r.err, r.step, path);
  return Napi::String::New(info.Env(), r.text);
}

// socketInNetns(nsFd, family, type, addr?, port?) -> fd of a socket created
// (and optionally bound) inside the namespace; Node can adopt it by fd.
static Napi::Value SocketInNetns(const Napi::CallbackInfo& info) {
  int nsFd = info[0].As<Napi::Number>().Int32Value();
  int family = info[1].As<Napi::Number>().Int32Value();
  int type = info[2].As<Napi::Number>().Int32Value();
  std::string addr = info[3].IsString() ? info[3].As<Napi::String>().Utf8Value() : "";
  int port = info[4].IsNumber() ? info[4].As<Napi::Number>().Int32Value() : -1;
  int proto = info[5].IsNumber() ? info[5].As<Napi::Number>().Int32Value() : 0;
  ThreadResult r = OnThread([&](ThreadResult& r) {
    if (nsFd >= 0 && setns(nsFd, CLONE_NEWNET) < 0) { r.err = errno; r.step = "setns"; return; }
    int fd = socket(family, type | SOCK_CLOEXEC, proto);
    if (fd < 0) { r.err = errno; r.step = "socket"; return; }
    int one = 1;
    if (type == SOCK_STREAM) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (port >= 0 || !addr.empty()) {
      struct sockaddr_storage ss = {};
      socklen_t len;
      if (family == AF_INET6) {
        auto* s6 = (struct sockaddr_in6*)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port < 0 ? 0 : port);
        if (inet_pton(AF_INET6, addr.empty() ? "::" : addr.c_str(), &s6->sin6_addr) != 1) { r.err = EINVAL; r.step = "inet_pton"; close(fd); return; }
        len = sizeof *s6;
      } else {
        auto* s4 = (struct sockaddr_in*)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port < 0 ? 0 : port);
        if (inet_pton(AF_INET, addr.empty() ? "0.0.0.0" : addr.c_str(), &s4->sin_addr) != 1) { r.err = EINVAL; r.step = "inet_pton"; close(fd); return; }
        len = sizeof *s4;
      }
      if (bind(fd, (struct sockaddr*)&ss, len) < 0) { r.err = errno; r.step = "bind"; close(fd); return; }
    }
    r.fd = fd;
  });
  if (r.err) ThrowErrno(info.Env(), r.err, r.step, addr);
  return Napi::Number::New(info.Env(), r.fd);
}

static Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  close(info[0].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

void InitNetns(Napi::Env env, Napi::Object exports) {
  exports.Set("netnsNew", Napi::Function::New(env, NetnsNew));
  exports.Set("netnsNewAsync", Napi::Function::New(env, NetnsNewAsync));
  exports.Set("mount", Napi::Function::New(env, Mount));
  exports.Set("umount", Napi::Function::New(env, Umount));
  exports.Set("procFileInNetns", Napi::Function::New(env, ProcFileInNetns));
  exports.Set("socketInNetns", Napi::Function::New(env, SocketInNetns));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd));
}

}  // namespace cnm
