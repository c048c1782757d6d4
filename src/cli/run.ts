// `cnm run`: a sandbox on a network, the user's program inside it, then the
// sandbox gone. The one place a process is spawned: the user's own.
import { ChildProcess, spawn } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { serveSandboxNamesFromState } from '../cnm/controller';
import { hostAddress, parsePublish } from '../cnm/ports';
import { CnmError, errnoOf } from '../errors';
import { refuse, sandboxPlan } from '../daemon/mapping';
import type { PortBindings, SandboxCreateRequest } from '../daemon/mapping';
import { badInput } from '../daemon/errors';
import { Backend, LocalBackend } from './backend';

export interface RunOptions {
  network: string; networkAlias: string[]; ip?: string; ip6?: string; macAddress?: string; hostname?: string; name?: string;
  publish: string[]; publishAll?: boolean; expose: string[];
  dns: string[]; dnsSearch: string[]; dnsOption: string[]; addHost: string[]; link: string[];
}

/** An error with the exit status docker gives it (125 ours, 126 not executable, 127 not found). */
export class ExitError extends CnmError {
  constructor(message: string, code: string, readonly exitStatus: number) { super(message, code, errnoOf(code)); }
}

/** Like the shell (and docker): 127 when the program is not found, 126 when it cannot be executed. */
export function resolveProgram(cmd: string): string {
  const check = (p: string): 'ok' | 'missing' | 'noexec' => {
    let st: fs.Stats;
    try { st = fs.statSync(p); } catch { return 'missing'; }
    if (st.isDirectory()) return 'noexec';
    try { fs.accessSync(p, fs.constants.X_OK); return 'ok'; } catch { return 'noexec'; }
  };
  if (cmd.includes('/')) {
    const r = check(cmd);
    if (r === 'missing') throw new ExitError(`exec: "${cmd}": stat ${cmd}: no such file or directory`, 'ENOENT', 127);
    if (r === 'noexec') throw new ExitError(`exec: "${cmd}": permission denied`, 'EACCES', 126);
    return cmd;
  }
  let noexec: string | undefined;
  for (const dir of (process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    const p = path.join(dir || '.', cmd);
    const r = check(p);
    if (r === 'ok') return p;
    if (r === 'noexec') noexec ??= p;
  }
  if (noexec) throw new ExitError(`exec: "${cmd}": permission denied`, 'EACCES', 126);
  throw new ExitError(`exec: "${cmd}": executable file not found in $PATH`, 'ENOENT', 127);
}

/** The flags as our sandbox create request (Docker's field names), checked by the same mapping the daemon uses. */
export function runRequest(o: RunOptions, id: string): SandboxCreateRequest {
  const r: SandboxCreateRequest = { Id: id, NetworkMode: o.network };
  if (o.link.length) r.Links = o.link;
  if (o.dns.length) r.Dns = o.dns;
  if (o.dnsSearch.length) r.DnsSearch = o.dnsSearch;
  if (o.dnsOption.length) r.DnsOptions = o.dnsOption;
  if (o.addHost.length) r.ExtraHosts = o.addHost;
  if (o.hostname) r.Hostname = o.hostname;
  const ep: NonNullable<SandboxCreateRequest['EndpointConfig']> = {};
  if (o.ip || o.ip6) ep.IPAMConfig = { ...(o.ip ? { IPv4Address: o.ip } : {}), ...(o.ip6 ? { IPv6Address: o.ip6 } : {}) };
  if (o.networkAlias.length) ep.Aliases = o.networkAlias;
  if (o.macAddress) ep.MacAddress = o.macAddress;
  if (Object.keys(ep).length) r.EndpointConfig = ep;
  if (o.publish.length) {
    const pb: PortBindings = {};
    for (const p of o.publish) {
      // A container range (8000-8010:80-90) stays one key, "80-90/tcp", as the daemon takes it.
      const s = parsePublish(p);
      (pb[`${s.containerPort}/${s.proto ?? 'tcp'}`] ??= [])!.push({ HostIp: s.hostIp ?? '', HostPort: s.hostPort === 0 ? '' : String(s.hostPort) });
    }
    r.PortBindings = pb;
  }
  if (o.expose.length) {
    r.ExposedPorts = {};
    for (const e of o.expose) {
      const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/.exec(e);
      if (!m) throw badInput(`invalid --expose ${JSON.stringify(e)} (PORT[-PORT][/PROTO])`);
      const lo = Number(m[1]), hi = Number(m[2] ?? m[1]);
      if (lo < 1 || hi > 65535 || lo > hi) throw badInput(`invalid --expose range ${e}`);
      for (let p = lo; p <= hi; p++) r.ExposedPorts[`${p}/${m[3] ?? 'tcp'}`] = {};
    }
  }
  if (o.publishAll) r.PublishAllPorts = true;
  sandboxPlan(r); // the daemon's own checks, before anything is made
  return r;
}

const signalStatus = (sig: NodeJS.Signals) => 128 + (os.constants.signals[sig] ?? 0);

/**
 * Sets the sandbox up, runs the program inside, removes the sandbox. With
 * no daemon, lets go of the state while the program runs (other commands
 * and other `cnm run` work meanwhile) and serves the network's names from
 * the state on disk; with one, the daemon serves them.
 */
export async function runCommand(backend: Backend, o: RunOptions, argv: string[], json: boolean): Promise<number> {
  const id = o.name ?? crypto.randomBytes(6).toString('hex');
  // Refused before anything runs: docker's 125 (a bad -p too, as a bad --ip).
  let req: SandboxCreateRequest;
  try { req = runRequest(o, id); } catch (e: any) { throw Object.assign(e, { exitStatus: e.exitStatus ?? 125 }); }
  resolveProgram(argv[0]);
  let child: ChildProcess | undefined;
  let interrupted: NodeJS.Signals | undefined;
  // While teardown waits for the state, a signal gives up waiting (the message says how to clean up).
  let giveUp: ((sig: NodeJS.Signals) => void) | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    if (giveUp) return giveUp(sig);
    interrupted ??= sig;
    child?.kill(sig);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const local = backend instanceof LocalBackend ? backend : undefined;
  let view: any;
  let stateDir: string | undefined;
  try {
    if (local) stateDir = (await local.controller()).stateDir;
    view = await backend.createSandbox(req);
  } catch (e: any) {
    await backend.close().catch(() => {});
    throw Object.assign(e, { exitStatus: 125 });
  }
  const ep = view.endpoints?.[0];
  const info = { sandbox: id, netns: view.key, ip: ep?.ipv4, ports: ep?.ports ?? [] };
  if (json) process.stderr.write(JSON.stringify(info) + '\n');
  else process.stderr.write(`cnm: ${id} on ${o.network}: ${ep?.ipv4 ?? ''}${(ep?.ports ?? []).map((b: any) => ` ${hostAddress(b.hostIp, b.hostPort)}->${b.containerPort}/${b.proto}`).join('')}\n`);
  let code = interrupted ? signalStatus(interrupted) : 1;
  if (local) await local.close();
  if (!interrupted) {
    const dns = local && ep ? await serveSandboxNamesFromState(stateDir!, id).catch((e: Error) => {
      process.stderr.write(`cnm: warning: no name resolution for ${o.network}: ${e.message}\n`);
      return undefined;
    }) : undefined;
    try {
      if (interrupted) code = signalStatus(interrupted);
      else {
        const key: string | null = view.key;
        // The link variables Docker sets in the container (WEBDB_PORT_5432_TCP_ADDR...), over the caller's.
        const env = view.linkEnv ? { ...process.env, ...view.linkEnv } : process.env;
        const named = key && /^\/run\/netns\/[^/]+$/.test(key) ? path.basename(key) : undefined;
        // `ip netns exec` also puts the sandbox's hosts and resolv.conf in place (through /etc/netns).
        child = !key ? spawn(argv[0], argv.slice(1), { stdio: 'inherit', env })
          : named ? spawn('ip', ['netns', 'exec', named, ...argv], { stdio: 'inherit', env })
          : spawn('nsenter', [`--net=${key}`, '--', ...argv], { stdio: 'inherit', env });
        code = await new Promise<number>((resolve) => {
          child!.on('error', (e) => { process.stderr.write(`cnm: error: ${e.message}\n`); resolve(127); });
          child!.on('exit', (c, sig) => resolve(c ?? (sig ? signalStatus(sig) : 1)));
        });
      }
    } finally {
      dns?.close();
    }
  }
  try {
    const stop = new Promise<never>((_, reject) => {
      giveUp = (sig) => reject(Object.assign(new Error(`stopped waiting for the state on ${sig}`), { signal: sig }));
    });
    if (local) {
      const opening = local.controller(10 * 60 * 1000);
      await Promise.race([opening, stop]).catch((e) => {
        opening.then(() => local.close(), () => {});
        throw e;
      });
    }
    giveUp = undefined;
    try {
      await Promise.race([backend.removeSandbox(id), stop]);
    } finally {
      await backend.close();
    }
  } catch (e: any) {
    if (e?.code !== 'ENOENT') {
      process.stderr.write(`cnm: error: could not remove sandbox ${id} (${e.message}); \`cnm sandbox rm ${id}\` removes it and its endpoint\n`);
      code = code || 1;
    }
  }
  return code;
}
