// nf_tables numbers (<linux/netfilter/nf_tables.h>, <linux/netfilter.h>)
// and their nft names. Names are the policy; the addon only sees numbers.

export const NFT_MSG = {
  NEWTABLE: 0, GETTABLE: 1, DELTABLE: 2,
  NEWCHAIN: 3, GETCHAIN: 4, DELCHAIN: 5,
  NEWRULE: 6, GETRULE: 7, DELRULE: 8,
  NEWSET: 9, GETSET: 10, DELSET: 11,
  NEWSETELEM: 12, GETSETELEM: 13, DELSETELEM: 14,
  NEWGEN: 15, GETGEN: 16,
  // Linux 6.3+: delete if present (`nft destroy ...`), no ENOENT.
  DESTROYTABLE: 26, DESTROYCHAIN: 27, DESTROYRULE: 28, DESTROYSET: 29, DESTROYSETELEM: 30,
} as const;

export type Family = 'ip' | 'ip6' | 'inet' | 'arp' | 'bridge' | 'netdev';
export const FAMILIES: Record<Family, number> = { ip: 2, ip6: 10, inet: 1, arp: 3, bridge: 7, netdev: 5 };

export type Hook = 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting' | 'ingress' | 'egress';
export const HOOKS: Record<Hook, number> = { prerouting: 0, input: 1, forward: 2, output: 3, postrouting: 4, ingress: 0, egress: 1 };

/** Named chain priorities, as `nft` knows them (ip/ip6/inet/arp/netdev, then bridge). */
export const PRIORITIES: Record<string, number> = {
  raw: -300, mangle: -150, dstnat: -100, filter: 0, security: 50, srcnat: 100,
};
export const BRIDGE_PRIORITIES: Record<string, number> = { dstnat: -300, filter: -200, out: 100, srcnat: 300 };

export const NF_DROP = 0;
export const NF_ACCEPT = 1;
export const NFT_CONTINUE = -1;
export const NFT_BREAK = -2;
export const NFT_JUMP = -3;
export const NFT_GOTO = -4;
export const NFT_RETURN = -5;

export const NFT_REG_VERDICT = 0;
export const NFT_REG_1 = 1;
export const NFT_REG32_00 = 8;

export const META_KEYS: Record<string, number> = {
  len: 0, protocol: 1, priority: 2, mark: 3, iif: 4, oif: 5, iifname: 6, oifname: 7, iiftype: 8, oiftype: 9,
  skuid: 10, skgid: 11, nftrace: 12, rtclassid: 13, secmark: 14, nfproto: 15, l4proto: 16,
  ibrname: 17, obrname: 18, pkttype: 19, cpu: 20, iifgroup: 21, oifgroup: 22, cgroup: 23,
};

export const PAYLOAD_BASE = { ll: 0, network: 1, transport: 2 } as const;

export const CT_KEYS: Record<string, number> = { state: 0, direction: 1, status: 2, mark: 3 };
export const CT_STATES: Record<string, number> = { invalid: 1, established: 2, related: 4, new: 8, untracked: 64 };

export const CMP = { eq: 0, neq: 1, lt: 2, lte: 3, gt: 4, gte: 5 } as const;

export const NFT_LOOKUP_F_INV = 1;

export const FIB_RESULT = { oif: 1, oifname: 2, type: 3 } as const;
export const FIB_FLAGS = { saddr: 1, daddr: 2, mark: 4, iif: 8, oif: 16 } as const;
export const RTN_TYPES = ['unspec', 'unicast', 'local', 'broadcast', 'anycast', 'multicast', 'blackhole', 'unreachable', 'prohibit'];

export const NAT_TYPE = { snat: 0, dnat: 1 } as const;
export const NF_NAT_RANGE = {
  MAP_IPS: 1, PROTO_SPECIFIED: 2, PROTO_RANDOM: 4, PERSISTENT: 8, PROTO_RANDOM_FULLY: 16,
} as const;

export const SET_FLAGS: Record<string, number> = {
  anonymous: 0x1, constant: 0x2, interval: 0x4, map: 0x8, timeout: 0x10, dynamic: 0x20, object: 0x40, concat: 0x80, expr: 0x100,
};
export const NFT_SET_ELEM_INTERVAL_END = 1;
export const NFT_DATA_VERDICT = 0xffffff00;

/** nft's userdata TLV types (libnftnl/udata.h). */
export const UDATA_RULE_COMMENT = 0;
export const UDATA_TABLE_COMMENT = 0;
export const UDATA_CHAIN_COMMENT = 0;
export const UDATA_SET_KEYBYTEORDER = 0;
export const UDATA_SET_DATABYTEORDER = 1;
export const UDATA_SET_MERGE_ELEMENTS = 2;
export const UDATA_SET_DATA_INTERVAL = 6;
export const UDATA_SET_COMMENT = 7;
/** nft's `enum byteorder`. */
export const BYTEORDER = { invalid: 0, host: 1, big: 2 } as const;

export function familyName(n: number): Family | string {
  for (const [k, v] of Object.entries(FAMILIES)) if (v === n) return k as Family;
  return String(n);
}
