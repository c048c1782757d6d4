// A sandbox's hosts and resolv.conf, for a runtime to bind-mount, and the
// /etc/netns link through which `ip netns exec` finds them.
import * as fs from 'fs';
import * as path from 'path';
import { NETNS_PREFIX, type CnmContext } from './context';
import { containerNameservers, hostResolvConf } from './dns';
import { driverFor } from './drivers';
import { defaultBridge, linkHosts } from './links';
import { hasNames, RESOLVER_ADDRESS } from './names';
import { HOSTS_HEAD, HOST_GATEWAY, renderResolvConf, withNdots0 } from './resolv-conf';
import type { NetworkRecord, SandboxRecord } from './types';

/** The address `host-gateway` stands for: the default bridge's gateway. */
function hostGateway(ctx: CnmContext): string | undefined {
  const def = defaultBridge(ctx);
  return def && ctx.ipam.get(def.id)?.v4?.[0].gateway;
}

/** The default bridge made now if it waits for its first join: `host-gateway` names its address, which must be there. */
export async function ensureHostGateway(ctx: CnmContext): Promise<void> {
  const def = defaultBridge(ctx);
  if (def) await driverFor(def.driver).materialize?.(ctx, def);
}

/** The hosts and resolv.conf a sandbox should have now. */
function sandboxFiles(ctx: CnmContext, sb: SandboxRecord): { hosts: string; resolv: string } {
  // A sandbox sharing a namespace shows its owner's settings (they share one resolver).
  const root = sb.joinedTo ? ctx.store.get<SandboxRecord>('sandbox', sb.joinedTo) ?? sb : sb;
  const eps = ctx.namespaceEndpoints(sb);
  const hosts = [...HOSTS_HEAD];
  for (const h of root.extraHosts ?? []) {
    const ip = h.ip === HOST_GATEWAY ? hostGateway(ctx) : h.ip;
    if (ip) hosts.push(`${ip}\t${h.name}`);
  }
  // Legacy links after --add-host, as Docker adds them to the sandbox's extra hosts.
  hosts.push(...linkHosts(ctx, root));
  for (const ep of eps) {
    if (ep.ipv4) hosts.push(`${ep.ipv4}\t${sb.hostname}`);
    if (ep.ipv6) hosts.push(`${ep.ipv6}\t${sb.hostname}`);
  }
  // (systemd-resolved's own file when the host's names only its stub, as Docker reads it.)
  const host = hostResolvConf(ctx.opts.resolvConf);
  const search = root.dnsSearch ? root.dnsSearch.filter((d) => d !== '.') : host.search;
  const options = root.dnsOptions ?? host.options;
  const named = eps.map((e) => ctx.store.get<NetworkRecord>('network', e.networkId)).filter((n): n is NetworkRecord => !!n && hasNames(n));
  let resolv: string;
  if (named.length) {
    resolv = renderResolvConf({ nameservers: [RESOLVER_ADDRESS], search, options: withNdots0(options) }, 'the embedded DNS server in the sandbox');
  } else {
    const servers = root.dns ?? containerNameservers({ ipv6: eps.some((e) => !!e.ipv6), file: ctx.opts.resolvConf });
    resolv = renderResolvConf({ nameservers: servers, search, options }, root.dns ? 'the sandbox\'s dns servers' : 'the host\'s resolv.conf');
  }
  return { hosts: hosts.join('\n') + '\n', resolv };
}

// What this process last wrote to each sandbox's files (by path): a join that changes
// only the hosts lines (the usual case) rewrites only hosts. (A file edited
// by hand meanwhile is rewritten at the next change, as Docker does.)
// `pending`: the first write is still out (on disk): a rewrite meanwhile writes anyway.
const written = new Map<string, { hosts: string; resolv: string; pending?: boolean }>();

/** The sandbox's own directory (its parent is made the first time). */
function makeDirSync(dir: string): void {
  try { fs.mkdirSync(dir); } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') fs.mkdirSync(dir, { recursive: true });
    else if (code !== 'EEXIST') throw e;
  }
}

export function writeSandboxFiles(ctx: CnmContext, sb: SandboxRecord): void {
  // Small files written synchronously (on tmpfs by default, see runDir):
  // cheaper than queueing behind the journal's fsync on the libuv pool, and
  // the last write is the newest state.
  const f = sandboxFiles(ctx, sb);
  const seen = written.get(sb.hostsPath);
  const last = seen?.pending ? undefined : seen;
  if (!last) makeDirSync(path.dirname(sb.hostsPath));
  if (last?.hosts !== f.hosts) fs.writeFileSync(sb.hostsPath, f.hosts);
  if (last?.resolv !== f.resolv) fs.writeFileSync(sb.resolvConfPath, f.resolv);
  written.set(sb.hostsPath, f);
}

// Whether a directory is in memory (tmpfs, ramfs): asked once per directory
// (a directory moved onto another mount meanwhile is not noticed).
const TMPFS_MAGIC = 0x01021994;
const RAMFS_MAGIC = 0x858458f6;
const inMemory = new Map<string, boolean>();
export function memoryBacked(dir: string): boolean {
  const known = inMemory.get(dir);
  if (known !== undefined) return known;
  // Not there yet (every sandbox of a controller's first burst starts before
  // it is made): the nearest existing parent tells, as the directory will be
  // made on its filesystem. Remembered once the directory itself answers.
  for (let d = dir; ; d = path.dirname(d)) {
    let type: number;
    try { type = fs.statfsSync(d).type; } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' && d !== path.dirname(d)) continue;
      return false;
    }
    const m = type === TMPFS_MAGIC || type === RAMFS_MAGIC;
    if (d === dir) inMemory.set(dir, m);
    return m;
  }
}

/** Callback fs calls as a promise: much less work for the loop than fs.promises (no FileHandle per file). */
const call = (f: (...a: any[]) => void, ...args: unknown[]): Promise<void> =>
  new Promise((resolve, reject) => f(...args, (e: Error | null) => (e ? reject(e) : resolve())));

/**
 * A new sandbox's files and /etc/netns link. In memory (the default run
 * directory is on tmpfs) they are written at once: 1,000 sandboxes' files
 * cost the loop about 25 ms so, 300 ms through fs.promises. On disk, where
 * an entry can wait for a journal commit, they go off the loop and overlap
 * the making of the namespace.
 */
export async function writeNewSandboxFiles(ctx: CnmContext, sb: SandboxRecord): Promise<void> {
  const f = sandboxFiles(ctx, sb);
  const dir = path.dirname(sb.hostsPath);
  if (memoryBacked(path.dirname(dir))) {
    makeDirSync(dir);
    fs.writeFileSync(sb.hostsPath, f.hosts);
    fs.writeFileSync(sb.resolvConfPath, f.resolv);
    written.set(sb.hostsPath, f);
  } else {
    // A rewrite while these are out (a link's parent changed) must win:
    // it writes regardless (pending), and is written again after ours land.
    const mine = { ...f, pending: true };
    written.set(sb.hostsPath, mine);
    try {
      await call(fs.mkdir, dir, { recursive: true });
      await Promise.all([call(fs.writeFile, sb.hostsPath, f.hosts), call(fs.writeFile, sb.resolvConfPath, f.resolv)]);
    } catch (e) {
      if (written.get(sb.hostsPath) === mine) written.delete(sb.hostsPath);
      throw e;
    }
    const now = written.get(sb.hostsPath);
    if (now === mine) mine.pending = false;
    else if (now) { fs.writeFileSync(sb.hostsPath, now.hosts); fs.writeFileSync(sb.resolvConfPath, now.resolv); }
  }
  await linkEtcNetns(ctx, sb);
}

/** hosts and resolv.conf of every sandbox sharing `sb`'s namespace (container mode): they all see its networks. */
export function writeNamespaceFiles(ctx: CnmContext, sb: SandboxRecord): void {
  for (const m of ctx.namespaceMembers(sb)) writeSandboxFiles(ctx, m);
}

const etcNetnsDir = (ctx: CnmContext): string | null => (ctx.opts.etcNetnsDir === undefined ? '/etc/netns' : ctx.opts.etcNetnsDir);

// The /etc/netns directories made (or found) by this process. A burst of
// new sandboxes on a machine without the directory would otherwise each
// fail its link, make the directory and link again; one makes it, the
// others wait for that. (Removed later, a link's ENOENT makes it again.)
const etcDirsMade = new Set<string>();
const etcDirsMaking = new Map<string, Promise<void>>();
function makeEtcDir(etc: string): Promise<void> {
  let p = etcDirsMaking.get(etc);
  if (!p) {
    p = call(fs.mkdir, etc, { recursive: true }).then(() => { etcDirsMade.add(etc); }).finally(() => etcDirsMaking.delete(etc));
    etcDirsMaking.set(etc, p);
  }
  return p;
}

/**
 * `ip netns exec` bind-mounts /etc/netns/NAME/* over /etc: a link from there
 * to the sandbox's directory makes names work there too, and stays current.
 */
export async function linkEtcNetns(ctx: CnmContext, sb: SandboxRecord): Promise<void> {
  const etc = etcNetnsDir(ctx);
  if (!etc || sb.mode !== 'own' || !sb.netnsName) return;
  const at = path.join(etc, sb.netnsName);
  const target = path.dirname(sb.hostsPath);
  try {
    if (!etcDirsMade.has(etc)) await makeEtcDir(etc);
    if (memoryBacked(etc)) fs.symlinkSync(target, at);
    else await call(fs.symlink, target, at);
  } catch (e) {
    try {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        await fs.promises.mkdir(etc, { recursive: true });
        await fs.promises.symlink(target, at);
      } else if (code === 'EEXIST') {
        // Left by a crash (reconcile removes ours), or by someone else: replace only a link.
        if ((await fs.promises.lstat(at)).isSymbolicLink()) { await fs.promises.unlink(at); await fs.promises.symlink(target, at); }
      }
    } catch { /* read-only /etc: the paths above still work for runtimes */ }
  }
}

/** A sandbox's /etc/netns link, if it is there and points to its directory (else it is someone else's). */
export function removeOwnEtcNetns(ctx: CnmContext, sb: SandboxRecord): void {
  const etc = etcNetnsDir(ctx);
  if (!etc || !sb.netnsName) return;
  const at = path.join(etc, sb.netnsName);
  try {
    if (fs.readlinkSync(at) === path.dirname(sb.hostsPath)) fs.unlinkSync(at);
  } catch { /* none, or not a link: not ours */ }
}

export function removeEtcNetns(ctx: CnmContext, nsName: string): void {
  const etc = etcNetnsDir(ctx);
  if (!etc || !nsName.startsWith(NETNS_PREFIX)) return;
  const at = path.join(etc, nsName);
  // Ours is a symlink: one unlink. A directory there (made by hand) goes whole.
  try { fs.unlinkSync(at); } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') fs.rmSync(at, { recursive: true, force: true });
  }
}

/** Removes `file` (gone already is fine). */
function unlinkIfThere(file: string): void {
  try { fs.unlinkSync(file); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; }
}

export function removeSandboxFiles(ctx: CnmContext, sb: SandboxRecord, etcLink = true): void {
  const dir = path.dirname(sb.hostsPath);
  // The two files we wrote, then the directory: three syscalls, where a
  // recursive removal stats and lists first (a visible cost at 1,000
  // sandboxes). Anything else a runtime put there takes the long way.
  try {
    unlinkIfThere(sb.hostsPath);
    unlinkIfThere(sb.resolvConfPath);
    fs.rmdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') fs.rmSync(dir, { recursive: true, force: true });
  }
  written.delete(sb.hostsPath);
  if (sb.netnsName && etcLink) removeEtcNetns(ctx, sb.netnsName);
}
