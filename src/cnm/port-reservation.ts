// Published host ports are held by a socket of ours, as dockerd holds them
// with its userland proxy off: bound, not listening, without SO_REUSEADDR.
// A host process cannot bind a published port, publishing a port a host
// process holds fails with EADDRINUSE, and a connection that DNAT did not
// take is refused, not accepted.
import * as fs from 'fs';
import { Netns } from '../netns';
import { inUse } from './errors';
import { hostAddress, type PortBinding } from './ports';

const key = (b: PortBinding) => `${b.proto}/${b.hostIp}/${b.hostPort}`;

export class PortReservations {
  private held = new Map<string, number>();

  /**
   * Holds a binding's host port with one bound socket on its address, of
   * its family only: an IPv6 one is V6ONLY, so [::]:8080 and 0.0.0.0:8080
   * are held apart, as the kernel keeps them for V6ONLY processes. SCTP
   * ports are only allocated (the socket would need the sctp module
   * loaded). EADDRINUSE names the port.
   */
  reserve(b: PortBinding): void {
    if (b.proto === 'sctp' || this.held.has(key(b))) return;
    const v6 = b.hostIp.includes(':');
    try {
      // The controller's own namespace, the host's: no thread enters another for it.
      this.held.set(key(b), Netns.socketHere(v6 ? 6 : 4, b.proto, { address: b.hostIp, port: b.hostPort, reuseAddr: false, v6only: v6 }));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') throw inUse(`host port ${hostAddress(b.hostIp, b.hostPort)}/${b.proto} is in use by another process`);
      throw e;
    }
  }

  release(b: PortBinding): void {
    const fd = this.held.get(key(b));
    if (fd !== undefined) fs.closeSync(fd);
    this.held.delete(key(b));
  }

  close(): void {
    for (const fd of this.held.values()) fs.closeSync(fd);
    this.held.clear();
  }
}
