// NetlinkSocket: one non-blocking netlink socket polled on the event loop.
// It only writes bytes and reads messages; sequence numbers, the request
// window and dump retries live in TypeScript (src/netlink/connection.ts).
#include "common.h"
#include <uv.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cerrno>
#include <thread>
#include <vector>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <system_error>

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif
#ifndef NETLINK_GET_STRICT_CHK
#define NETLINK_GET_STRICT_CHK 12
#endif

namespace cnm {

struct OpenResult { int fd = -1; int err = 0; const char* step = ""; };

// Creates the socket; when nsFd >= 0 this runs on a dedicated short-lived
// thread that enters the namespace first, so no loop or pool thread ever
// changes namespace. The socket keeps the namespace it was created in.
static OpenResult OpenIn(int protocol, int nsFd) {
  OpenResult r;
  auto body = [&]() {
    if (nsFd >= 0 && setns(nsFd, CLONE_NEWNET) < 0) { r.err = errno; r.step = "setns"; return; }
    r.fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    if (r.fd < 0) { r.err = errno; r.step = "socket"; }
  };
  if (nsFd < 0) {
    body();
  } else {
    try {
      std::thread(body).join();
    } catch (const std::system_error& e) {
      r.fd = -1; r.err = EAGAIN; r.step = "pthread_create";
    }
  }
  return r;
}

// What the socket shares with the writer thread. The fd is closed when the
// last owner (the JS object or a queued write) lets go, so a write never
// lands on a closed or reused descriptor.
struct SocketShared {
  int fd = -1;
  std::mutex m;
  bool closed = false;
  uv_async_t* wake = nullptr;  // main-loop handle; used only under `m` while !closed
  std::vector<std::pair<std::vector<uint32_t>, int>> failed;  // (seqs of a failed write, errno)
  ~SocketShared() { if (fd >= 0) ::close(fd); }
};

// One writer thread for every socket: sendto() runs the kernel's work for
// the request (rtnetlink does it inside the call), so doing it here lets the
// loop thread build and parse messages meanwhile on the other core. Writes
// to one socket stay in order (one FIFO).
class Writer {
 public:
  static Writer& Get() {
    static Writer* w = new Writer();  // never destroyed: the thread lives with the process
    return *w;
  }
  void Push(std::shared_ptr<SocketShared> s, std::vector<uint8_t>&& data) {
    bool wake;
    {
      std::lock_guard<std::mutex> g(m_);
      q_.push_back({std::move(s), std::move(data)});
      // A busy writer finds the job on its own: waking a running thread
      // costs a futex call and an IPI per write.
      wake = idle_;
      idle_ = false;
    }
    if (wake) cv_.notify_one();
  }

 private:
  struct Job { std::shared_ptr<SocketShared> s; std::vector<uint8_t> data; };
  Writer() { std::thread([this] { Run(); }).detach(); }
  void Run() {
    for (;;) {
      Job j;
      {
        std::unique_lock<std::mutex> l(m_);
        while (q_.empty()) {
          idle_ = true;
          cv_.wait(l);
        }
        idle_ = false;
        j = std::move(q_.front());
        q_.pop_front();
      }
      {
        // Closed meanwhile: its requests were already failed; don't act on them.
        std::lock_guard<std::mutex> g(j.s->m);
        if (j.s->closed) continue;
      }
      struct sockaddr_nl sa = {};
      sa.nl_family = AF_NETLINK;
      ssize_t n;
      do {
        n = sendto(j.s->fd, j.data.data(), j.data.size(), 0, (struct sockaddr*)&sa, sizeof sa);
      } while (n < 0 && errno == EINTR);
      if (n >= 0) continue;
      int err = errno;
      // Report the failure as an error reply to every request the write carried.
      std::vector<uint32_t> seqs;
      int len = (int)j.data.size();
      for (auto* h = (struct nlmsghdr*)j.data.data(); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) seqs.push_back(h->nlmsg_seq);
      std::lock_guard<std::mutex> g(j.s->m);
      if (j.s->closed) continue;
      j.s->failed.push_back({std::move(seqs), err});
      uv_async_send(j.s->wake);
    }
  }
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<Job> q_;
  bool idle_ = false;
};

// One read buffer per thread for every socket: reads happen on the loop
// thread and parsing copies what it keeps, so a socket needs none of its own
// (a 64 KiB buffer per socket was zero-filled for each of 1,000 sandboxes).
static std::vector<uint8_t>& ReadBuffer() {
  static thread_local std::vector<uint8_t> buf(64 * 1024);
  return buf;
}

class NetlinkSocket : public Napi::ObjectWrap<NetlinkSocket> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NetlinkSocket", {
      InstanceMethod("write", &NetlinkSocket::Write),
      InstanceMethod("writeAsync", &NetlinkSocket::WriteAsync),
      InstanceMethod("read", &NetlinkSocket::Read),
      InstanceMethod("addMembership", &NetlinkSocket::AddMembership),
      InstanceMethod("dropMembership", &NetlinkSocket::DropMembership),
      InstanceMethod("setStrict", &NetlinkSocket::SetStrict),
      InstanceMethod("ref", &NetlinkSocket::Ref),
      InstanceMethod("unref", &NetlinkSocket::Unref),
      InstanceMethod("close", &NetlinkSocket::Close),
      InstanceAccessor("portId", &NetlinkSocket::PortId, nullptr),
      InstanceAccessor("fd", &NetlinkSocket::Fd, nullptr),
      InstanceAccessor("rcvbuf", &NetlinkSocket::Rcvbuf, nullptr),
    });
  }

  // new NetlinkSocket(protocol, nsFd, rcvbufBytes, onReadable, adoptFd?)
  NetlinkSocket(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NetlinkSocket>(info) {
    Napi::Env env = info.Env();
    protocol_ = info[0].As<Napi::Number>().Int32Value();
    int nsFd = info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : -1;
    int rcvbuf = info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : 0;
    // An fd made earlier (by netnsNewAsync, inside a new namespace) is adopted.
    int adopt = info[4].IsNumber() ? info[4].As<Napi::Number>().Int32Value() : -1;
    if (adopt >= 0) {
      fd_ = adopt;
    } else {
      OpenResult r = OpenIn(protocol_, nsFd);
      if (r.fd < 0) ThrowErrno(env, r.err, r.step);
      fd_ = r.fd;
    }
    int one = 1;
    // Extended ACK carries the kernel's error text; CAP_ACK keeps ACKs small
    // (the request is not echoed back), so more fit in the receive buffer.
    setsockopt(fd_, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
    setsockopt(fd_, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
    if (rcvbuf > 0) {
      if (setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0)
        setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    }
    int sndbuf = 4 << 20;
    if (setsockopt(fd_, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) < 0)
      setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    struct sockaddr_nl sa = {};
    sa.nl_family = AF_NETLINK;
    if (bind(fd_, (struct sockaddr*)&sa, sizeof sa) < 0) {
      int e = errno; ::close(fd_); fd_ = -1; ThrowErrno(env, e, "bind");
    }
    socklen_t len = sizeof sa;
    getsockname(fd_, (struct sockaddr*)&sa, &len);
    portId_ = sa.nl_pid;
    shared_ = std::make_shared<SocketShared>();
    shared_->fd = fd_;
    if (info[3].IsFunction()) {
      onReadable_ = Napi::Persistent(info[3].As<Napi::Function>());
      asyncContext_ = new Napi::AsyncContext(env, "NetlinkSocket");
      poll_ = new uv_poll_t;
      uv_loop_t* loop = nullptr;
      napi_get_uv_event_loop(env, &loop);
      uv_poll_init(loop, poll_, fd_);
      poll_->data = this;
      uv_poll_start(poll_, UV_READABLE, OnPoll);
      wake_ = new uv_async_t;
      uv_async_init(loop, wake_, OnWake);
      wake_->data = this;
      uv_unref((uv_handle_t*)wake_);
      shared_->wake = wake_;
      Napi::ObjectWrap<NetlinkSocket>::Ref();  // alive while polling
      polling_ = true;
    }
  }

  ~NetlinkSocket() { DoClose(); }

 private:
  // Tells JS there is something to read. MakeCallback drains microtasks, so
  // promises settled in JS run now; a throw in JS must reach
  // 'uncaughtException', not abort the process.
  void NotifyJs() {
    Napi::Env env = onReadable_.Env();
    Napi::HandleScope scope(env);
    try {
      onReadable_.MakeCallback(env.Global(), {}, *asyncContext_);
    } catch (const Napi::Error& e) {
      napi_fatal_exception(env, e.Value());
    }
  }

  static void OnPoll(uv_poll_t* h, int status, int events) {
    auto* self = static_cast<NetlinkSocket*>(h->data);
    if (!self->polling_) return;
    self->NotifyJs();
    // ENOBUFS raises POLLERR, on which libuv stops the handle; the read
    // above consumed the error, so listen again.
    if (status < 0 && self->polling_) uv_poll_start(self->poll_, UV_READABLE, OnPoll);
  }

  // A write failed on the writer thread: let JS read the error replies.
  static void OnWake(uv_async_t* h) {
    auto* self = static_cast<NetlinkSocket*>(h->data);
    if (self->polling_) self->NotifyJs();
  }

  // writeAsync(buf): queued for the writer thread; failures come back as
  // error replies from read().
  Napi::Value WriteAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fd_ < 0 || !wake_) ThrowErrno(env, EBADF, "sendto");
    auto b = info[0].As<Napi::Buffer<uint8_t>>();
    Writer::Get().Push(shared_, std::vector<uint8_t>(b.Data(), b.Data() + b.Length()));
    return Napi::Number::New(env, (double)b.Length());
  }

  Napi::Value Write(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fd_ < 0) ThrowErrno(env, EBADF, "sendto");
    auto b = info[0].As<Napi::Buffer<uint8_t>>();
    struct sockaddr_nl sa = {};
    sa.nl_family = AF_NETLINK;
    ssize_t n;
    do {
      n = sendto(fd_, b.Data(), b.Length(), 0, (struct sockaddr*)&sa, sizeof sa);
    } while (n < 0 && errno == EINTR);
    if (n < 0) ThrowErrno(env, errno, "sendto");
    return Napi::Number::New(env, (double)n);
  }

  // Drains what is queued (up to maxDatagrams) and returns parsed messages.
  // A lost-messages condition (ENOBUFS) is returned as {type: -1, overrun}.
  Napi::Value Read(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Array out = Napi::Array::New(env);
    if (fd_ < 0) return out;
    int maxDgrams = info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 256;
    uint32_t idx = 0;
    std::vector<std::pair<std::vector<uint32_t>, int>> failed;
    {
      std::lock_guard<std::mutex> g(shared_->m);
      failed.swap(shared_->failed);
    }
    for (auto& f : failed) {
      for (uint32_t seq : f.first) {
        Napi::Object o = Napi::Object::New(env);
        o.Set("type", NLMSG_ERROR);
        o.Set("flags", 0);
        o.Set("seq", seq);
        o.Set("pid", portId_);
        o.Set("error", f.second);
        o.Set("code", ErrnoCode(f.second));
        o.Set("writeFailed", true);
        out.Set(idx++, o);
      }
    }
    // EINVAL from a read is not about the read: recvmsg continues a running
    // dump after checking, unlocked, that one runs; when the writer thread's
    // sendmsg finished that dump meanwhile, the kernel's netlink_dump() fails
    // with EINVAL and leaves it as the socket's pending error. Nothing is
    // lost (the dump finished), so the read is retried; the error is
    // cleared by being reported once.
    int einval = 0;  // bounded: a persistent EINVAL would be a real error
    for (int d = 0; d < maxDgrams; d++) {
      // Size the datagram first: replies larger than the buffer (VF info,
      // big nft rules) must not be truncated.
      ssize_t want = recv(fd_, nullptr, 0, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
      if (want < 0) {
        if (errno == EINTR || (errno == EINVAL && ++einval < 8)) { d--; continue; }
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        if (errno == ENOBUFS) {
          Napi::Object o = Napi::Object::New(env);
          o.Set("type", -1);
          o.Set("overrun", true);
          out.Set(idx++, o);
          continue;
        }
        ThrowErrno(env, errno, "recvmsg");
      }
      std::vector<uint8_t>& buf = ReadBuffer();
      if ((size_t)want > buf.size()) buf.resize(want + 4096);
      struct sockaddr_nl sa = {};
      struct iovec iov = {buf.data(), buf.size()};
      struct msghdr mh = {};
      mh.msg_name = &sa;
      mh.msg_namelen = sizeof sa;
      mh.msg_iov = &iov;
      mh.msg_iovlen = 1;
      ssize_t n = recvmsg(fd_, &mh, MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR || (errno == EINVAL && ++einval < 8)) { d--; continue; }
        if (errno == EAGAIN) break;
        if (errno == ENOBUFS) { d--; continue; }
        ThrowErrno(env, errno, "recvmsg");
      }
      if (sa.nl_pid != 0) continue;  // only the kernel talks to us
      int len = (int)n;
      for (struct nlmsghdr* h = (struct nlmsghdr*)buf.data(); NLMSG_OK(h, len);
           h = NLMSG_NEXT(h, len)) {
        out.Set(idx++, ParseMessage(env, protocol_, h));
      }
    }
    return out;
  }

  Napi::Value AddMembership(const Napi::CallbackInfo& info) {
    int g = info[0].As<Napi::Number>().Int32Value();
    if (setsockopt(fd_, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &g, sizeof g) < 0)
      ThrowErrno(info.Env(), errno, "setsockopt", "NETLINK_ADD_MEMBERSHIP");
    return info.Env().Undefined();
  }
  Napi::Value DropMembership(const Napi::CallbackInfo& info) {
    int g = info[0].As<Napi::Number>().Int32Value();
    if (setsockopt(fd_, SOL_NETLINK, NETLINK_DROP_MEMBERSHIP, &g, sizeof g) < 0)
      ThrowErrno(info.Env(), errno, "setsockopt", "NETLINK_DROP_MEMBERSHIP");
    return info.Env().Undefined();
  }
  Napi::Value SetStrict(const Napi::CallbackInfo& info) {
    int v = info[0].ToBoolean() ? 1 : 0;
    if (setsockopt(fd_, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &v, sizeof v) < 0)
      ThrowErrno(info.Env(), errno, "setsockopt", "NETLINK_GET_STRICT_CHK");
    return info.Env().Undefined();
  }
  // ref/unref: an idle event socket should not keep the process alive.
  Napi::Value Ref(const Napi::CallbackInfo& info) {
    if (poll_) uv_ref((uv_handle_t*)poll_);
    return info.Env().Undefined();
  }
  Napi::Value Unref(const Napi::CallbackInfo& info) {
    if (poll_) uv_unref((uv_handle_t*)poll_);
    return info.Env().Undefined();
  }
  Napi::Value Close(const Napi::CallbackInfo& info) {
    DoClose();
    return info.Env().Undefined();
  }
  void DoClose() {
    if (shared_) {
      std::lock_guard<std::mutex> g(shared_->m);
      shared_->closed = true;
    }
    if (polling_) {
      polling_ = false;
      uv_poll_stop(poll_);
      uv_close((uv_handle_t*)poll_, [](uv_handle_t* h) { delete (uv_poll_t*)h; });
      poll_ = nullptr;
      uv_close((uv_handle_t*)wake_, [](uv_handle_t* h) { delete (uv_async_t*)h; });
      wake_ = nullptr;
      delete asyncContext_;
      asyncContext_ = nullptr;
      Napi::ObjectWrap<NetlinkSocket>::Unref();
    }
    // The fd itself closes with the last owner (queued writes may hold it).
    fd_ = -1;
    shared_.reset();
  }
  Napi::Value PortId(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), portId_); }
  Napi::Value Fd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }
  Napi::Value Rcvbuf(const Napi::CallbackInfo& info) {
    int v = 0; socklen_t l = sizeof v;
    getsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &v, &l);
    return Napi::Number::New(info.Env(), v);
  }

  int fd_ = -1;
  int protocol_ = 0;
  uint32_t portId_ = 0;
  bool polling_ = false;
  uv_poll_t* poll_ = nullptr;
  uv_async_t* wake_ = nullptr;
  std::shared_ptr<SocketShared> shared_;
  Napi::FunctionReference onReadable_;
  Napi::AsyncContext* asyncContext_ = nullptr;
};

void InitSocket(Napi::Env env, Napi::Object exports) {
  exports.Set("NetlinkSocket", NetlinkSocket::Define(env));
}

}  // namespace cnm
