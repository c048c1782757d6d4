// libFuzzer harness for the parse cores, one binary per entry point
// (scripts/fuzz.sh builds it with -DCNM_ENTRY=<name>). It runs the same
// code as the addon (parse_msg.cc, parse_rtnl.cc, parse_nft.cc over
// sanitize.cc), writing into a sink that copies every string and byte
// range, so a read past what was validated shows up under ASan. Malformed
// input must end in cnm::Malformed; a crash, exit(), leak or UB is a finding.
//
// Input layout per entry point (the corpus under native/fuzz/corpus/<name>
// follows it):
//   link, addr, route, neigh, nft_table, nft_chain, nft_rule, nft_set,
//   nft_setelem, nft_gen: the message after its nlmsghdr (family header and
//   attributes); the harness puts the header of that entry's type in front.
//   error: 2 bytes of nlmsg_flags (ACK_TLVS, CAPPED matter), then the
//   NLMSG_ERROR payload; done: the NLMSG_DONE payload.
//   nft_exprs: one NFTA_RULE_EXPRESSIONS attribute, as nftRuleExprs gets it.
//   datagram_route, datagram_nft: whole datagrams, as NetlinkSocket.read()
//   gets them from the kernel.
#include "../out.h"
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#ifndef CNM_ENTRY
#error "build with -DCNM_ENTRY=<entry point>"
#endif
#define CNM_STR2(x) #x
#define CNM_STR1(x) CNM_STR2(x)

namespace {

// Touches everything it is given (the copies are what ASan checks).
class Sink : public cnm::Out {
 public:
  void Num(const char*, double v) override { n_ += v == v ? 1 : 2; }
  void Bool(const char*, bool v) override { n_ += v; }
  void Str(const char*, const char* p, size_t n) override { s_.assign(p, n); n_ += s_.size(); }
  void Bytes(const char*, const void* p, size_t n) override { s_.assign((const char*)p, n); n_ += s_.size(); }
  Out& Obj(const char*) override { kids_.emplace_back(new Sink()); return *kids_.back(); }
  Out& Arr(const char*) override { kids_.emplace_back(new Sink()); return *kids_.back(); }

 private:
  std::string s_;
  size_t n_ = 0;
  std::vector<std::unique_ptr<Sink>> kids_;
};

void One(int protocol, const struct nlmsghdr* nlh) {
  Sink head, body;
  try {
    if (cnm::ParseHead(nlh, head)) cnm::ParseBody(protocol, nlh, body);
  } catch (const cnm::Malformed&) {
  }
}

// A message of the given type around the fuzzer's payload, in an
// exactly-sized heap buffer.
void Framed(int protocol, uint16_t type, uint16_t flags, const uint8_t* data, size_t size) {
  if (size > 65535) return;
  std::unique_ptr<uint8_t[]> buf(new uint8_t[NLMSG_HDRLEN + size]);
  struct nlmsghdr h = {};
  h.nlmsg_len = (uint32_t)(NLMSG_HDRLEN + size);
  h.nlmsg_type = type;
  h.nlmsg_flags = flags;
  memcpy(buf.get(), &h, sizeof h);
  if (size) memcpy(buf.get() + NLMSG_HDRLEN, data, size);
  One(protocol, (const struct nlmsghdr*)buf.get());
}

// As NetlinkSocket.read(): each whole message of one datagram.
void Datagram(int protocol, const uint8_t* data, size_t size) {
  std::unique_ptr<uint8_t[]> buf(new uint8_t[size ? size : 1]);
  if (size) memcpy(buf.get(), data, size);
  int len = (int)size;
  for (struct nlmsghdr* h = (struct nlmsghdr*)buf.get(); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) One(protocol, h);
}

constexpr uint16_t Nft(int msg) { return (uint16_t)((NFNL_SUBSYS_NFTABLES << 8) | msg); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string entry = CNM_STR1(CNM_ENTRY);
  if (entry == "link") Framed(NETLINK_ROUTE, RTM_NEWLINK, 0, data, size);
  else if (entry == "addr") Framed(NETLINK_ROUTE, RTM_NEWADDR, 0, data, size);
  else if (entry == "route") Framed(NETLINK_ROUTE, RTM_NEWROUTE, 0, data, size);
  else if (entry == "neigh") Framed(NETLINK_ROUTE, RTM_NEWNEIGH, 0, data, size);
  else if (entry == "error") {
    if (size < 2) return 0;
    Framed(NETLINK_ROUTE, NLMSG_ERROR, (uint16_t)(data[0] | data[1] << 8), data + 2, size - 2);
  } else if (entry == "done") Framed(NETLINK_ROUTE, NLMSG_DONE, NLM_F_MULTI, data, size);
  else if (entry == "nft_table") Framed(NETLINK_NETFILTER, Nft(NFT_MSG_NEWTABLE), 0, data, size);
  else if (entry == "nft_chain") Framed(NETLINK_NETFILTER, Nft(NFT_MSG_NEWCHAIN), 0, data, size);
  else if (entry == "nft_rule") Framed(NETLINK_NETFILTER, Nft(NFT_MSG_NEWRULE), 0, data, size);
  else if (entry == "nft_set") Framed(NETLINK_NETFILTER, Nft(NFT_MSG_NEWSET), 0, data, size);
  else if (entry == "nft_setelem") Framed(NETLINK_NETFILTER, Nft(NFT_MSG_NEWSETELEM), 0, data, size);
  else if (entry == "nft_gen") Framed(NETLINK_NETFILTER, Nft(NFT_MSG_NEWGEN), 0, data, size);
  else if (entry == "nft_exprs") {
    // An exactly-sized copy (the fuzzer's buffer already is; kept explicit).
    std::unique_ptr<uint8_t[]> buf(new uint8_t[size ? size : 1]);
    if (size) memcpy(buf.get(), data, size);
    Sink arr;
    try {
      cnm::ParseNftExprList(buf.get(), size, arr);
    } catch (const cnm::Malformed&) {
    }
  } else if (entry == "datagram_route") Datagram(NETLINK_ROUTE, data, size);
  else if (entry == "datagram_nft") Datagram(NETLINK_NETFILTER, data, size);
  else abort();
  return 0;
}
