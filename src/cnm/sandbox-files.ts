// A sandbox's hosts and resolv.conf, for a runtime to bind-mount, and the
// /etc/netns link through which `ip netns exec` finds them.
import * as fs from 'fs';
import * as path from 'path';
import { NETNS_PREFIX, type CnmContext } from './context';
import { containerNameservers } from './dns';
import { hasNames, RESOLVER_ADDRESS } from './names';
import { HOSTS_HEAD, HOST_GATEWAY, readHostResolvConf, renderResolvConf, withNdots0 } from './resolv-conf';
import type { NetworkRecord, SandboxRecord } from './types';

/** The address `host-gateway` stands for: the default bridge's gateway. */
function hostGateway(ctx: CnmContext): string | undefined {
  const def = ctx.store.all<NetworkRecord>('network').find((n) => n.builtin && n.name === 'bridge');
  return def && ctx.ipam.get(def.id)?.v4?.[0].gateway;
}

export function writeSandboxFiles(ctx: CnmContext, sb: SandboxRecord): void {
  // Small files written synchronously (on tmpfs by default, see runDir):
  // cheaper than queueing behind the journal's fsync on the libuv pool.
  fs.mkdirSync(path.dirname(sb.hostsPath), { recursive: true });
  // A sandbox sharing a namespace shows its owner's settings (they share one resolver).
  const root = sb.joinedTo ? ctx.store.get<SandboxRecord>('sandbox', sb.joinedTo) ?? sb : sb;
  const eps = ctx.namespaceEndpoints(sb);
  const hosts = [...HOSTS_HEAD];
  for (const h of root.extraHosts ?? []) {
    const ip = h.ip === HOST_GATEWAY ? hostGateway(ctx) : h.ip;
    if (ip) hosts.push(`${ip}\t${h.name}`);
  }
  for (const ep of eps) {
    if (ep.ipv4) hosts.push(`${ep.ipv4}\t${sb.hostname}`);
    if (ep.ipv6) hosts.push(`${ep.ipv6}\t${sb.hostname}`);
  }
  const host = readHostResolvConf(ctx.opts.resolvConf);
  const search = root.dnsSearch ? root.dnsSearch.filter((d) => d !== '.') : host.search;
  const options = root.dnsOptions ?? host.options;
  const named = eps.map((e) => ctx.store.get<NetworkRecord>('network', e.networkId)).filter((n): n is NetworkRecord => !!n && hasNames(n));
  let resolv: string;
  if (named.length) {
    resolv = renderResolvConf({ nameservers: [RESOLVER_ADDRESS], search, options: withNdots0(options) }, 'the embedded DNS server in the sandbox');
  } else {
    const servers = root.dns ?? containerNameservers(ctx.opts.resolvConf ? [ctx.opts.resolvConf, '/run/systemd/resolve/resolv.conf'] : undefined);
    resolv = renderResolvConf({ nameservers: servers, search, options }, root.dns ? 'the sandbox\'s dns servers' : 'the host\'s resolv.conf');
  }
  fs.writeFileSync(sb.hostsPath, hosts.join('\n') + '\n');
  fs.writeFileSync(sb.resolvConfPath, resolv);
}

/** hosts and resolv.conf of every sandbox sharing `sb`'s namespace (container mode): they all see its networks. */
export function writeNamespaceFiles(ctx: CnmContext, sb: SandboxRecord): void {
  for (const m of ctx.namespaceMembers(sb)) writeSandboxFiles(ctx, m);
}

const etcNetnsDir = (ctx: CnmContext): string | null => (ctx.opts.etcNetnsDir === undefined ? '/etc/netns' : ctx.opts.etcNetnsDir);

/**
 * `ip netns exec` bind-mounts /etc/netns/NAME/* over /etc: a link from there
 * to the sandbox's directory makes names work there too, and stays current.
 */
export function linkEtcNetns(ctx: CnmContext, sb: SandboxRecord): void {
  const etc = etcNetnsDir(ctx);
  if (!etc || sb.mode !== 'own' || !sb.netnsName) return;
  const at = path.join(etc, sb.netnsName);
  const target = path.dirname(sb.hostsPath);
  try {
    fs.symlinkSync(target, at);
  } catch (e) {
    try {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        fs.mkdirSync(etc, { recursive: true });
        fs.symlinkSync(target, at);
      } else if (code === 'EEXIST') {
        // Left by a crash (reconcile removes ours), or by someone else: replace only a link.
        if (fs.lstatSync(at).isSymbolicLink()) { fs.unlinkSync(at); fs.symlinkSync(target, at); }
      }
    } catch { /* read-only /etc: the paths above still work for runtimes */ }
  }
}

export function removeEtcNetns(ctx: CnmContext, nsName: string): void {
  const etc = etcNetnsDir(ctx);
  if (etc && nsName.startsWith(NETNS_PREFIX)) fs.rmSync(path.join(etc, nsName), { recursive: true, force: true });
}

export function removeSandboxFiles(ctx: CnmContext, sb: SandboxRecord, etcLink = true): void {
  fs.rmSync(path.dirname(sb.hostsPath), { recursive: true, force: true });
  if (sb.netnsName && etcLink) removeEtcNetns(ctx, sb.netnsName);
}
