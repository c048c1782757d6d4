// Routing between the bridge and the rest (like `sysctl net.ipv4.ip_forward=1`),
// except for internal networks, which have no way out.
import { Netns } from '../../../netns';
import type { CnmContext } from '../../context';
import type { NetworkRecord } from '../../types';

export async function setupIPForwarding(_ctx: CnmContext, n: NetworkRecord): Promise<void> {
  if (n.internal) return;
  const host = Netns.current();
  try {
    host.sysctl('ipv4.ip_forward', 1);
    if (n.ipv6) host.sysctl('ipv6.conf.all.forwarding', 1);
  } finally {
    host.close();
  }
}
