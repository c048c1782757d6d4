// Seed corpus for the fuzz harnesses: asks the kernel for everything in the
// current network namespace (links, addresses, routes, neighbours, the
// nftables ruleset, a few refused requests for error replies) and writes
// each reply into <dir>/<harness>/ in the layout harness.cc expects.
// scripts/fuzz.sh --corpus runs it in an isolated namespace after making
// objects with ip/bridge/nft. Plain libmnl, no addon.
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/rtnetlink.h>
#include <linux/neighbour.h>
#include <linux/netfilter.h>
#include <sys/stat.h>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <utility>
#include <vector>

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif

static std::string root;
static int written = 0;

static void Save(const std::string& harness, const void* p, size_t n) {
  if (n > 16384) return;  // keep the committed corpus small
  uint64_t h = 1469598103934665603ull;  // FNV-1a: same bytes, same file
  for (size_t i = 0; i < n; i++) h = (h ^ ((const uint8_t*)p)[i]) * 1099511628211ull;
  std::string dir = root + "/" + harness;
  mkdir(root.c_str(), 0755);
  mkdir(dir.c_str(), 0755);
  char name[32];
  snprintf(name, sizeof name, "/%016llx", (unsigned long long)h);
  FILE* f = fopen((dir + name).c_str(), "wb");
  if (!f) { perror((dir + name).c_str()); exit(1); }
  fwrite(p, 1, n, f);
  fclose(f);
  written++;
}

static const char* RouteHarness(uint16_t type) {
  switch (type) {
    case RTM_NEWLINK: case RTM_DELLINK: return "link";
    case RTM_NEWADDR: case RTM_DELADDR: return "addr";
    case RTM_NEWROUTE: case RTM_DELROUTE: return "route";
    case RTM_NEWNEIGH: case RTM_DELNEIGH: return "neigh";
    default: return nullptr;
  }
}

static const char* NftHarness(uint16_t type) {
  if ((type >> 8) != NFNL_SUBSYS_NFTABLES) return nullptr;
  switch (type & 0xff) {
    case NFT_MSG_NEWTABLE: return "nft_table";
    case NFT_MSG_NEWCHAIN: return "nft_chain";
    case NFT_MSG_NEWRULE: return "nft_rule";
    case NFT_MSG_NEWSET: return "nft_set";
    case NFT_MSG_NEWSETELEM: return "nft_setelem";
    case NFT_MSG_NEWGEN: return "nft_gen";
    default: return nullptr;
  }
}

// mnl_attr_for_each, typed for C++.
#define EACH_ATTR(a, nlh, off) \
  for (const struct nlattr* a = (const struct nlattr*)mnl_nlmsg_get_payload_offset(nlh, off); \
       mnl_attr_ok(a, (const char*)mnl_nlmsg_get_payload_tail(nlh) - (const char*)a); \
       a = (const struct nlattr*)mnl_attr_next(a))

struct SetName { uint8_t family; std::string table, name; };
static std::vector<SetName> sets;

// One message: into its per-type corpus (payload only), error/done, and
// the pieces other harnesses take (a rule's expression list).
static void OneMessage(bool nft, const struct nlmsghdr* nlh) {
  const uint8_t* payload = (const uint8_t*)nlh + NLMSG_HDRLEN;
  size_t plen = nlh->nlmsg_len - NLMSG_HDRLEN;
  if (nlh->nlmsg_type == NLMSG_ERROR) {
    std::vector<uint8_t> b(2 + plen);
    b[0] = nlh->nlmsg_flags & 0xff;
    b[1] = nlh->nlmsg_flags >> 8;
    memcpy(b.data() + 2, payload, plen);
    Save("error", b.data(), b.size());
    return;
  }
  if (nlh->nlmsg_type == NLMSG_DONE) { Save("done", payload, plen); return; }
  const char* h = nft ? NftHarness(nlh->nlmsg_type) : RouteHarness(nlh->nlmsg_type);
  if (!h) return;
  Save(h, payload, plen);
  if (!nft) return;
  if ((nlh->nlmsg_type & 0xff) == NFT_MSG_NEWRULE) {
    EACH_ATTR(a, nlh, sizeof(struct nfgenmsg)) {
      if (mnl_attr_get_type(a) == NFTA_RULE_EXPRESSIONS) Save("nft_exprs", a, a->nla_len);
    }
  }
  if ((nlh->nlmsg_type & 0xff) == NFT_MSG_NEWSET) {
    SetName s{((const struct nfgenmsg*)payload)->nfgen_family, "", ""};
    EACH_ATTR(a, nlh, sizeof(struct nfgenmsg)) {
      if (mnl_attr_get_type(a) == NFTA_SET_TABLE) s.table = mnl_attr_get_str(a);
      if (mnl_attr_get_type(a) == NFTA_SET_NAME) s.name = mnl_attr_get_str(a);
    }
    sets.push_back(s);
  }
}

// Sends one request and saves every reply datagram until its ACK or DONE.
static void Ask(int protocol, struct nlmsghdr* req) {
  struct mnl_socket* nl = mnl_socket_open(protocol);
  if (!nl) { perror("mnl_socket_open"); exit(1); }
  int one = 1;
  mnl_socket_setsockopt(nl, NETLINK_EXT_ACK, &one, sizeof one);
  if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) { perror("mnl_socket_bind"); exit(1); }
  req->nlmsg_seq = (uint32_t)time(nullptr);
  if (mnl_socket_sendto(nl, req, req->nlmsg_len) < 0) { perror("mnl_socket_sendto"); exit(1); }
  std::vector<char> buf(1 << 20);
  bool nft = protocol == NETLINK_NETFILTER;
  for (bool done = false; !done;) {
    ssize_t n = mnl_socket_recvfrom(nl, buf.data(), buf.size());
    if (n <= 0) break;
    Save(nft ? "datagram_nft" : "datagram_route", buf.data(), n);
    int len = (int)n;
    for (auto* h = (struct nlmsghdr*)buf.data(); mnl_nlmsg_ok(h, len); h = mnl_nlmsg_next(h, &len)) {
      OneMessage(nft, h);
      if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) done = true;
    }
  }
  mnl_socket_close(nl);
}

static void RouteDump(uint16_t type, uint8_t family, size_t hdrlen) {
  char buf[256] = {};
  struct nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  auto* fam = (uint8_t*)mnl_nlmsg_put_extra_header(nlh, hdrlen);
  fam[0] = family;
  Ask(NETLINK_ROUTE, nlh);
}

static struct nlmsghdr* NftReq(char* buf, uint16_t msg, uint8_t family, uint16_t flags) {
  struct nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | msg;
  nlh->nlmsg_flags = NLM_F_REQUEST | flags;
  auto* nfg = (struct nfgenmsg*)mnl_nlmsg_put_extra_header(nlh, sizeof(struct nfgenmsg));
  nfg->nfgen_family = family;
  nfg->version = NFNETLINK_V0;
  return nlh;
}

int main(int argc, char** argv) {
  if (argc != 2) { fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]); return 2; }
  root = argv[1];
  RouteDump(RTM_GETLINK, AF_UNSPEC, sizeof(struct ifinfomsg));
  RouteDump(RTM_GETLINK, AF_BRIDGE, sizeof(struct ifinfomsg));
  RouteDump(RTM_GETADDR, AF_UNSPEC, sizeof(struct ifaddrmsg));
  RouteDump(RTM_GETROUTE, AF_INET, sizeof(struct rtmsg));
  RouteDump(RTM_GETROUTE, AF_INET6, sizeof(struct rtmsg));
  RouteDump(RTM_GETNEIGH, AF_INET, sizeof(struct ndmsg));
  RouteDump(RTM_GETNEIGH, AF_INET6, sizeof(struct ndmsg));
  RouteDump(RTM_GETNEIGH, AF_BRIDGE, sizeof(struct ndmsg));
  {
    // Refused requests: ENODEV for a missing link, and a kind the kernel
    // does not know (its extended ACK carries text).
    char buf[256] = {};
    struct nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = RTM_GETLINK;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    mnl_nlmsg_put_extra_header(nlh, sizeof(struct ifinfomsg));
    mnl_attr_put_strz(nlh, IFLA_IFNAME, "no-such-link");
    Ask(NETLINK_ROUTE, nlh);
    char buf2[256] = {};
    nlh = mnl_nlmsg_put_header(buf2);
    nlh->nlmsg_type = RTM_NEWLINK;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
    mnl_nlmsg_put_extra_header(nlh, sizeof(struct ifinfomsg));
    mnl_attr_put_strz(nlh, IFLA_IFNAME, "bad0");
    struct nlattr* li = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
    mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "bridge");
    struct nlattr* d = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
    mnl_attr_put_u64(nlh, IFLA_BR_STP_STATE, 1);  // wrong size: refused with an offset
    mnl_attr_nest_end(nlh, d);
    mnl_attr_nest_end(nlh, li);
    Ask(NETLINK_ROUTE, nlh);
  }
  char buf[512];
  Ask(NETLINK_NETFILTER, NftReq(buf, NFT_MSG_GETGEN, AF_UNSPEC, NLM_F_ACK));
  Ask(NETLINK_NETFILTER, NftReq(buf, NFT_MSG_GETTABLE, AF_UNSPEC, NLM_F_DUMP));
  Ask(NETLINK_NETFILTER, NftReq(buf, NFT_MSG_GETCHAIN, AF_UNSPEC, NLM_F_DUMP));
  Ask(NETLINK_NETFILTER, NftReq(buf, NFT_MSG_GETRULE, AF_UNSPEC, NLM_F_DUMP));
  Ask(NETLINK_NETFILTER, NftReq(buf, NFT_MSG_GETSET, AF_UNSPEC, NLM_F_DUMP));
  std::vector<SetName> all = sets;
  for (const SetName& s : all) {
    struct nlmsghdr* nlh = NftReq(buf, NFT_MSG_GETSETELEM, s.family, NLM_F_DUMP);
    mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, s.table.c_str());
    mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, s.name.c_str());
    Ask(NETLINK_NETFILTER, nlh);
  }
  {
    struct nlmsghdr* nlh = NftReq(buf, NFT_MSG_GETTABLE, NFPROTO_IPV4, NLM_F_ACK);
    mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, "no-such-table");
    Ask(NETLINK_NETFILTER, nlh);
  }
  printf("dump_corpus: %d files written under %s (%zu sets)\n", written, root.c_str(), all.size());
  return 0;
}
