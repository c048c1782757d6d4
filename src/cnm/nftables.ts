// nftables-backed Firewall: placeholder until the nftables layer lands.
import type { Firewall } from './firewall';
export class NftFirewall {
  static async open(): Promise<Firewall | null> { return null; }
}
