// Tables (like `nft add/delete/list table`): NFT_MSG_*TABLE via libnftnl.
#include "nftutil.h"
#include <libnftnl/table.h>

namespace cnm {

// nftTable(cmd, family, nlFlags, {name?, flags?, handle?, userdata?})
static Napi::Value BuildTable(const Napi::CallbackInfo& info) {
  BuildArgs a = Args(info);
  struct nftnl_table* t = nftnl_table_alloc();
  if (Has(a.obj, "name")) nftnl_table_set_str(t, NFTNL_TABLE_NAME, Str(a.obj, "name").c_str());
  if (Has(a.obj, "flags")) nftnl_table_set_u32(t, NFTNL_TABLE_FLAGS, U32(a.obj, "flags"));
  if (Has(a.obj, "handle")) nftnl_table_set_u64(t, NFTNL_TABLE_HANDLE, (uint64_t)Num(a.obj, "handle"));
  PutUserdata(a.obj, t, nftnl_table_set_data, NFTNL_TABLE_USERDATA);
  NftMsg m(1024 + BufLen(a.obj, "userdata"), a.cmd, a.family, a.flags);
  nftnl_table_nlmsg_build_payload(m.nlh, t);
  nftnl_table_free(t);
  return m.Take(info.Env());
}

void InitNftTable(Napi::Env env, Napi::Object exports) {
  exports.Set("nftTable", Napi::Function::New(env, BuildTable));
}

}  // namespace cnm
