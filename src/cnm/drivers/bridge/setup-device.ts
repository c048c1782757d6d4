// The bridge device (like `ip link add br-X type bridge stp_state 0`), and bringing it up.
import { ALIAS_PREFIX, CNM_LINK_GROUP, type CnmContext } from '../../context';
import { exists } from '../../errors';
import { randomMac } from '../../mac';
import type { NetworkRecord } from '../../types';
import type { Undo } from './setup';

export async function setupDevice(ctx: CnmContext, n: NetworkRecord, undo: Undo[]): Promise<void> {
  const existing = await ctx.rt.link.find(n.bridge!);
  if (existing && existing.kind !== 'bridge') throw exists('link (not a bridge)', n.bridge!);
  if (existing) return;
  // A MAC of its own, as Docker gives its bridges: otherwise the kernel
  // takes the lowest port's, and it changes as containers come and go.
  await ctx.rt.link.add({
    kind: 'bridge', name: n.bridge!, mtu: n.mtu, group: CNM_LINK_GROUP, alias: `${ALIAS_PREFIX}${n.id}`,
    address: n.bridgeMac ?? randomMac(), bridge: { stp: false },
  }, { echo: false });
  undo.push(() => ctx.rt.link.delete(n.bridge!));
}

export async function setupDeviceUp(ctx: CnmContext, n: NetworkRecord): Promise<void> {
  await ctx.rt.link.set(n.bridge!, { up: true });
}
