// nftables (NETLINK_NETFILTER) builders and parsers live in nft_*.cc; this
// file registers them. Filled in by the nftables layer.
#include "common.h"

namespace cnm {
Napi::Value ParseNetfilter(Napi::Env env, const struct nlmsghdr* nlh) { return env.Undefined(); }
void InitNft(Napi::Env env, Napi::Object exports) {}
}  // namespace cnm
