// Legacy links with icc off, as libnetwork's bridge driver (link.go) makes
// them: each linked pair may talk on the target's exposed ports, nothing
// else crosses the bridge. The ports of an icc-off bridge are isolated (the
// kernel forwards nothing between them); a port in a link is opened, and the
// firewall's link rules filter what it may exchange (see nft-ruleset.ts).
import type { CnmContext } from '../../context';
import type { ActiveLink } from '../../driver';
import type { LinkRule } from '../../firewall';
import type { EndpointRecord, NetworkRecord } from '../../types';

/** Bridge ports opened for links, by host end name, per controller (ports are born isolated). */
const opened = new WeakMap<CnmContext, Set<string>>();
const openedOf = (ctx: CnmContext) => opened.get(ctx) ?? opened.set(ctx, new Set()).get(ctx)!;

/** A port made isolated again (re-attached to a bridge made anew): no longer open for links. */
export function forgetOpenedPort(ctx: CnmContext, name: string): void { openedOf(ctx).delete(name); }

export function linkRules(links: ActiveLink[]): LinkRule[] {
  return links.flatMap((l) => {
    const { parent: p, child: c } = l;
    if (!p.ipv4 || !c.ipv4 || !p.hostIfname || !c.hostIfname) return [];
    return l.ports.map((x) => ({ parentIp: p.ipv4!, childIp: c.ipv4!, parentIf: p.hostIfname!, childIf: c.hostIfname!, proto: x.proto, port: x.port }));
  });
}

export async function applyBridgeLinks(ctx: CnmContext, n: NetworkRecord, links: () => ActiveLink[], o: { full?: boolean }): Promise<void> {
  // With icc on every pair talks already (Docker adds its link rules only
  // with icc off); after a restart, rules left from before go.
  if (n.icc !== false) {
    if (o.full) await ctx.fw.setLinks(n.id, [], async () => {});
    return;
  }
  const rules = linkRules(links());
  const wanted = new Set(rules.flatMap((r) => [r.parentIf, r.childIf]));
  const ports = ctx.store.by<EndpointRecord>('endpoint', 'network', n.id).filter((e) => e.sandboxId && !e.pending && e.hostIfname).map((e) => e.hostIfname!);
  const open = openedOf(ctx);
  await ctx.fw.setLinks(n.id, rules, async () => {
    for (const name of ports) {
      const want = wanted.has(name);
      // After a restart nothing is known of the kernel: every port is set.
      if (!o.full && want === open.has(name)) continue;
      await ctx.rt.link.set(name, { bridgePort: { isolated: !want } }).catch((e) => { if (e.code !== 'ENODEV') throw e; });
      if (want) open.add(name); else open.delete(name);
    }
    const live = new Set(ports);
    for (const name of open) if (!live.has(name)) open.delete(name);
  });
}
