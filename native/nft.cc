// nftables (NETLINK_NETFILTER) entry points: registers the per-object
// builders (nft_table/chain/rule/set.cc, expressions in nft_expr.cc),
// builds batch delimiters and generation requests, and dispatches received
// messages to the right parser.
#include "nftutil.h"
#include <libnftnl/gen.h>
#include <sys/socket.h>
#include <cerrno>

namespace cnm {

// nftBatch(begin: boolean, genid?): NFNL_MSG_BATCH_BEGIN/END for the
// nftables subsystem. With a genid the kernel refuses the whole batch
// (ERESTART) if the ruleset changed since that generation was read.
static Napi::Value Batch(const Napi::CallbackInfo& info) {
  std::vector<char> buf(256, 0);
  bool begin = info[0].ToBoolean();
  struct nlmsghdr* nlh = begin ? nftnl_batch_begin(buf.data(), 0) : nftnl_batch_end(buf.data(), 0);
  if (begin && info[1].IsNumber()) mnl_attr_put_u32(nlh, NFNL_BATCH_GENID, htonl(info[1].As<Napi::Number>().Uint32Value()));
  return Bytes(info.Env(), nlh, nlh->nlmsg_len);
}

// nftGetGen(): NFT_MSG_GETGEN, like the first step of every `nft` run.
static Napi::Value GetGen(const Napi::CallbackInfo& info) {
  NftMsg m(256, NFT_MSG_GETGEN, NFPROTO_UNSPEC_, 0);
  return m.Take(info.Env());
}

// nftSockBuf(fd, send, bytes): a batch goes out in one sendmsg, which
// netlink refuses beyond the socket's send buffer, and its echoes must fit
// the receive buffer; grow them for big transactions (as nft does).
// Returns the effective size.
static Napi::Value SockBuf(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  bool send = info[1].ToBoolean();
  int bytes = info[2].As<Napi::Number>().Int32Value();
  int force = send ? SO_SNDBUFFORCE : SO_RCVBUFFORCE, plain = send ? SO_SNDBUF : SO_RCVBUF;
  if (setsockopt(fd, SOL_SOCKET, force, &bytes, sizeof bytes) < 0 &&
      setsockopt(fd, SOL_SOCKET, plain, &bytes, sizeof bytes) < 0)
    ThrowErrno(info.Env(), errno, "setsockopt", send ? "SO_SNDBUF" : "SO_RCVBUF");
  int v = 0;
  socklen_t l = sizeof v;
  getsockopt(fd, SOL_SOCKET, plain, &v, &l);
  return Napi::Number::New(info.Env(), v);
}

void InitNft(Napi::Env env, Napi::Object exports) {
  exports.Set("nftSockBuf", Napi::Function::New(env, SockBuf));
  InitNftTable(env, exports);
  InitNftChain(env, exports);
  InitNftRule(env, exports);
  InitNftSet(env, exports);
  exports.Set("nftBatch", Napi::Function::New(env, Batch));
  exports.Set("nftGetGen", Napi::Function::New(env, GetGen));
}

}  // namespace cnm
