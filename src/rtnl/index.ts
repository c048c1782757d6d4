// A handle on rtnetlink in one network namespace.
import { NetlinkConnection } from '../netlink/connection';
import { NETLINK_ROUTE } from '../netlink/constants';
import { Netns } from '../netns';
import { NetlinkError, checkArray, checkInt, checkKeys, checkOptions } from '../errors';
import { LinkApi } from './link';
import { AddrApi } from './addr';
import { RouteApi } from './route';
import { NeighApi } from './neigh';
import { EventGroup, RtnlEvents } from './events';

export interface RtnlOptions {
  /** Namespace to work in: a Netns, a name under /run/netns, or omitted for the current one. */
  netns?: Netns | string;
  /** Requests in flight at once (default 256). */
  window?: number;
  /** Receive buffer in bytes (default 8 MiB). */
  rcvbuf?: number;
}

export class Rtnl {
  readonly link: LinkApi;
  readonly addr: AddrApi;
  readonly route: RouteApi;
  readonly neigh: NeighApi;
  readonly netns?: Netns;
  private conn: NetlinkConnection;
  private ownsNetns: boolean;

  private constructor(conn: NetlinkConnection, netns: Netns | undefined, ownsNetns: boolean) {
    this.conn = conn;
    this.netns = netns;
    this.ownsNetns = ownsNetns;
    this.link = new LinkApi(conn);
    this.addr = new AddrApi(conn, this.link);
    this.route = new RouteApi(conn, this.link);
    this.neigh = new NeighApi(conn, this.link);
  }

  /** Opens a handle; the socket is created inside the namespace, on a dedicated thread. */
  static async open(opts: RtnlOptions = {}): Promise<Rtnl> {
    const o = checkOptions<RtnlOptions>(opts, 'Rtnl.open options');
    checkKeys(o, ['netns', 'window', 'rcvbuf'], 'Rtnl.open');
    if (o.window !== undefined) checkInt(o.window, 'window', 1, 1 << 20);
    if (o.rcvbuf !== undefined) checkInt(o.rcvbuf, 'rcvbuf', 4096, 0x7fffffff);
    let ns: Netns | undefined;
    let owns = false;
    if (typeof o.netns === 'string') { ns = await Netns.open(o.netns); owns = true; }
    else if (o.netns !== undefined) { Netns.fdOf(o.netns, 'netns'); ns = o.netns; }
    opts = o;
    try {
      // A socket made when the namespace was created saves entering it again.
      const adoptFd = ns?.takeRtnlSocket();
      // (On failure the native side has closed it.)
      const conn = new NetlinkConnection(NETLINK_ROUTE, { netnsFd: ns?.fd, adoptFd, window: opts.window, rcvbuf: opts.rcvbuf });
      return new Rtnl(conn, ns, owns);
    } catch (e) {
      if (owns) ns!.close();
      throw e;
    }
  }

  /** Notifications in this handle's namespace, like `ip monitor link address route neigh`. */
  events(groups: EventGroup[] = ['link', 'addr', 'route', 'neigh']): RtnlEvents {
    // Closed: EBADF, as every other use (not a fresh socket of its own).
    if (this.conn.isClosed) throw new NetlinkError('rtnl events: handle closed', 'EBADF', 9);
    checkArray(groups, 'event groups');
    return new RtnlEvents(this.netns?.fd, groups);
  }

  /** The underlying connection (for tuning and diagnostics). */
  get connection(): NetlinkConnection { return this.conn; }

  /** Counters of this handle's socket (dumps retried after NLM_F_DUMP_INTR). */
  get stats(): { dumpRetries: number } {
    return { ...this.conn.stats };
  }

  close(): void {
    this.conn.close();
    if (this.ownsNetns) this.netns!.close();
  }
}

export * from './link';
export * from './addr';
export * from './route';
export * from './neigh';
export * from './events';
