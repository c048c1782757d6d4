// Routes, like `ip route`.
import { native } from '../native';
import { NetlinkConnection } from '../netlink/connection';
import { ValidationError, checkBool, checkFamily, checkKeys, checkNamedNumber, checkObject, checkOptions, typeError } from '../errors';
import { NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REPLACE, RTM_DELROUTE, RTM_NEWROUTE } from '../netlink/constants';
import { af, parseCidr, parseIp, validateU32 } from '../util/ip';
import type { LinkApi, LinkRef } from './link';

export const RT_TYPES: Record<string, number> = {
  unicast: 1, local: 2, broadcast: 3, anycast: 4, multicast: 5, blackhole: 6, unreachable: 7, prohibit: 8, throw: 9,
};
export const RT_PROTOS: Record<string, number> = { unspec: 0, redirect: 1, kernel: 2, boot: 3, static: 4, dhcp: 16 };
export const RT_SCOPES: Record<string, number> = { universe: 0, global: 0, site: 200, link: 253, host: 254, nowhere: 255 };
export const RT_TABLES: Record<string, number> = { default: 253, main: 254, local: 255 };

const nameOf = (m: Record<string, number>, v: number): string | number => {
  for (const [k, n] of Object.entries(m)) if (n === v && k !== 'global') return k;
  return v;
};

export type RouteType = 'unicast' | 'local' | 'broadcast' | 'anycast' | 'multicast' | 'blackhole' | 'unreachable' | 'prohibit' | 'throw';

export interface Nexthop {
  gateway?: string;
  dev?: LinkRef;
  /** 1..256, like `ip route ... nexthop via X weight N`. */
  weight?: number;
  onlink?: boolean;
}

export interface RouteRequest {
  /** "10.0.0.0/24", "fd00::/64" or "default" (then `family` picks v4/v6, default 4). */
  dst: string;
  family?: 4 | 6;
  gateway?: string;
  dev?: LinkRef;
  onlink?: boolean;
  table?: number | 'main' | 'local' | 'default';
  metric?: number;
  protocol?: number | 'kernel' | 'boot' | 'static' | 'dhcp';
  scope?: number | 'global' | 'universe' | 'site' | 'link' | 'host' | 'nowhere';
  type?: RouteType;
  prefsrc?: string;
  mtu?: number;
  /** ECMP: several nexthops. */
  multipath?: Nexthop[];
}

export interface Route {
  family: 4 | 6;
  dst: string;
  src?: string;
  gateway?: string;
  dev?: number;
  onlink?: boolean;
  prefsrc?: string;
  table: number;
  metric: number;
  protocol: string | number;
  scope: string | number;
  type: string | number;
  flags: number;
  mtu?: number;
  iif?: number;
  multipath?: { gateway?: string; dev?: number; weight: number; flags: number }[];
  unknown: { type: number; data: Buffer }[];
}

export class RouteApi {
  constructor(private conn: NetlinkConnection, private links: LinkApi) {}

  /** Whether the request names links (which takes a lookup) rather than giving indexes. */
  private hasNames(req: RouteRequest): boolean {
    checkObject(req, 'route');
    const named = (d: LinkRef | undefined) => d !== undefined && this.links.indexNow(d) === undefined;
    return !!req && (named(req.dev) || (Array.isArray(req.multipath) && req.multipath.some((n) => named(n?.dev))));
  }

  /** Checks the request before any lookup, so bad input fails as such (not as a missing link). */
  private checked(req: RouteRequest): RouteRequest {
    const any = (n: any) => (n && n.dev !== undefined ? { ...n, dev: 1 } : n);
    this.build({ ...any(req), multipath: Array.isArray(req.multipath) ? req.multipath.map(any) : req.multipath });
    return req;
  }

  /** The request with its link names resolved to indexes. */
  private async resolve(req: RouteRequest): Promise<RouteRequest> {
    const out: RouteRequest = { ...req };
    if (req.dev !== undefined) out.dev = await this.links.index(req.dev);
    if (Array.isArray(req.multipath)) out.multipath = await Promise.all(req.multipath.map(async (n) => n?.dev === undefined ? n : { ...n, dev: await this.links.index(n.dev) }));
    return out;
  }

  /** Builds a request whose links are indexes (see resolve): synchronous, so it goes out in call order. */
  private build(req: RouteRequest): any {
    checkObject(req, 'route');
    checkKeys(req, ['dst', 'family', 'gateway', 'dev', 'onlink', 'table', 'metric', 'protocol', 'scope', 'type', 'prefsrc', 'mtu', 'multipath'], 'route');
    if (req.dst === undefined) throw new ValidationError('route needs a dst ("default" or a CIDR)');
    if (typeof req.dst !== 'string') throw typeError('dst', '"default" or a CIDR string', req.dst);
    const asked = req.family === undefined ? undefined : checkFamily(req.family);
    let family: 4 | 6;
    let dst: string;
    if (req.dst === 'default') {
      family = asked ?? (req.gateway !== undefined ? parseIp(req.gateway, 'gateway').family : 4);
      dst = family === 6 ? '::/0' : '0.0.0.0/0';
    } else {
      const c = parseCidr(req.dst, 'destination');
      family = c.family;
      if (asked !== undefined && asked !== family) throw new ValidationError(`dst ${req.dst} is not IPv${asked}`);
      dst = `${c.address}/${c.prefix}`;
    }
    const r: any = { family: af(family), dst };
    const nh = (n: Nexthop, out: any) => {
      if (n.gateway !== undefined) {
        out.gateway = parseIp(n.gateway, 'gateway', family).address;
      }
      if (n.dev !== undefined) out.dev = this.links.indexNow(n.dev, 'dev');
      if (n.onlink !== undefined && checkBool(n.onlink, 'onlink')) out.onlink = true;
    };
    nh(req, r);
    if (req.multipath !== undefined) {
      if (!Array.isArray(req.multipath)) throw typeError('multipath', 'a list of nexthops', req.multipath);
      if (req.multipath.length === 0) throw new ValidationError('multipath needs nexthops');
      // (Each nexthop carries its own: one given beside them would be dropped, as `ip route` refuses.)
      for (const k of ['gateway', 'dev', 'onlink'] as const) if (req[k] !== undefined) throw new ValidationError(`route with multipath: ${k} belongs in each nexthop`);
      // One message holds them (the kernel's RTA_MULTIPATH is 16-bit long).
      if (req.multipath.length > 256) throw new ValidationError(`multipath: ${req.multipath.length} nexthops (at most 256)`);
      r.multipath = [];
      for (const n of req.multipath) {
        checkObject(n, 'nexthop');
        checkKeys(n, ['gateway', 'dev', 'weight', 'onlink'], 'nexthop');
        const o: any = {};
        nh(n, o);
        if (n.weight !== undefined) o.weight = validateU32(n.weight, 'weight', 1, 256);
        r.multipath.push(o);
      }
    }
    const pick = (v: any, map: Record<string, number>, what: string, max = 255) => checkNamedNumber(v, what, map, max);
    if (req.table !== undefined) r.table = pick(req.table, RT_TABLES, 'table', 0xffffffff);
    if (req.metric !== undefined) r.metric = validateU32(req.metric, 'metric');
    if (req.protocol !== undefined) r.protocol = pick(req.protocol, RT_PROTOS, 'protocol');
    else r.protocol = RT_PROTOS.boot;
    if (req.type !== undefined) r.type = pick(req.type, RT_TYPES, 'route type');
    if (req.scope !== undefined) r.scope = pick(req.scope, RT_SCOPES, 'scope');
    else if (!req.gateway && !req.multipath && req.dev !== undefined && (req.type ?? 'unicast') === 'unicast') r.scope = RT_SCOPES.link;
    else if (req.type === 'local') r.scope = RT_SCOPES.host;
    else r.scope = RT_SCOPES.universe;
    if (req.prefsrc !== undefined) r.prefsrc = parseIp(req.prefsrc, 'prefsrc', family).address;
    if (req.mtu !== undefined) r.mtu = validateU32(req.mtu, 'mtu', 68, 65535);
    return r;
  }

  private op(name: string, req: RouteRequest): string {
    return `route.${name} ${req?.dst}${req?.gateway ? ` via ${req.gateway}` : ''}`;
  }

  /** Adds a route, like `ip route add`. */
  async add(req: RouteRequest): Promise<void> {
    const r = this.hasNames(req) ? this.build(await this.resolve(this.checked(req))) : this.build(req);
    await this.conn.request(native.routeBuild(r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL), this.op('add', req));
  }

  /** Adds or replaces, like `ip route replace`. */
  async replace(req: RouteRequest): Promise<void> {
    const r = this.hasNames(req) ? this.build(await this.resolve(this.checked(req))) : this.build(req);
    await this.conn.request(native.routeBuild(r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE), this.op('replace', req));
  }

  /** Deletes a route, like `ip route del`. */
  async delete(req: RouteRequest): Promise<void> {
    const r = this.hasNames(req) ? this.build(await this.resolve(this.checked(req))) : this.build(req);
    delete r.protocol;  // match any protocol, as `ip route del` does
    const buf = native.routeBuild(r, RTM_DELROUTE, 0);
    // Like `ip route del`: unspecified scope and type match any. libnl would
    // guess a scope, so set the rtmsg bytes directly (rtm_protocol, rtm_scope, rtm_type).
    if (req.scope === undefined) buf[16 + 6] = RT_SCOPES.nowhere;
    if (req.type === undefined) buf[16 + 7] = 0;
    if (req.protocol === undefined) buf[16 + 5] = 0;
    await this.conn.request(buf, this.op('delete', req));
  }

  /** Routes of a table (default: main; 'all' for every table), like `ip route show`. */
  async list(filter: { family?: 4 | 6; table?: number | 'main' | 'local' | 'default' | 'all'; dev?: LinkRef } = {}): Promise<Route[]> {
    checkOptions(filter, 'route.list filter');
    checkKeys(filter, ['family', 'table', 'dev'], 'route.list filter');
    const fams: (4 | 6)[] = filter.family !== undefined ? [checkFamily(filter.family)] : [4, 6];
    const table = filter.table === undefined ? 254 : filter.table === 'all' ? undefined : checkNamedNumber(filter.table, 'table', RT_TABLES, 0xffffffff);
    if (filter.dev !== undefined) this.links.indexNow(filter.dev, 'dev');
    const dev = filter.dev !== undefined ? await this.links.index(filter.dev) : undefined;
    const out: Route[] = [];
    for (const f of fams) {
      const res = await this.conn.request(native.routeDump({ family: af(f) }, NLM_F_DUMP), 'route.list', { dump: true });
      for (const r of res) {
        if (!r || r.dst === undefined) continue;
        if (table !== undefined && r.table !== table) continue;
        if (dev !== undefined && r.dev !== dev && !(r.multipath ?? []).some((n: any) => n.dev === dev)) continue;
        out.push(this.decorate(r));
      }
    }
    return out;
  }

  private decorate(r: any): Route {
    return {
      ...r,
      family: r.family === 10 ? 6 : 4,
      protocol: nameOf(RT_PROTOS, r.protocol),
      scope: nameOf(RT_SCOPES, r.scope),
      type: nameOf(RT_TYPES, r.type),
    };
  }

  /** Asks the kernel which route a packet would take, like `ip route get`. */
  async get(dst: string, opts: { src?: string; oif?: LinkRef; iif?: LinkRef } = {}): Promise<Route> {
    const d = parseIp(dst, 'destination');
    checkOptions(opts, 'route.get options');
    checkKeys(opts, ['src', 'oif', 'iif'], 'route.get options');
    const req: any = { dst: d.address };
    // (Of the destination's family.)
    if (opts.src !== undefined) req.src = parseIp(opts.src, 'source', d.family).address;
    if (opts.oif !== undefined) this.links.indexNow(opts.oif, 'oif');
    if (opts.iif !== undefined) this.links.indexNow(opts.iif, 'iif');
    if (opts.oif !== undefined) req.oif = await this.links.index(opts.oif);
    if (opts.iif !== undefined) req.iif = await this.links.index(opts.iif);
    const res = await this.conn.request(native.routeGet(req, 0), `route.get ${dst}`);
    return this.decorate(res[0]);
  }
}
