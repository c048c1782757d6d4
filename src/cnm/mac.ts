// MAC addresses of our interfaces, and what the kernel derives from them.
import * as crypto from 'crypto';

/** MAC from an IPv4 address, as Docker before 28: 02:42 + the address bytes. */
export function macFromIp(ip: string): string {
  return ['02', '42', ...ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0'))].join(':');
}

/** A random locally administered unicast MAC, as Docker gives its bridges. */
export function randomMac(): string {
  const mac = crypto.randomBytes(6);
  mac[0] = (mac[0] & 0xfe) | 0x02;
  return [...mac].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** The EUI-64 IPv6 link-local address of a MAC, as the kernel derives it (fe80::/64, U/L bit flipped, ff:fe in the middle). */
export function linkLocalOf(mac: string): string {
  const b = mac.split(':').map((x) => parseInt(x, 16));
  const w = [(b[0] ^ 2) << 8 | b[1], b[2] << 8 | 0xff, 0xfe << 8 | b[3], b[4] << 8 | b[5]];
  // Canonical text (no zero groups spelled out), as the kernel reports it.
  return new URL(`http://[fe80::${w.map((x) => x.toString(16)).join(':')}]`).hostname.slice(1, -1);
}
