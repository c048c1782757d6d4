// Reference for bench/veth: creates N veth pairs with raw RTM_NEWLINK
// messages, WINDOW requests per sendmsg, then reads the ACKs. No library.
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/if_link.h>
#include <linux/veth.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ALIGN4(x) (((x) + 3) & ~3)

static char *put_attr(char *p, unsigned short type, const void *data, int len) {
  struct nlattr *a = (struct nlattr *)p;
  a->nla_type = type;
  a->nla_len = NLA_HDRLEN + len;
  memcpy(p + NLA_HDRLEN, data, len);
  return p + ALIGN4(a->nla_len);
}

static int build(char *buf, int i, unsigned seq, unsigned group) {
  struct nlmsghdr *h = (struct nlmsghdr *)buf;
  h->nlmsg_type = RTM_NEWLINK;
  h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
  h->nlmsg_seq = seq;
  h->nlmsg_pid = 0;
  struct ifinfomsg *ifi = (struct ifinfomsg *)NLMSG_DATA(h);
  memset(ifi, 0, sizeof *ifi);
  char *p = (char *)ifi + NLMSG_ALIGN(sizeof *ifi);
  char name[16];
  snprintf(name, sizeof name, "cv%d", i);
  p = put_attr(p, IFLA_IFNAME, name, strlen(name) + 1);
  p = put_attr(p, IFLA_GROUP, &group, 4);
  struct nlattr *li = (struct nlattr *)p;
  li->nla_type = IFLA_LINKINFO;
  p += NLA_HDRLEN;
  p = put_attr(p, IFLA_INFO_KIND, "veth", 5);
  struct nlattr *data = (struct nlattr *)p;
  data->nla_type = IFLA_INFO_DATA;
  p += NLA_HDRLEN;
  struct nlattr *peer = (struct nlattr *)p;
  peer->nla_type = VETH_INFO_PEER;
  p += NLA_HDRLEN;
  memset(p, 0, sizeof(struct ifinfomsg));
  p += NLMSG_ALIGN(sizeof(struct ifinfomsg));
  snprintf(name, sizeof name, "cv%dp", i);
  p = put_attr(p, IFLA_IFNAME, name, strlen(name) + 1);
  p = put_attr(p, IFLA_GROUP, &group, 4);
  peer->nla_len = p - (char *)peer;
  data->nla_len = p - (char *)data;
  li->nla_len = p - (char *)li;
  h->nlmsg_len = p - buf;
  return h->nlmsg_len;
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 2000;
  int window = argc > 2 ? atoi(argv[2]) : 64;
  unsigned group = argc > 3 ? atoi(argv[3]) : 77;
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  int one = 1, rcv = 8 << 20;
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv);
  struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
  bind(fd, (struct sockaddr *)&sa, sizeof sa);
  static char out[1 << 20], in[1 << 16];
  int done = 0, errors = 0;
  for (int start = 0; start < n; start += window) {
    int len = 0, cnt = 0;
    for (int i = start; i < n && i < start + window; i++, cnt++) len += build(out + len, i, i + 1, group);
    if (send(fd, out, len, 0) < 0) { perror("send"); return 1; }
    while (cnt > 0) {
      int r = recv(fd, in, sizeof in, 0);
      if (r < 0) { perror("recv"); return 1; }
      for (struct nlmsghdr *h = (struct nlmsghdr *)in; NLMSG_OK(h, r); h = NLMSG_NEXT(h, r)) {
        if (h->nlmsg_type == NLMSG_ERROR) {
          struct nlmsgerr *e = NLMSG_DATA(h);
          if (e->error) errors++;
          cnt--;
          done++;
        }
      }
    }
  }
  printf("%d %d\n", done, errors);
  return errors ? 1 : 0;
}
