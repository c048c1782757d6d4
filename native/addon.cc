// Module entry: registers the socket, namespace helpers and the builders.
#include "common.h"

namespace cnm {
static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InitError(env, exports);
  InitSocket(env, exports);
  InitNetns(env, exports);
  InitLink(env, exports);
  InitAddr(env, exports);
  InitRoute(env, exports);
  InitNeigh(env, exports);
  InitNft(env, exports);
  InitFlock(env, exports);
  InitFdWatch(env, exports);
  InitParse(env, exports);
  return exports;
}
}  // namespace cnm

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  return cnm::Init(env, exports);
}

NODE_API_MODULE(cnm_netlink, InitModule)
