// Reference for bench/endpoints: the kernel work of N bridge endpoints with
// every request pipelined, in C with raw netlink (no library, no files, no
// journal). Per container: a namespace pinned like `ip netns add` (lo up, a
// NETLINK_ROUTE socket made inside, as the library does), a veth whose peer
// is born inside the namespace with its name, MAC and MTU and whose host end
// is attached to the bridge (group 0xc17, one queue each way), the host end's
// addrgenmode none + hairpin, inside: arp_notify + addrgenmode none, the
// address, up, the default route; then the host end up; and one element of a
// DNAT map (nft) each, in one batch. Teardown: the map elements in one batch,
// then (TEARDOWN docker: Docker's order, endpoints before sandboxes) the host
// veths, moved to one group and deleted by group (one unregister for all, as
// LinkReaper does), then the namespaces (unmounted on a pool of threads, as
// the library does). Without the veth step the kernel unregisters the
// devices later, on its namespace-cleanup workqueue, outside the timing.
//
// Usage: endpoints_pipeline N BRIDGE TABLE MAP [PORT0 [TEARDOWN]]
//   The bridge (10.94.0.1/16, up) and `table ip TABLE { map MAP { type
//   inet_proto . inet_service : ipv4_addr . inet_service } ... }` are made by
//   the caller (bench/endpoints.ts). Containers get 10.94.0.2 on; published
//   port PORT0+i (tcp) -> container port 80. TEARDOWN: sb (default: the
//   namespaces go first), docker, or keep (none, to inspect).
// Prints one JSON line: {"n":N,"setup":s,"setup_cpu":s,"teardown":s,"errors":k}
// (setup_cpu: the whole machine's busy CPU time during setup).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <net/if.h>  // before the linux headers (IFF_*, if_nametoindex)
#include <errno.h>
#include <fcntl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/ip.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ALIGN4(x) (((x) + 3) & ~3)
#define CNM_GROUP 0xc17
#define MAXMSG 1024

static int n;
static int host;
static const char *bridge_name, *table, *map;
static int port0 = 21000;
static unsigned bridge_index;
static int *nsfd, *nssock;
static int ready_pipe[2];
static atomic_int next_ns;
static atomic_int errors;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

// Busy CPU time of the whole machine so far, seconds (/proc/stat: every
// process and kernel thread, so the kernel's workqueues count too; user,
// nice, system, irq, softirq: not idle, iowait or steal).
static double busy_cpu(void) {
  FILE *f = fopen("/proc/stat", "r");
  unsigned long long v[7] = {0};
  if (!f) return 0;
  int got = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6]);
  fclose(f);
  if (got < 7) return 0;
  unsigned long long busy = 0;
  for (int k = 0; k < 7; k++) if (k != 3 && k != 4) busy += v[k];
  return busy / (double)sysconf(_SC_CLK_TCK);
}

// --- message building --------------------------------------------------------
struct msg { char *p; struct nlmsghdr *h; };

static struct nlmsghdr *begin(char *buf, int type, int flags, unsigned seq, const void *fam, int famlen) {
  struct nlmsghdr *h = (struct nlmsghdr *)buf;
  memset(h, 0, NLMSG_HDRLEN + NLMSG_ALIGN(famlen));
  h->nlmsg_type = type;
  h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
  h->nlmsg_seq = seq;
  memcpy(buf + NLMSG_HDRLEN, fam, famlen);
  h->nlmsg_len = NLMSG_HDRLEN + NLMSG_ALIGN(famlen);
  return h;
}

static void put(struct nlmsghdr *h, unsigned short type, const void *data, int len) {
  struct nlattr *a = (struct nlattr *)((char *)h + NLMSG_ALIGN(h->nlmsg_len));
  a->nla_type = type;
  a->nla_len = NLA_HDRLEN + len;
  if (len) memcpy((char *)a + NLA_HDRLEN, data, len);
  h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + ALIGN4(a->nla_len);
}
static void put_u32(struct nlmsghdr *h, unsigned short type, unsigned v) { put(h, type, &v, 4); }
static void put_u8(struct nlmsghdr *h, unsigned short type, unsigned char v) { put(h, type, &v, 1); }
static void put_str(struct nlmsghdr *h, unsigned short type, const char *s) { put(h, type, s, strlen(s) + 1); }

static struct nlattr *nest(struct nlmsghdr *h, unsigned short type) {
  struct nlattr *a = (struct nlattr *)((char *)h + NLMSG_ALIGN(h->nlmsg_len));
  a->nla_type = type | NLA_F_NESTED;
  h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + NLA_HDRLEN;
  return a;
}
static void end(struct nlmsghdr *h, struct nlattr *a) { a->nla_len = (char *)h + h->nlmsg_len - (char *)a; }

// A raw ifinfomsg inside an attribute (the veth peer).
static void put_ifinfo(struct nlmsghdr *h) {
  struct ifinfomsg ifi = {0};
  memcpy((char *)h + h->nlmsg_len, &ifi, sizeof ifi);
  h->nlmsg_len += NLMSG_ALIGN(sizeof ifi);
}

static unsigned ip_of(int i) { return htonl((10u << 24) | (94u << 16) | (unsigned)(i + 2)); }

// seq = container * 8 + step
enum { S_CREATE = 1, S_HOSTSET, S_HOSTUP, S_CONF, S_ADDR, S_UP, S_ROUTE };

static int build_create(char *buf, int i) {
  struct ifinfomsg ifi = {0};
  struct nlmsghdr *h = begin(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, i * 8 + S_CREATE, &ifi, sizeof ifi);
  char name[IFNAMSIZ];
  snprintf(name, sizeof name, "cv%d", i);
  put_str(h, IFLA_IFNAME, name);
  put_u32(h, IFLA_MTU, 1500);
  put_u32(h, IFLA_GROUP, CNM_GROUP);
  put_u32(h, IFLA_MASTER, bridge_index);
  put_u32(h, IFLA_NUM_TX_QUEUES, 1);
  put_u32(h, IFLA_NUM_RX_QUEUES, 1);
  struct nlattr *li = nest(h, IFLA_LINKINFO);
  put_str(h, IFLA_INFO_KIND, "veth");
  struct nlattr *data = nest(h, IFLA_INFO_DATA);
  struct nlattr *peer = nest(h, VETH_INFO_PEER);
  put_ifinfo(h);
  put_str(h, IFLA_IFNAME, "eth0");
  unsigned ip = ntohl(ip_of(i));
  unsigned char mac[6] = {0x02, 0x42, ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255};
  put(h, IFLA_ADDRESS, mac, 6);
  put_u32(h, IFLA_MTU, 1500);
  put_u32(h, IFLA_NET_NS_FD, nsfd[i]);
  put_u32(h, IFLA_NUM_TX_QUEUES, 1);
  put_u32(h, IFLA_NUM_RX_QUEUES, 1);
  end(h, peer);
  end(h, data);
  end(h, li);
  return h->nlmsg_len;
}

// Host end: no IPv6 link-local (its DAD would flood the bridge), hairpin.
static int build_hostset(char *buf, int i) {
  struct ifinfomsg ifi = {0};
  struct nlmsghdr *h = begin(buf, RTM_NEWLINK, 0, i * 8 + S_HOSTSET, &ifi, sizeof ifi);
  char name[IFNAMSIZ];
  snprintf(name, sizeof name, "cv%d", i);
  put_str(h, IFLA_IFNAME, name);
  struct nlattr *af = nest(h, IFLA_AF_SPEC);
  struct nlattr *a6 = nest(h, AF_INET6);
  put_u8(h, IFLA_INET6_ADDR_GEN_MODE, IN6_ADDR_GEN_MODE_NONE);
  end(h, a6);
  end(h, af);
  struct nlattr *li = nest(h, IFLA_LINKINFO);
  struct nlattr *sd = nest(h, IFLA_INFO_SLAVE_DATA);
  put_u8(h, IFLA_BRPORT_MODE, 1);
  end(h, sd);
  end(h, li);
  return h->nlmsg_len;
}

static int build_hostup(char *buf, int i) {
  struct ifinfomsg ifi = {.ifi_flags = IFF_UP, .ifi_change = IFF_UP};
  struct nlmsghdr *h = begin(buf, RTM_NEWLINK, 0, i * 8 + S_HOSTUP, &ifi, sizeof ifi);
  char name[IFNAMSIZ];
  snprintf(name, sizeof name, "cv%d", i);
  put_str(h, IFLA_IFNAME, name);
  return h->nlmsg_len;
}

// Inside: eth0 is ifindex 2 (a fresh namespace has only lo), so no lookup.
static int build_inside(char *buf, int i) {
  int len = 0;
  {
    struct ifinfomsg ifi = {.ifi_index = 2};
    struct nlmsghdr *h = begin(buf + len, RTM_NEWLINK, 0, i * 8 + S_CONF, &ifi, sizeof ifi);
    struct nlattr *af = nest(h, IFLA_AF_SPEC);
    struct nlattr *a4 = nest(h, AF_INET);
    struct nlattr *conf = nest(h, IFLA_INET_CONF);
    put_u32(h, IPV4_DEVCONF_ARP_NOTIFY, 1);
    end(h, conf);
    end(h, a4);
    struct nlattr *a6 = nest(h, AF_INET6);
    put_u8(h, IFLA_INET6_ADDR_GEN_MODE, IN6_ADDR_GEN_MODE_NONE);
    end(h, a6);
    end(h, af);
    len += NLMSG_ALIGN(h->nlmsg_len);
  }
  unsigned ip = ip_of(i);
  {
    struct ifaddrmsg ifa = {.ifa_family = AF_INET, .ifa_prefixlen = 16, .ifa_index = 2};
    struct nlmsghdr *h = begin(buf + len, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, i * 8 + S_ADDR, &ifa, sizeof ifa);
    put(h, IFA_LOCAL, &ip, 4);
    put(h, IFA_ADDRESS, &ip, 4);
    unsigned bcast = ip | htonl(0xffff);
    put(h, IFA_BROADCAST, &bcast, 4);
    len += NLMSG_ALIGN(h->nlmsg_len);
  }
  {
    struct ifinfomsg ifi = {.ifi_index = 2, .ifi_flags = IFF_UP, .ifi_change = IFF_UP};
    struct nlmsghdr *h = begin(buf + len, RTM_NEWLINK, 0, i * 8 + S_UP, &ifi, sizeof ifi);
    len += NLMSG_ALIGN(h->nlmsg_len);
  }
  {
    struct rtmsg rt = {.rtm_family = AF_INET, .rtm_table = RT_TABLE_MAIN, .rtm_protocol = RTPROT_BOOT,
                       .rtm_scope = RT_SCOPE_UNIVERSE, .rtm_type = RTN_UNICAST};
    struct nlmsghdr *h = begin(buf + len, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, i * 8 + S_ROUTE, &rt, sizeof rt);
    unsigned gw = htonl((10u << 24) | (94u << 16) | 1);
    put(h, RTA_GATEWAY, &gw, 4);
    put_u32(h, RTA_OIF, 2);
    len += NLMSG_ALIGN(h->nlmsg_len);
  }
  return len;
}

// --- sockets -----------------------------------------------------------------
static int nl_socket(int proto) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, proto);
  if (fd < 0) { perror("socket"); exit(1); }
  int one = 1, rcv = 16 << 20;
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv) < 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) { perror("bind"); exit(1); }
  return fd;
}

static void send_all(int fd, const char *buf, int len) {
  // The kernel runs the requests of one sendmsg in order, in this call.
  if (send(fd, buf, len, 0) != len) { perror("send"); exit(1); }
}

static void report(struct nlmsghdr *h, const char *what) {
  struct nlmsgerr *e = NLMSG_DATA(h);
  if (!e->error) return;
  if (atomic_fetch_add(&errors, 1) < 5)
    fprintf(stderr, "%s: seq %u (container %u step %u): %s\n", what, h->nlmsg_seq, h->nlmsg_seq / 8, h->nlmsg_seq % 8, strerror(-e->error));
}

// Reads the ACKs waiting on fd (non-blocking); calls on_ack for each.
static int drain(int fd, void (*on_ack)(unsigned seq)) {
  static char in[1 << 16];
  int got = 0;
  for (;;) {
    int r = recv(fd, in, sizeof in, MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return got;
      perror("recv");
      exit(1);
    }
    for (struct nlmsghdr *h = (struct nlmsghdr *)in; NLMSG_OK(h, r); h = NLMSG_NEXT(h, r)) {
      if (h->nlmsg_type != NLMSG_ERROR) continue;
      report(h, "rtnetlink");
      got++;
      if (on_ack) on_ack(h->nlmsg_seq);
    }
  }
}

// --- namespaces --------------------------------------------------------------
// Like the library (netns.cc): a thread unshares, bind-mounts its namespace
// under /run/netns, brings lo up and makes a NETLINK_ROUTE socket inside.
static void *ns_worker(void *arg) {
  (void)arg;
  for (;;) {
    int i = atomic_fetch_add(&next_ns, 1);
    if (i >= n) return NULL;
    char path[64];
    snprintf(path, sizeof path, "/run/netns/cep%d", i);
    int f = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
    if (f < 0) { perror(path); exit(1); }
    close(f);
    if (unshare(CLONE_NEWNET) < 0) { perror("unshare"); exit(1); }
    if (mount("/proc/thread-self/ns/net", path, "none", MS_BIND, NULL) < 0) { perror("mount"); exit(1); }
    nsfd[i] = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr = {0};
    strcpy(ifr.ifr_name, "lo");
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0 || (ifr.ifr_flags |= IFF_UP, ioctl(s, SIOCSIFFLAGS, &ifr) < 0)) { perror("lo up"); exit(1); }
    close(s);
    nssock[i] = nl_socket(NETLINK_ROUTE);
    if (write(ready_pipe[1], &i, sizeof i) != sizeof i) { perror("write"); exit(1); }
  }
}

static atomic_int next_rm;
static void *rm_worker(void *arg) {
  (void)arg;
  for (;;) {
    int i = atomic_fetch_add(&next_rm, 1);
    if (i >= n) return NULL;
    char path[64];
    snprintf(path, sizeof path, "/run/netns/cep%d", i);
    // Waits for an RCU grace period: many at once, like `ip netns delete`s in parallel.
    if (umount2(path, MNT_DETACH) < 0) { perror("umount2"); atomic_fetch_add(&errors, 1); }
    unlink(path);
  }
}

static void run_threads(void *(*fn)(void *), int count) {
  pthread_t t[128];
  for (int k = 0; k < count; k++) pthread_create(&t[k], NULL, fn, NULL);
  for (int k = 0; k < count; k++) pthread_join(t[k], NULL);
}

// --- nftables ----------------------------------------------------------------
static int nft_msg(char *buf, int type, int flags, unsigned seq) {
  struct nfgenmsg g = {.nfgen_family = NFPROTO_IPV4, .version = NFNETLINK_V0, .res_id = 0};
  struct nlmsghdr *h = begin(buf, (NFNL_SUBSYS_NFTABLES << 8) | type, flags, seq, &g, sizeof g);
  return h->nlmsg_len;
}

// One batch: begin, the elements (500 per message), end; waits for the ACKs.
static void nft_elements(int del) {
  int fd = nl_socket(NETLINK_NETFILTER);
  int cap = 64 + (n / 500 + 1) * (512 + 500 * 64);
  char *buf = malloc(cap);
  int len = 0, msgs = 0;
  unsigned seq = 1;
  {
    struct nfgenmsg g = {.nfgen_family = AF_UNSPEC, .version = NFNETLINK_V0, .res_id = htons(NFNL_SUBSYS_NFTABLES)};
    struct nlmsghdr *h = begin(buf, NFNL_MSG_BATCH_BEGIN, 0, seq++, &g, sizeof g);
    h->nlmsg_flags = NLM_F_REQUEST;
    len += NLMSG_ALIGN(h->nlmsg_len);
  }
  for (int start = 0; start < n; start += 500) {
    struct nlmsghdr *h = (struct nlmsghdr *)(buf + len);
    nft_msg(buf + len, del ? NFT_MSG_DELSETELEM : NFT_MSG_NEWSETELEM, del ? 0 : NLM_F_CREATE, seq++);
    put_str(h, NFTA_SET_ELEM_LIST_TABLE, table);
    put_str(h, NFTA_SET_ELEM_LIST_SET, map);
    struct nlattr *list = nest(h, NFTA_SET_ELEM_LIST_ELEMENTS);
    for (int i = start; i < n && i < start + 500; i++) {
      struct nlattr *el = nest(h, NFTA_LIST_ELEM);
      // inet_proto . inet_service, each field in 4 bytes.
      unsigned char key[8] = {6, 0, 0, 0, (port0 + i) >> 8, (port0 + i) & 255, 0, 0};
      struct nlattr *k = nest(h, NFTA_SET_ELEM_KEY);
      put(h, NFTA_DATA_VALUE, key, 8);
      end(h, k);
      if (!del) {
        unsigned ip = ip_of(i);
        unsigned char data[8] = {0, 0, 0, 0, 0, 80, 0, 0};
        memcpy(data, &ip, 4);
        struct nlattr *d = nest(h, NFTA_SET_ELEM_DATA);
        put(h, NFTA_DATA_VALUE, data, 8);
        end(h, d);
      }
      end(h, el);
    }
    end(h, list);
    len += NLMSG_ALIGN(h->nlmsg_len);
    msgs++;
  }
  {
    struct nfgenmsg g = {.nfgen_family = AF_UNSPEC, .version = NFNETLINK_V0, .res_id = htons(NFNL_SUBSYS_NFTABLES)};
    struct nlmsghdr *h = begin(buf + len, NFNL_MSG_BATCH_END, 0, seq++, &g, sizeof g);
    h->nlmsg_flags = NLM_F_REQUEST;
    len += NLMSG_ALIGN(h->nlmsg_len);
  }
  send_all(fd, buf, len);
  static char in[1 << 16];
  while (msgs > 0) {
    int r = recv(fd, in, sizeof in, 0);
    if (r < 0) { perror("recv nft"); exit(1); }
    for (struct nlmsghdr *h = (struct nlmsghdr *)in; NLMSG_OK(h, r); h = NLMSG_NEXT(h, r)) {
      if (h->nlmsg_type == NLMSG_ERROR) { report(h, "nft"); msgs--; }
    }
  }
  free(buf);
  close(fd);
}

// Docker order: the veths leave first, all in one group deletion.
static void delete_veths(void) {
  const unsigned group = 0x0c17ffff;
  char *buf = malloc(n * 128 + 256);
  int len = 0;
  for (int i = 0; i < n; i++) {
    struct ifinfomsg ifi = {0};
    struct nlmsghdr *h = begin(buf + len, RTM_NEWLINK, 0, i * 8 + S_HOSTSET, &ifi, sizeof ifi);
    char name[IFNAMSIZ];
    snprintf(name, sizeof name, "cv%d", i);
    put_str(h, IFLA_IFNAME, name);
    put_u32(h, IFLA_GROUP, group);
    len += NLMSG_ALIGN(h->nlmsg_len);
    if (len > (1 << 16)) { send_all(host, buf, len); len = 0; drain(host, NULL); }
  }
  {
    struct ifinfomsg ifi = {0};
    struct nlmsghdr *h = begin(buf + len, RTM_DELLINK, 0, 1, &ifi, sizeof ifi);
    put_u32(h, IFLA_GROUP, group);
    len += NLMSG_ALIGN(h->nlmsg_len);
  }
  send_all(host, buf, len);
  drain(host, NULL);
  free(buf);
}

// --- setup state machine ----------------------------------------------------
static char *hostbuf;
static int hostlen;
static unsigned char *inside_acks;
static int done;

static void queue_host(int len) {
  hostlen += len;
  if (hostlen > (1 << 20) - 4 * MAXMSG) { send_all(host, hostbuf, hostlen); hostlen = 0; }
}

static void on_host_ack(unsigned seq) {
  int i = seq / 8;
  switch (seq % 8) {
  case S_CREATE: {
    // The peer exists: configure it, all four requests in one sendmsg.
    static char buf[4 * MAXMSG];
    send_all(nssock[i], buf, build_inside(buf, i));
    break;
  }
  case S_HOSTUP: done++; break;
  }
}

static int cur_ns;
static void on_inside_ack(unsigned seq) {
  (void)seq;
  // Host end up last, so the carrier comes with both ends configured.
  if (++inside_acks[cur_ns] == 4) queue_host(build_hostup(hostbuf + hostlen, cur_ns));
}

int main(int argc, char **argv) {
  if (argc < 5) { fprintf(stderr, "usage: %s N BRIDGE TABLE MAP [PORT0]\n", argv[0]); return 2; }
  n = atoi(argv[1]);
  bridge_name = argv[2];
  table = argv[3];
  map = argv[4];
  if (argc > 5) port0 = atoi(argv[5]);
  bridge_index = if_nametoindex(bridge_name);
  if (!bridge_index || n <= 0) { fprintf(stderr, "no bridge %s or bad N\n", bridge_name); return 2; }
  nsfd = calloc(n, sizeof *nsfd);
  nssock = calloc(n, sizeof *nssock);
  inside_acks = calloc(n, 1);
  hostbuf = malloc(1 << 20);
  for (int i = 0; i < n; i++) nsfd[i] = nssock[i] = -1;
  host = nl_socket(NETLINK_ROUTE);
  if (pipe2(ready_pipe, O_CLOEXEC | O_NONBLOCK) < 0) { perror("pipe"); return 1; }
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  int workers = cpus * 2 < 8 ? cpus * 2 : 8;

  double cpu0 = busy_cpu();
  double t0 = now();
  pthread_t t[8];
  for (int k = 0; k < workers; k++) pthread_create(&t[k], NULL, ns_worker, NULL);
  // Namespaces come from the workers as they are made; their endpoints
  // start at once, overlapping the making of the others.
  struct pollfd *pfd = calloc(n + 2, sizeof *pfd);
  int *pidx = calloc(n + 2, sizeof *pidx);
  unsigned char *active = calloc(n, 1);
  int made = 0;
  while (done < n) {
    int np = 0;
    if (made < n) pfd[np++] = (struct pollfd){.fd = ready_pipe[0], .events = POLLIN};
    pfd[np++] = (struct pollfd){.fd = host, .events = POLLIN};
    for (int i = 0; i < n; i++) if (active[i]) { pidx[np] = i; pfd[np++] = (struct pollfd){.fd = nssock[i], .events = POLLIN}; }
    if (poll(pfd, np, 5000) <= 0) { fprintf(stderr, "stalled: %d/%d done, %d errors\n", done, n, errors); return 1; }
    for (int k = 0; k < np; k++) {
      if (!(pfd[k].revents & POLLIN)) continue;
      if (pfd[k].fd == ready_pipe[0]) {
        int i;
        while (read(ready_pipe[0], &i, sizeof i) == sizeof i) {
          made++;
          active[i] = 1;
          queue_host(build_create(hostbuf + hostlen, i));
          queue_host(build_hostset(hostbuf + hostlen, i));
        }
      } else if (pfd[k].fd == host) {
        drain(host, on_host_ack);
      } else {
        cur_ns = pidx[k];
        drain(nssock[cur_ns], on_inside_ack);
        if (inside_acks[cur_ns] == 4) active[cur_ns] = 0;
      }
    }
    if (hostlen) { send_all(host, hostbuf, hostlen); hostlen = 0; }
    if (errors) { fprintf(stderr, "errors during setup\n"); return 1; }
  }
  for (int k = 0; k < workers; k++) pthread_join(t[k], NULL);
  nft_elements(0);
  double setup = now() - t0;
  double setup_cpu = busy_cpu() - cpu0;
  const char *mode = argc > 6 ? argv[6] : "sb";
  if (strcmp(mode, "sb") && strcmp(mode, "docker") && strcmp(mode, "keep")) { fprintf(stderr, "TEARDOWN: sb, docker or keep\n"); return 2; }
  if (!strcmp(mode, "keep")) {
    printf("{\"n\":%d,\"setup\":%.4f,\"setup_cpu\":%.2f,\"errors\":%d}\n", n, setup, setup_cpu, (int)errors);
    return errors ? 1 : 0;
  }

  t0 = now();
  nft_elements(1);
  if (!strcmp(mode, "docker")) delete_veths();
  for (int i = 0; i < n; i++) { close(nssock[i]); close(nsfd[i]); }
  run_threads(rm_worker, 64);
  double teardown = now() - t0;
  printf("{\"n\":%d,\"setup\":%.4f,\"setup_cpu\":%.2f,\"teardown\":%.4f,\"order\":\"%s\",\"errors\":%d}\n", n, setup, setup_cpu, teardown, mode, (int)errors);
  return errors ? 1 : 0;
}
