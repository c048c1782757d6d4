// Published host ports are held by a socket of ours, as dockerd holds them
// with its userland proxy off: bound, not listening, without SO_REUSEADDR.
// A host process cannot bind a published port, publishing a port a host
// process holds fails with EADDRINUSE, and a connection that DNAT did not
// take is refused, not accepted.
import * as fs from 'fs';
import { Netns } from '../netns';
import { inUse } from './errors';
import { isAnyAddress, type PortBinding } from './ports';

const key = (b: PortBinding) => `${b.proto}/${b.hostIp}/${b.hostPort}`;

export class PortReservations {
  private held = new Map<string, number[]>();

  /** One bound socket; EADDRINUSE names the port. */
  private hold(proto: 'tcp' | 'udp', address: string, port: number): number {
    const v6 = address.includes(':');
    try {
      // The controller's own namespace, the host's: no thread enters another for it.
      return Netns.socketHere(v6 ? 6 : 4, proto, { address, port, reuseAddr: false, v6only: v6 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') throw inUse(`host port ${v6 ? `[${address}]` : address}:${port}/${proto} is in use by another process`);
      throw e;
    }
  }

  /**
   * Holds a binding's host port: on its address, or on every address
   * (0.0.0.0, and [::] too when the endpoint has IPv6). SCTP ports are only
   * allocated (the socket would need the sctp module loaded).
   */
  reserve(b: PortBinding, ipv6: boolean): void {
    if (b.proto === 'sctp' || this.held.has(key(b))) return;
    const addrs = isAnyAddress(b.hostIp) ? (ipv6 ? ['0.0.0.0', '::'] : ['0.0.0.0']) : [b.hostIp];
    const fds: number[] = [];
    try {
      for (const a of addrs) fds.push(this.hold(b.proto, a, b.hostPort));
    } catch (e) {
      for (const fd of fds) fs.closeSync(fd);
      throw e;
    }
    this.held.set(key(b), fds);
  }

  release(b: PortBinding): void {
    for (const fd of this.held.get(key(b)) ?? []) fs.closeSync(fd);
    this.held.delete(key(b));
  }

  close(): void {
    for (const fds of this.held.values()) for (const fd of fds) fs.closeSync(fd);
    this.held.clear();
  }
}
