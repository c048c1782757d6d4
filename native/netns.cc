// Namespace primitives. Every setns()/unshare() happens on a dedicated
// thread, never on the loop thread or a libuv pool thread: a short-lived one
// (whose namespace dies with it) or one of ours that goes back to its own.
#include "common.h"
#include <uv.h>
#include <fcntl.h>
#include <poll.h>
#include <linux/netlink.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>
#include <cstdio>
#include <climits>
#include <sys/stat.h>
#include <dirent.h>
#include <sys/ioctl.h>
#include <net/if.h>
#include <vector>
#include <cerrno>
#include <cstring>
#include <thread>
#include <memory>
#include <system_error>
#include <condition_variable>
#include <deque>
#include <unordered_set>
#include <functional>
#include <atomic>
#include <algorithm>
#include <mutex>
#include <chrono>

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

// Dedicated threads, kept for reuse: a thread start costs the loop more than
// the hand-off. A thread that entered another namespace goes back to its own
// after the job (RestoreNetns); one that cannot, exits. Idle threads exit
// after a while, so an idle process holds none.
class ThreadPool {
 public:
  explicit ThreadPool(size_t max) : max_(max) {}
  // False when no thread could be started for the job.
  bool Submit(std::function<void()> job) {
    std::unique_lock<std::mutex> l(m_);
    q_.push_back(std::move(job));
    if (q_.size() > idle_ && threads_ < max_) {
      try {
        std::thread([this] { Run(); }).detach();
        threads_++;
      } catch (const std::system_error&) {
        if (threads_ == 0) { q_.pop_back(); return false; }
      }
    }
    cv_.notify_one();
    return true;
  }

 private:
  void Run() {
    own_ns_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    std::unique_lock<std::mutex> l(m_);
    for (;;) {
      idle_++;
      bool got = cv_.wait_for(l, std::chrono::seconds(2), [this] { return !q_.empty(); });
      idle_--;
      if (!got) break;
      auto job = std::move(q_.front());
      q_.pop_front();
      l.unlock();
      job();
      l.lock();
      if (tainted_) break;
    }
    threads_--;
    l.unlock();
    if (own_ns_ >= 0) close(own_ns_);
  }
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> q_;
  size_t max_, threads_ = 0, idle_ = 0;

 public:
  static thread_local int own_ns_;
  static thread_local bool tainted_;
};
thread_local int ThreadPool::own_ns_ = -1;
thread_local bool ThreadPool::tainted_ = false;

// Never destroyed: detached threads may still wait on it at exit.
static ThreadPool& Pool() {
  static ThreadPool* p = new ThreadPool(64);
  return *p;
}

// Back to the pool thread's own namespace after a job that left it; a
// thread that cannot go back is not reused (it would pin that namespace).
static void RestoreNetns() {
  if (ThreadPool::own_ns_ < 0 || setns(ThreadPool::own_ns_, CLONE_NEWNET) < 0) ThreadPool::tainted_ = true;
}

// Results of pool jobs come back to the loop through one uv_async per env:
// a ThreadSafeFunction per call cost the loop a handle's init and close
// each (2,000 of them for 1,000 sandboxes made and removed). The loop stays
// alive while jobs are out. Never freed: a detached thread may still post
// after the env is gone, and then finds it closed.
class Completions {
 public:
  static Completions* For(Napi::Env env) {
    Completions* c = env.GetInstanceData<Completions>();
    if (c) return c;
    c = new Completions();
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    uv_async_init(loop, &c->async_, OnAsync);
    c->async_.data = c;
    uv_unref((uv_handle_t*)&c->async_);
    c->env_ = env;
    c->ctx_ = new Napi::AsyncContext(env, "cnm-netns-pool");
    // Instance data is freed with the env: mark closed, keep the object.
    // (The addon's only instance data.)
    env.SetInstanceData<Completions, &Completions::Fini>(c);
    return c;
  }
  // Loop thread: one more job out.
  void Begin() { if (pending_++ == 0) uv_ref((uv_handle_t*)&async_); }
  // Loop thread: a job that was never started.
  void Cancel() { if (--pending_ == 0) uv_unref((uv_handle_t*)&async_); }
  // Any thread: `settle` runs on the loop.
  void Post(std::function<void(Napi::Env)> settle) {
    std::lock_guard<std::mutex> l(m_);
    if (closed_) return;
    done_.push_back(std::move(settle));
    uv_async_send(&async_);
  }

 private:
  static void Fini(Napi::Env, Completions* self) { self->Close(); }
  void Close() {
    std::lock_guard<std::mutex> l(m_);
    closed_ = true;
    done_.clear();
    uv_close((uv_handle_t*)&async_, nullptr);
  }
  static void OnAsync(uv_async_t* h) {
    auto* c = static_cast<Completions*>(h->data);
    std::vector<std::function<void(Napi::Env)>> batch;
    {
      std::lock_guard<std::mutex> l(c->m_);
      batch.swap(c->done_);
    }
    if (batch.empty()) return;
    Napi::Env env(c->env_);
    Napi::HandleScope hs(env);
    {
      // Promise reactions run when the scope closes (as after a callback).
      Napi::CallbackScope cs(env, *c->ctx_);
      for (auto& f : batch) {
        try { f(env); } catch (const Napi::Error& e) { napi_fatal_exception(env, e.Value()); }
      }
    }
    c->pending_ -= batch.size();
    if (c->pending_ == 0) uv_unref((uv_handle_t*)&c->async_);
  }
  napi_env env_ = nullptr;
  uv_async_t async_;
  Napi::AsyncContext* ctx_ = nullptr;
  std::mutex m_;
  std::vector<std::function<void(Napi::Env)>> done_;
  bool closed_ = false;
  size_t pending_ = 0;  // loop thread only
};

// Runs `work` on a pool thread (the loop goes on), then
// `settle(env, deferred, result)` back on the loop. Without a thread it
// rejects with EAGAIN.
template <typename R, typename Work, typename Settle>
static Napi::Value OnDetachedThread(Napi::Env env, const std::string& detail, Work work, Settle settle) {
  auto deferred = std::make_shared<Napi::Promise::Deferred>(env);
  Napi::Promise promise = deferred->Promise();
  Completions* c = Completions::For(env);
  c->Begin();
  auto body = [c, work, settle, deferred]() mutable {
    auto r = std::make_shared<R>(work());
    c->Post([deferred, r, settle](Napi::Env env) { settle(env, *deferred, *r); });
  };
  if (!Pool().Submit(std::move(body))) {
    c->Cancel();
    deferred->Reject(MakeErrnoError(env, EAGAIN, "pthread_create", detail));
  }
  return promise;
}

// What a new namespace's thread does before it returns, chosen by the caller
// (TS holds the policy): sysctl writes, lo up, and a netlink socket made in
// the namespace, so no second thread has to enter it later.
struct BoundSocket { int family; int type; std::string addr; int port; };

struct NetnsSetup {
  std::vector<std::pair<std::string, std::string>> sysctls;  // /proc/sys/net/... path, value
  bool loUp = false;
  int netlinkProtocol = -1;
  bool netfilterSocket = false;  // a NETLINK_NETFILTER socket too (nftables inside)
  std::vector<BoundSocket> bound;  // e.g. a resolver's UDP and TCP sockets on 127.0.0.11:53
  // Netlink messages sent on the NETLINK_NETFILTER socket once the rest is
  // done (e.g. an nftables batch then a GETGEN): the last one's reply ends it.
  std::vector<std::string> nfMessages;
};

struct NetnsNewResult { int err = 0; const char* step = ""; std::string detail; int fd = -1; int sockFd = -1; int nfSockFd = -1; std::vector<int> boundFds; bool nfSent = false; };

// A socket made and bound inside the namespace (this thread's), by address text.
static int BindInside(const BoundSocket& b, NetnsNewResult& r) {
  int fd = socket(b.family, b.type | SOCK_CLOEXEC, 0);
  if (fd < 0) { r.err = errno; r.step = "socket"; return -1; }
  int one = 1;
  if (b.type == SOCK_STREAM) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_storage ss = {};
  socklen_t len;
  int ok;
  if (b.family == AF_INET6) {
    auto* s6 = (struct sockaddr_in6*)&ss;
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(b.port);
    ok = inet_pton(AF_INET6, b.addr.c_str(), &s6->sin6_addr);
    len = sizeof *s6;
  } else {
    auto* s4 = (struct sockaddr_in*)&ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons(b.port);
    ok = inet_pton(AF_INET, b.addr.c_str(), &s4->sin_addr);
    len = sizeof *s4;
  }
  if (ok != 1) { r.err = EINVAL; r.step = "inet_pton"; r.detail = b.addr; close(fd); return -1; }
  if (bind(fd, (struct sockaddr*)&ss, len) < 0) { r.err = errno; r.step = "bind"; r.detail = b.addr; close(fd); return -1; }
  // Listening from the start: connections wait in the backlog until a
  // server takes the socket over (it may start only when first asked).
  if (b.type == SOCK_STREAM && listen(fd, 511) < 0) { r.err = errno; r.step = "listen"; r.detail = b.addr; close(fd); return -1; }
  return fd;
}

// Sends `msgs` (sequence numbers 1..n): all but the last in one sendmsg
// (a batch is handled inside it), then the last, with an ACK asked, alone:
// its ACK comes after every reply to the batch. The first error reply fails
// it, naming the message by index. Each read waits at most 5 s.
static void SendNetfilter(int fd, const std::vector<std::string>& msgs, NetnsNewResult& r) {
  std::string buf;
  uint32_t seq = 0;
  size_t lastAt = 0;
  for (const auto& m : msgs) {
    if (m.size() < sizeof(struct nlmsghdr) || m.size() % 4 || ((const struct nlmsghdr*)m.data())->nlmsg_len != m.size()) {
      r.err = EINVAL; r.step = "netfilter message"; r.detail = "#" + std::to_string(seq); return;
    }
    lastAt = buf.size();
    buf += m;
    ((struct nlmsghdr*)&buf[lastAt])->nlmsg_seq = ++seq;
  }
  ((struct nlmsghdr*)&buf[lastAt])->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
  if ((lastAt && send(fd, buf.data(), lastAt, 0) < 0) || send(fd, buf.data() + lastAt, buf.size() - lastAt, 0) < 0) {
    r.err = errno; r.step = "sendmsg"; return;
  }
  std::vector<char> in(1 << 16);
  for (;;) {
    struct pollfd p = {fd, POLLIN, 0};
    int k = poll(&p, 1, 5000);
    if (k <= 0) { r.err = k == 0 ? ETIMEDOUT : errno; r.step = "poll"; return; }
    ssize_t n = recv(fd, in.data(), in.size(), 0);
    if (n < 0) { if (errno == EINTR || errno == EAGAIN) continue; r.err = errno; r.step = "recv"; return; }
    for (struct nlmsghdr* h = (struct nlmsghdr*)in.data(); NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type != NLMSG_ERROR || h->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr))) continue;
      int e = -((struct nlmsgerr*)NLMSG_DATA(h))->error;
      if (e && !r.err) { r.err = e; r.step = "netfilter message"; r.detail = "#" + std::to_string(h->nlmsg_seq - 1); }
      if (h->nlmsg_seq == seq) { if (!r.err) r.nfSent = true; return; }
    }
  }
}

static void SetUpInside(const NetnsSetup& setup, NetnsNewResult& r) {
  for (auto& kv : setup.sysctls) {
    int fd = open(kv.first.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, kv.second.data(), kv.second.size()) < 0) {
      r.err = errno; r.step = fd < 0 ? "open" : "write"; r.detail = kv.first;
      if (fd >= 0) close(fd);
      return;
    }
    close(fd);
  }
  if (setup.loUp) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr = {};
    strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0 ||
        (ifr.ifr_flags |= IFF_UP, ioctl(s, SIOCSIFFLAGS, &ifr) < 0)) {
      r.err = errno; r.step = "SIOCSIFFLAGS"; r.detail = "lo";
      if (s >= 0) close(s);
      return;
    }
    close(s);
  }
  if (setup.netlinkProtocol >= 0) {
    r.sockFd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, setup.netlinkProtocol);
    if (r.sockFd < 0) { r.err = errno; r.step = "socket"; return; }
  }
  if (setup.netfilterSocket) {
    r.nfSockFd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_NETFILTER);
    if (r.nfSockFd < 0) { r.err = errno; r.step = "socket"; return; }
  }
  for (auto& b : setup.bound) {
    int fd = BindInside(b, r);
    if (fd < 0) return;
    r.boundFds.push_back(fd);
  }
  if (!setup.nfMessages.empty()) {
    if (r.nfSockFd < 0) { r.err = EINVAL; r.step = "netfilter message"; r.detail = "no netfilter socket"; return; }
    SendNetfilter(r.nfSockFd, setup.nfMessages, r);
  }
}

// netnsNewAsync(bindPath?, {sysctls?: [path, value][], loUp?, netlinkProtocol?})
// -> Promise<{fd, sockFd?}>: a new namespace made on a detached dedicated
// thread, so the loop keeps sending netlink requests meanwhile (namespace
// creation is slow in the kernel).
static Napi::Value NetnsNewAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  NetnsSetup setup;
  if (info[1].IsObject()) {
    Napi::Object o = info[1].As<Napi::Object>();
    if (Has(o, "sysctls")) {
      Napi::Array a = o.Get("sysctls").As<Napi::Array>();
      for (uint32_t i = 0; i < a.Length(); i++) {
        Napi::Array kv = a.Get(i).As<Napi::Array>();
        setup.sysctls.push_back({kv.Get(0u).As<Napi::String>().Utf8Value(), kv.Get(1u).As<Napi::String>().Utf8Value()});
      }
    }
    setup.loUp = Has(o, "loUp") && Bool(o, "loUp");
    if (Has(o, "netlinkProtocol")) setup.netlinkProtocol = I32(o, "netlinkProtocol");
    setup.netfilterSocket = Has(o, "netfilterSocket") && Bool(o, "netfilterSocket");
    if (Has(o, "bound")) {
      Napi::Array a = o.Get("bound").As<Napi::Array>();
      for (uint32_t i = 0; i < a.Length(); i++) {
        Napi::Object b = a.Get(i).As<Napi::Object>();
        setup.bound.push_back({I32(b, "family"), I32(b, "type"), b.Get("address").As<Napi::String>().Utf8Value(), I32(b, "port")});
      }
    }
    if (Has(o, "nfMessages") && o.Get("nfMessages").IsArray()) {
      Napi::Array a = o.Get("nfMessages").As<Napi::Array>();
      for (uint32_t i = 0; i < a.Length(); i++) {
        Napi::Value v = a.Get(i);
        if (!v.IsBuffer()) { Napi::TypeError::New(env, "nfMessages: Buffers expected").ThrowAsJavaScriptException(); return env.Undefined(); }
        auto b = v.As<Napi::Buffer<char>>();
        setup.nfMessages.emplace_back(b.Data(), b.Length());
      }
    }
  }
  return OnDetachedThread<NetnsNewResult>(env, path, [path, setup]() {
    NetnsNewResult r;
    if (unshare(CLONE_NEWNET) < 0) { r.err = errno; r.step = "unshare"; }
    else if (!path.empty() && mount("/proc/thread-self/ns/net", path.c_str(), "none", MS_BIND, nullptr) < 0) {
      r.err = errno; r.step = "mount";
    } else {
      r.fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
      if (r.fd < 0) { r.err = errno; r.step = "open"; }
      else SetUpInside(setup, r);
      if (r.err) {
        // Undo: the namespace dies once this thread leaves it and nothing pins it.
        if (r.fd >= 0) close(r.fd);
        if (r.sockFd >= 0) close(r.sockFd);
        if (r.nfSockFd >= 0) close(r.nfSockFd);
        for (int b : r.boundFds) close(b);
        r.boundFds.clear();
        r.fd = r.sockFd = r.nfSockFd = -1;
        if (!path.empty()) umount2(path.c_str(), MNT_DETACH);
      }
    }
    // The namespace stays pinned by its fd or mount, not by this thread.
    if (r.step != std::string("unshare")) RestoreNetns();
    if (r.detail.empty()) r.detail = path;
    return r;
  }, [](Napi::Env env, Napi::Promise::Deferred& d, const NetnsNewResult& r) {
    if (r.err) return d.Reject(MakeErrnoError(env, r.err, r.step, r.detail));
    Napi::Object o = Napi::Object::New(env);
    o.Set("fd", r.fd);
    if (r.sockFd >= 0) o.Set("sockFd", r.sockFd);
    if (r.nfSockFd >= 0) o.Set("nfSockFd", r.nfSockFd);
    Napi::Array bound = Napi::Array::New(env, r.boundFds.size());
    for (size_t i = 0; i < r.boundFds.size(); i++) bound.Set(i, r.boundFds[i]);
    o.Set("boundFds", bound);
    if (r.nfSent) o.Set("nfSent", true);
    d.Resolve(o);
  });
}

// umountManyAsync(targets[], flags, unlink) -> Promise<(Error|undefined)[]>:
// umount2 of each target (then unlink(2), with `unlink`; not mounted is fine
// then), spread over up to 32 pool threads (half the pool): each waits for an RCU grace
// period, so they overlap, and the loop makes one call for a tick's worth of
// namespace removals instead of one each.
struct UmountMany {
  std::vector<std::string> targets;
  std::vector<int> err;
  std::vector<const char*> step;
  int flags = 0;
  bool unlinkAfter = false;
  std::atomic<size_t> next{0};
  std::atomic<size_t> running{0};
};

// One entry per target: undefined, or the error of its failed step.
static Napi::Array UmountResults(Napi::Env env, const UmountMany& job) {
  Napi::Array out = Napi::Array::New(env, job.targets.size());
  for (size_t i = 0; i < job.targets.size(); i++) {
    out.Set(i, job.err[i] ? MakeErrnoError(env, job.err[i], job.step[i], job.targets[i]) : env.Undefined());
  }
  return out;
}

static Napi::Value UmountManyAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray()) { Napi::TypeError::New(env, "umountManyAsync: an array of paths expected").ThrowAsJavaScriptException(); return env.Undefined(); }
  auto job = std::make_shared<UmountMany>();
  Napi::Array a = info[0].As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value v = a.Get(i);
    if (!v.IsString()) { Napi::TypeError::New(env, "umountManyAsync: paths must be strings").ThrowAsJavaScriptException(); return env.Undefined(); }
    job->targets.push_back(v.As<Napi::String>().Utf8Value());
  }
  job->flags = info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 0;
  job->unlinkAfter = info[2].IsBoolean() && info[2].As<Napi::Boolean>().Value();
  job->err.assign(job->targets.size(), 0);
  job->step.assign(job->targets.size(), "");
  auto deferred = std::make_shared<Napi::Promise::Deferred>(env);
  Napi::Promise promise = deferred->Promise();
  size_t n = job->targets.size();
  if (!n) { deferred->Resolve(Napi::Array::New(env)); return promise; }
  Completions* c = Completions::For(env);
  c->Begin();
  // Half the pool at most: namespace creations submitted meanwhile still find threads.
  size_t threads = std::min<size_t>(n, 32);
  job->running = threads;
  auto body = [c, job, deferred]() {
    for (size_t i; (i = job->next.fetch_add(1)) < job->targets.size();) {
      const char* t = job->targets[i].c_str();
      if (umount2(t, job->flags) < 0 && !(job->unlinkAfter && (errno == EINVAL || errno == ENOENT))) {
        job->err[i] = errno; job->step[i] = "umount2";
      } else if (job->unlinkAfter && unlink(t) < 0 && errno != ENOENT) {
        job->err[i] = errno; job->step[i] = "unlink";
      }
    }
    if (job->running.fetch_sub(1) != 1) return;  // the last one out reports
    c->Post([job, deferred](Napi::Env env) { deferred->Resolve(UmountResults(env, *job)); });
  };
  size_t started = 0;
  for (size_t k = 0; k < threads; k++) if (Pool().Submit(body)) started++;
  if (started < threads) {
    // Fewer threads than asked: the started ones do all the work; the
    // missing ones count as done. None at all: EAGAIN.
    if (!started) { c->Cancel(); deferred->Reject(MakeErrnoError(env, EAGAIN, "pthread_create", job->targets[0])); return promise; }
    if (job->running.fetch_sub(threads - started) == threads - started) {
      // Every started job finished already and none reported: report now.
      c->Cancel();
      deferred->Resolve(UmountResults(env, *job));
    }
  }
  return promise;
}

// procNetnsHoldersAsync(dev, inodes[]) -> Promise<inode[]>: which of these
// network namespaces (nsfs device `dev`, inode numbers) a thread is in or
// an open fd refers to, over every process in /proc, like `lsns -t net`
// does. On a pool thread: a walk over thousands of fds took the loop
// ~70 ms per teardown batch in JS.
struct Holders { dev_t dev; std::vector<uint64_t> want; std::vector<uint64_t> held; };

static bool NumericName(const char* n) {
  if (!*n) return false;
  for (; *n; n++) if (*n < '0' || *n > '9') return false;
  return true;
}

static void WalkProc(Holders& h) {
  std::unordered_set<uint64_t> want(h.want.begin(), h.want.end()), seen;
  auto mark = [&](uint64_t ino) { if (want.count(ino)) seen.insert(ino); };
  char link[PATH_MAX + 1];
  auto check = [&](const std::string& p) {
    ssize_t n = readlink(p.c_str(), link, PATH_MAX);
    if (n <= 0) return;
    link[n] = 0;
    unsigned long long ino;
    if (sscanf(link, "net:[%llu]", &ino) == 1) { mark(ino); return; }
    // An fd opened through a bind mount reads as that path: stat says what it is.
    struct stat st;
    if (link[0] == '/' && stat(p.c_str(), &st) == 0 && st.st_dev == h.dev) mark(st.st_ino);
  };
  auto list = [](const std::string& dir, std::vector<std::string>& out) {
    out.clear();
    DIR* d = opendir(dir.c_str());
    if (!d) return;
    while (struct dirent* e = readdir(d)) if (NumericName(e->d_name)) out.emplace_back(e->d_name);
    closedir(d);
  };
  std::vector<std::string> pids, tids, fds;
  list("/proc", pids);
  for (const auto& pid : pids) {
    std::string base = "/proc/" + pid;
    list(base + "/task", tids);
    for (const auto& t : tids) check(base + "/task/" + t + "/ns/net");
    list(base + "/fd", fds);
    for (const auto& f : fds) check(base + "/fd/" + f);
  }
  h.held.assign(seen.begin(), seen.end());
}

static Napi::Value ProcNetnsHoldersAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || !info[1].IsArray()) { Napi::TypeError::New(env, "procNetnsHoldersAsync(dev, inodes[])").ThrowAsJavaScriptException(); return env.Undefined(); }
  Holders h;
  h.dev = (dev_t)info[0].As<Napi::Number>().Int64Value();
  Napi::Array a = info[1].As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value v = a.Get(i);
    if (!v.IsNumber()) { Napi::TypeError::New(env, "procNetnsHoldersAsync: inodes must be numbers").ThrowAsJavaScriptException(); return env.Undefined(); }
    h.want.push_back((uint64_t)v.As<Napi::Number>().Int64Value());
  }
  return OnDetachedThread<Holders>(env, "/proc", [h]() mutable {
    WalkProc(h);
    return h;
  }, [](Napi::Env env, Napi::Promise::Deferred& d, const Holders& r) {
    Napi::Array out = Napi::Array::New(env, r.held.size());
    for (size_t i = 0; i < r.held.size(); i++) out.Set(i, Napi::Number::New(env, (double)r.held[i]));
    d.Resolve(out);
  });
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

// socketInNetns(nsFd, family, type, addr?, port?, proto?, flags?) -> fd of a
// socket created (and optionally bound) inside the namespace; Node can adopt
// it by fd. flags: SOCK_FLAG_NO_REUSEADDR (a stream socket gets SO_REUSEADDR
// unless asked not to: a bound one without it holds its port against every
// later bind), SOCK_FLAG_V6ONLY.
enum { SOCK_FLAG_NO_REUSEADDR = 1, SOCK_FLAG_V6ONLY = 2 };
static Napi::Value SocketInNetns(const Napi::CallbackInfo& info) {
  int nsFd = info[0].As<Napi::Number>().Int32Value();
  int family = info[1].As<Napi::Number>().Int32Value();
  int type = info[2].As<Napi::Number>().Int32Value();
  std::string addr = info[3].IsString() ? info[3].As<Napi::String>().Utf8Value() : "";
  int port = info[4].IsNumber() ? info[4].As<Napi::Number>().Int32Value() : -1;
  int proto = info[5].IsNumber() ? info[5].As<Napi::Number>().Int32Value() : 0;
  int flags = info[6].IsNumber() ? info[6].As<Napi::Number>().Int32Value() : 0;
  // In this thread's own namespace (nsFd < 0) there is nothing to enter: no thread.
  auto run = [&](auto f) { if (nsFd < 0) { ThreadResult r; f(r); return r; } return OnThread(f); };
  ThreadResult r = run([&](ThreadResult& r) {
    if (nsFd >= 0 && setns(nsFd, CLONE_NEWNET) < 0) { r.err = errno; r.step = "setns"; return; }
    int fd = socket(family, type | SOCK_CLOEXEC, proto);
    if (fd < 0) { r.err = errno; r.step = "socket"; return; }
    int one = 1;
    if (type == SOCK_STREAM && !(flags & SOCK_FLAG_NO_REUSEADDR)) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (family == AF_INET6 && (flags & SOCK_FLAG_V6ONLY) && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) {
      r.err = errno; r.step = "setsockopt"; close(fd); return;
    }
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
  exports.Set("netnsNewAsync", Napi::Function::New(env, NetnsNewAsync));
  exports.Set("umountManyAsync", Napi::Function::New(env, UmountManyAsync));
  exports.Set("procNetnsHoldersAsync", Napi::Function::New(env, ProcNetnsHoldersAsync));
  exports.Set("mount", Napi::Function::New(env, Mount));
  exports.Set("procFileInNetns", Napi::Function::New(env, ProcFileInNetns));
  exports.Set("socketInNetns", Napi::Function::New(env, SocketInNetns));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd));
}

}  // namespace cnm
