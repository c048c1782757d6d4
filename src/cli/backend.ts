// Where a command's work is done: the daemon when its socket answers (as the
// docker client with dockerd), else a controller on the state directory,
// opened for the command and closed after it. Both speak the same shapes.
import * as fs from 'fs';
import * as path from 'path';
import { Controller } from '../cnm/controller';
import { CnmError, errnoOf } from '../errors';
import { DaemonClient } from '../daemon/client';
import { DEFAULT_SOCKET, socketAnswers } from '../daemon/server';
import { parseFilters } from '../daemon/filters';
import * as svc from '../daemon/service';

export interface Backend {
  readonly kind: 'daemon' | 'local';
  /** `filters` as Docker's query parameter (JSON). */
  listNetworks(filters?: string): Promise<any[]>;
  inspectNetwork(ref: string): Promise<any>;
  createNetwork(body: unknown): Promise<{ Id: string; Warning: string }>;
  removeNetwork(ref: string): Promise<void>;
  pruneNetworks(filters?: string): Promise<{ NetworksDeleted: string[] | null }>;
  connect(network: string, body: unknown): Promise<void>;
  disconnect(network: string, body: unknown): Promise<void>;
  listSandboxes(): Promise<any[]>;
  inspectSandbox(ref: string): Promise<any>;
  createSandbox(body: unknown): Promise<any>;
  removeSandbox(ref: string): Promise<void>;
  /** `port`: one container port ("80", "80/udp"), as `docker port SANDBOX PORT`. */
  sandboxPorts(ref: string, port?: string): Promise<Record<string, { HostIp: string; HostPort: string }[]>>;
  close(): Promise<void>;
}

export const PRIVILEGE_MESSAGE = 'needs CAP_NET_ADMIN: run as root or inside a user namespace';

/** CAP_NET_ADMIN (bit 12) in this process's effective set. */
export function hasNetAdmin(): boolean {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return !!m && (BigInt(`0x${m[1]}`) & (1n << 12n)) !== 0n;
  } catch {
    return true; // no /proc: let the kernel say
  }
}

export const privilegeError = (detail?: string) => new CnmError(`${PRIVILEGE_MESSAGE}${detail ? ` (${detail})` : ''}`, 'EPERM', errnoOf('EPERM'));

export class DaemonBackend implements Backend {
  readonly kind = 'daemon';
  readonly client: DaemonClient;
  constructor(readonly socket: string) { this.client = new DaemonClient(socket); }
  listNetworks(filters?: string) { return this.client.request('GET', '/networks', { query: { filters } }); }
  inspectNetwork(ref: string) { return this.client.request('GET', `/networks/${encodeURIComponent(ref)}`); }
  createNetwork(body: unknown) { return this.client.request('POST', '/networks/create', { body }); }
  async removeNetwork(ref: string) { await this.client.request('DELETE', `/networks/${encodeURIComponent(ref)}`); }
  pruneNetworks(filters?: string) { return this.client.request('POST', '/networks/prune', { query: { filters } }); }
  async connect(network: string, body: unknown) { await this.client.request('POST', `/networks/${encodeURIComponent(network)}/connect`, { body }); }
  async disconnect(network: string, body: unknown) { await this.client.request('POST', `/networks/${encodeURIComponent(network)}/disconnect`, { body }); }
  listSandboxes() { return this.client.request('GET', '/cnm/sandboxes'); }
  inspectSandbox(ref: string) { return this.client.request('GET', `/cnm/sandboxes/${encodeURIComponent(ref)}`); }
  createSandbox(body: unknown) { return this.client.request('POST', '/cnm/sandboxes', { body }); }
  async removeSandbox(ref: string) { await this.client.request('DELETE', `/cnm/sandboxes/${encodeURIComponent(ref)}`); }
  sandboxPorts(ref: string, port?: string) { return this.client.request('GET', `/cnm/sandboxes/${encodeURIComponent(ref)}/ports`, { query: { port } }); }
  async close() { /* nothing held */ }
}

export class LocalBackend implements Backend {
  readonly kind = 'local';
  private ctl?: Controller;
  constructor(readonly stateDir: string | undefined) {}

  /** The controller, opened on first use (restoring and reconciling, as every open does). */
  async controller(lockTimeoutMs?: number): Promise<Controller> {
    if (this.ctl) return this.ctl;
    if (!hasNetAdmin()) throw privilegeError();
    try {
      this.ctl = await Controller.open({ stateDir: this.stateDir, dns: false, lockTimeoutMs });
    } catch (e: any) {
      // What the kernel says without the capability (EPERM from netlink or nftables) is a privilege problem.
      if (e?.code === 'EPERM' || e?.code === 'EACCES') throw privilegeError(e.message);
      throw e;
    }
    return this.ctl;
  }

  /** Lets go of the state (and its lock), as `cnm run` does while its program runs. */
  async close(): Promise<void> {
    const c = this.ctl;
    this.ctl = undefined;
    await c?.close();
  }

  async listNetworks(filters?: string) { return svc.listNetworks(await this.controller(), parseFilters(filters, svc.NETWORK_LIST_FILTERS)); }
  async inspectNetwork(ref: string) { return svc.inspectNetwork(await this.controller(), ref); }
  async createNetwork(body: unknown) { return svc.createNetwork(await this.controller(), body); }
  async removeNetwork(ref: string) { return svc.removeNetwork(await this.controller(), ref); }
  async pruneNetworks(filters?: string) { return svc.pruneNetworks(await this.controller(), parseFilters(filters, svc.NETWORK_PRUNE_FILTERS)); }
  async connect(network: string, body: unknown) { return svc.connect(await this.controller(), network, body); }
  async disconnect(network: string, body: unknown) { return svc.disconnect(await this.controller(), network, body); }
  async listSandboxes() { return svc.listSandboxes(await this.controller()); }
  async inspectSandbox(ref: string) { return svc.inspectSandbox(await this.controller(), ref); }
  async createSandbox(body: unknown) { return svc.createSandbox(await this.controller(), body); }
  async removeSandbox(ref: string) { return svc.removeSandbox(await this.controller(), ref); }
  async sandboxPorts(ref: string, port?: string) { return svc.sandboxPorts(await this.controller(), ref, port); }
}

/** `unix:///path`, `unix://path` or a plain path. */
export function socketOf(host: string): string {
  if (host.startsWith('unix://')) return host.slice('unix://'.length);
  if (/^[a-z]+:\/\//.test(host)) throw new CnmError(`unsupported host ${JSON.stringify(host)}: only unix:// sockets`, 'EINVAL', errnoOf('EINVAL'));
  return host;
}

/**
 * The daemon at -H / CNM_HOST (which must answer), or the one at the default
 * socket when it answers and works on the same state directory, else local.
 */
export async function chooseBackend(o: { host?: string; stateDir?: string }): Promise<Backend> {
  const explicit = o.host ?? process.env.CNM_HOST;
  const stateOf = async (b: DaemonBackend) => (await b.client.request<{ DockerRootDir: string }>('GET', '/info')).DockerRootDir;
  if (explicit) {
    const socket = socketOf(explicit);
    if (!(await socketAnswers(socket))) throw new CnmError(`cannot connect to the cnm daemon at unix://${socket}: is it running?`, 'ECONNREFUSED', errnoOf('ECONNREFUSED'));
    const b = new DaemonBackend(socket);
    if (o.stateDir !== undefined) {
      const dir = await stateOf(b);
      if (dir !== path.resolve(o.stateDir)) throw new CnmError(`the daemon at unix://${socket} works on ${dir}, not on --state-dir ${o.stateDir}`, 'EINVAL', errnoOf('EINVAL'));
    }
    return b;
  }
  if (await socketAnswers(DEFAULT_SOCKET, 500)) {
    const b = new DaemonBackend(DEFAULT_SOCKET);
    if (o.stateDir === undefined) return b;
    if (await stateOf(b).then((d) => d === path.resolve(o.stateDir!), () => false)) return b;
  }
  return new LocalBackend(o.stateDir);
}
