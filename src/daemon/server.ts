// `cnm daemon`: Docker's Engine API, its network part, on a unix socket, plus
// our sandbox endpoints under /cnm/ (a path Docker does not use). One
// controller for the daemon's lifetime: it serves the embedded DNS, and the
// state lock is held all along (a CLI talks to the daemon meanwhile).
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { Controller } from '../cnm/controller';
import { DRIVER_NAMES } from '../cnm/drivers';
import type { ControllerOptions } from '../cnm/controller';
import { CnmError, errnoOf } from '../errors';
import { badInput, messageOf, notFound, statusOf } from './errors';
import { parseFilters } from './filters';
import { queryBool } from './mapping';
import * as svc from './service';

/** The API version we speak (Docker 28.0's) and the oldest we accept, as dockerd negotiates them. */
export const API_VERSION = '1.48';
export const MIN_API_VERSION = '1.44';
export const DEFAULT_SOCKET = '/run/cnm-netlink/cnm.sock';
// eslint-disable-next-line @typescript-eslint/no-var-requires
export const VERSION: string = require('../../../package.json').version;

export interface DaemonOptions {
  /** Unix socket path (default /run/cnm-netlink/cnm.sock); made mode 0660. */
  socket?: string;
  /** Group owning the socket (a name or a gid), so its members may use the daemon. */
  group?: string | number;
  /** Options of the controller the daemon opens (stateDir, ...). */
  controller?: ControllerOptions;
  /** One object per request and per lifecycle event (default: a JSON line on stderr). */
  log?: (entry: Record<string, unknown>) => void;
  /** Largest request body (default 1 MiB): more is a 400 and a closed connection. */
  maxBodyBytes?: number;
  /** A client must send its headers within this (default 10 s) ... */
  headersTimeoutMs?: number;
  /** ... and the whole request within this (default 30 s), else 408 and closed. */
  requestTimeoutMs?: number;
}

const jsonLog = (e: Record<string, unknown>) => process.stderr.write(JSON.stringify({ time: new Date().toISOString(), ...e }) + '\n');

type Handler = (ctx: Ctx) => Promise<unknown> | unknown;
interface Route { method: string; re: RegExp; query: string[]; body: boolean; mutates: boolean; run: Handler }
interface Ctx { params: string[]; query: URLSearchParams; body: unknown; res: http.ServerResponse; /** The API version asked (1.48 as 1048; ours when the path names none). */ version: number }

/** A sentinel: the handler wrote its own answer. */
const ANSWERED = Symbol('answered');

class HttpStatus { constructor(readonly status: number, readonly value: unknown) {} }

function goArch(): string {
  return ({ x64: 'amd64', ia32: '386', arm: 'arm', arm64: 'arm64', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' } as Record<string, string>)[process.arch] ?? process.arch;
}

function osName(): string {
  try {
    const m = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(fs.readFileSync('/etc/os-release', 'utf8'));
    if (m) return m[1];
  } catch { /* none */ }
  return 'Linux';
}

function gidOf(group: string | number): number {
  if (typeof group === 'number' || /^\d+$/.test(group)) return Number(group);
  for (const line of fs.readFileSync('/etc/group', 'utf8').split('\n')) {
    const [name, , gid] = line.split(':');
    if (name === group) return Number(gid);
  }
  throw new CnmError(`unknown group ${JSON.stringify(group)}`, 'EINVAL', errnoOf('EINVAL'));
}

/** Whether something answers on a unix socket (a live daemon, not a stale file). */
export function socketAnswers(socket: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(socket);
    const t = setTimeout(() => { c.destroy(); resolve(false); }, timeoutMs);
    c.on('connect', () => { clearTimeout(t); c.end(); resolve(true); });
    c.on('error', () => { clearTimeout(t); resolve(false); });
  });
}

export class Daemon {
  private server: http.Server;
  /** Mutating requests, one after another (reads go on meanwhile). */
  private queue: Promise<unknown> = Promise.resolve();
  private routes: Route[];
  private log: (e: Record<string, unknown>) => void;
  private maxBody: number;
  private listening = false;

  private constructor(readonly controller: Controller, readonly socket: string, opts: DaemonOptions) {
    this.log = opts.log ?? jsonLog;
    this.maxBody = opts.maxBodyBytes ?? 1 << 20;
    this.routes = this.makeRoutes();
    this.server = http.createServer({
      headersTimeout: opts.headersTimeoutMs ?? 10000,
      requestTimeout: opts.requestTimeoutMs ?? 30000,
      keepAliveTimeout: 5000,
      // How often those timeouts are checked (Node's default, 30 s, would let a slow client linger).
      connectionsCheckingInterval: 500,
      maxHeaderSize: 16384,
    }, (req, res) => void this.handle(req, res));
    this.server.maxConnections = 1024;
  }

  /** Opens the controller (restores and reconciles), then listens. */
  static async start(opts: DaemonOptions = {}): Promise<Daemon> {
    const socket = path.resolve(opts.socket ?? DEFAULT_SOCKET);
    // Checked before the controller opens: a second daemon on this socket changes nothing.
    if (await socketAnswers(socket)) throw new CnmError(`another daemon is listening on ${socket}`, 'EADDRINUSE', errnoOf('EADDRINUSE'));
    const gid = opts.group !== undefined ? gidOf(opts.group) : undefined;
    const ctl = await Controller.open(opts.controller ?? {});
    const d = new Daemon(ctl, socket, opts);
    try {
      await d.listen(gid);
    } catch (e) {
      await ctl.close();
      throw e;
    }
    d.log({ level: 'info', msg: 'listening', socket, stateDir: ctl.stateDir, api: API_VERSION, recovered: ctl.recovered });
    return d;
  }

  private async listen(gid: number | undefined): Promise<void> {
    fs.mkdirSync(path.dirname(this.socket), { recursive: true, mode: 0o755 });
    try {
      if (!fs.lstatSync(this.socket).isSocket()) throw new CnmError(`${this.socket} exists and is not a socket`, 'EEXIST', errnoOf('EEXIST'));
      fs.unlinkSync(this.socket); // stale: nothing answered on it
    } catch (e: any) { if (e.code !== 'ENOENT') throw e; }
    // Never wider than 0660, not even between bind and chmod.
    const umask = process.umask(0o117);
    try {
      await new Promise<void>((resolve, reject) => {
        this.server.once('error', reject);
        this.server.listen(this.socket, () => { this.server.off('error', reject); resolve(); });
      });
    } finally {
      process.umask(umask);
    }
    this.listening = true;
    fs.chmodSync(this.socket, 0o660);
    if (gid !== undefined) fs.chownSync(this.socket, process.getuid?.() ?? 0, gid);
  }

  /** Stops serving: no new connections, in-flight requests finish (then connections close), socket removed. */
  async stop(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    await this.queue.catch(() => {});
    const t = setTimeout(() => this.server.closeAllConnections(), 2000);
    await closed;
    clearTimeout(t);
    try { fs.unlinkSync(this.socket); } catch { /* gone */ }
  }

  /** stop(), then the controller closes: state and kernel objects stay, as dockerd with live-restore. */
  async close(): Promise<void> {
    await this.stop();
    await this.controller.close();
    this.log({ level: 'info', msg: 'stopped', socket: this.socket });
  }

  private makeRoutes(): Route[] {
    const ctl = this.controller;
    const r = (method: string, p: string, o: Partial<Route> & { run: Handler }): Route => ({
      // {id+}: any text, slashes too, as dockerd's {id:.+} routes take it (a network named "a/b").
      method, re: new RegExp(`^${p.replace(/\{\w+\+\}/g, '(.+)').replace(/\{\w+\}/g, '([^/]+)')}$`), query: [], body: false, mutates: method !== 'GET' && method !== 'HEAD', ...o,
    });
    const filters = (c: Ctx, accepted: string[]) => parseFilters(c.query.get('filters') ?? undefined, accepted);
    return [
      r('GET', '/_ping', { run: (c) => this.ping(c.res, true) }),
      r('HEAD', '/_ping', { run: (c) => this.ping(c.res, false) }),
      r('GET', '/version', { run: () => this.version() }),
      r('GET', '/info', { run: () => this.info() }),
      r('GET', '/networks', { query: ['filters'], run: (c) => svc.listNetworks(ctl, filters(c, svc.NETWORK_LIST_FILTERS)) }),
      r('GET', '/networks/', { query: ['filters'], run: (c) => svc.listNetworks(ctl, filters(c, svc.NETWORK_LIST_FILTERS)) }),
      r('POST', '/networks/create', { body: true, run: async (c) => new HttpStatus(201, await svc.createNetwork(ctl, c.body, c.version)) }),
      r('POST', '/networks/prune', { query: ['filters'], run: (c) => svc.pruneNetworks(ctl, filters(c, svc.NETWORK_PRUNE_FILTERS)) }),
      r('GET', '/networks/{id+}', { query: ['verbose', 'scope'], run: (c) => {
        if (c.query.has('verbose')) queryBool(c.query.get('verbose')!, 'verbose');
        return svc.inspectNetwork(ctl, c.params[0], c.query.get('scope') || undefined);
      } }),
      r('DELETE', '/networks/{id+}', { run: async (c) => { await svc.removeNetwork(ctl, c.params[0]); return new HttpStatus(204, undefined); } }),
      r('POST', '/networks/{id+}/connect', { body: true, run: async (c) => { await svc.connect(ctl, c.params[0], c.body); return new HttpStatus(200, undefined); } }),
      r('POST', '/networks/{id+}/disconnect', { body: true, run: async (c) => { await svc.disconnect(ctl, c.params[0], c.body); return new HttpStatus(200, undefined); } }),
      r('GET', '/cnm/sandboxes', { run: () => svc.listSandboxes(ctl) }),
      r('POST', '/cnm/sandboxes', { body: true, run: async (c) => new HttpStatus(201, await svc.createSandbox(ctl, c.body)) }),
      r('GET', '/cnm/sandboxes/{id}', { run: (c) => svc.inspectSandbox(ctl, c.params[0]) }),
      r('GET', '/cnm/sandboxes/{id}/ports', { query: ['port'], run: (c) => svc.sandboxPorts(ctl, c.params[0], c.query.get('port') ?? undefined) }),
      r('DELETE', '/cnm/sandboxes/{id}', { run: async (c) => { await svc.removeSandbox(ctl, c.params[0]); return new HttpStatus(204, undefined); } }),
    ];
  }

  private headers(res: http.ServerResponse): void {
    res.setHeader('Api-Version', API_VERSION);
    res.setHeader('Docker-Experimental', 'false');
    res.setHeader('Ostype', 'linux');
    res.setHeader('Server', `cnm-netlink/${VERSION} (linux)`);
  }

  private ping(res: http.ServerResponse, body: boolean): symbol {
    res.setHeader('Cache-Control', 'no-cache, no-store, must-revalidate');
    res.setHeader('Pragma', 'no-cache');
    res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    res.statusCode = 200;
    res.end(body ? 'OK' : undefined);
    return ANSWERED;
  }

  private version(): unknown {
    const details = { ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION, Os: 'linux', Arch: goArch(), KernelVersion: os.release(), Node: process.version };
    return {
      Platform: { Name: 'cnm-netlink' },
      Components: [{ Name: 'Engine', Version: VERSION, Details: details }],
      Version: VERSION, ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION,
      GitCommit: '', GoVersion: '', Os: 'linux', Arch: goArch(), KernelVersion: os.release(), BuildTime: '',
    };
  }

  private info(): unknown {
    const sandboxes = this.controller.sandboxes().length;
    return {
      ID: '', Name: os.hostname(), ServerVersion: VERSION, OperatingSystem: osName(), OSType: 'linux', OSVersion: '',
      Architecture: os.machine?.() ?? process.arch, KernelVersion: os.release(), NCPU: os.cpus().length, MemTotal: os.totalmem(),
      // The state directory: Docker's data root is the nearest thing (the CLI compares it with --state-dir).
      DockerRootDir: this.controller.stateDir,
      Containers: sandboxes, ContainersRunning: sandboxes, ContainersPaused: 0, ContainersStopped: 0, Images: 0,
      Driver: '', DriverStatus: [], Plugins: { Volume: [], Network: [...DRIVER_NAMES].sort(), Authorization: null, Log: [] },
      MemoryLimit: false, SwapLimit: false, IPv4Forwarding: true, Debug: false, NFd: 0, NGoroutines: 0, SystemTime: new Date().toISOString(),
      LoggingDriver: '', CgroupDriver: '', CgroupVersion: '', NEventsListener: 0, IndexServerAddress: '', RegistryConfig: null,
      Labels: [], ExperimentalBuild: false, LiveRestoreEnabled: true, SecurityOptions: [], Runtimes: {}, DefaultRuntime: '',
      Swarm: { NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '', RemoteManagers: null },
      Warnings: [],
    };
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const t0 = process.hrtime.bigint();
    let error: string | undefined;
    let ignoredQuery: string[] | undefined;
    let ignoredBody: number | undefined;
    let pathname = '';
    res.on('finish', () => this.log({ level: res.statusCode >= 500 ? 'error' : 'info', method: req.method, path: pathname || req.url, status: res.statusCode,
      ms: Number((process.hrtime.bigint() - t0) / 1000n) / 1000, ...(error ? { error } : {}), ...(ignoredQuery ? { ignoredQuery } : {}), ...(ignoredBody ? { ignoredBody } : {}) }));
    this.headers(res);
    try {
      const url = new URL(req.url ?? '/', 'http://cnm');
      pathname = url.pathname;
      let p = url.pathname;
      const v = /^\/v(\d+)\.(\d+)(\/.*)$/.exec(p);
      let version = API_VERSION.split('.').map(Number).reduce((maj, min) => maj * 1000 + min);
      if (v) {
        p = v[3];
        const want = Number(v[1]) * 1000 + Number(v[2]);
        version = want;
        const [minMaj, minMin] = MIN_API_VERSION.split('.').map(Number);
        const [maxMaj, maxMin] = API_VERSION.split('.').map(Number);
        if (want < minMaj * 1000 + minMin) throw badInput(`client version ${v[1]}.${v[2]} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`);
        if (want > maxMaj * 1000 + maxMin) throw badInput(`client version ${v[1]}.${v[2]} is too new. Maximum supported API version is ${API_VERSION}`);
      }
      let route: Route | undefined;
      let params: string[] = [];
      for (const r of this.routes) {
        const m = r.re.exec(p);
        if (m && r.method === req.method) {
          route = r;
          try { params = m.slice(1).map((x) => decodeURIComponent(x)); } catch { throw badInput(`invalid URL escape in ${JSON.stringify(p)}`); }
          break;
        }
      }
      if (!route) throw notFound('page not found');
      // Unknown query parameters are ignored, as dockerd does (dockerode repeats a POST's body fields
      // there), but not silently: the request's log line names them.
      const ignored = [...new Set(url.searchParams.keys())].filter((k) => !route!.query.includes(k));
      if (ignored.length) ignoredQuery = ignored;
      const raw = await this.readBody(req);
      let body: unknown;
      if (raw.length && !route.body) {
        // Read and not looked at, as dockerd does (dockerode sends a POST's options as a body too), and logged.
        ignoredBody = raw.length;
      } else if (raw.length) {
        // (A media type is case-insensitive: Go's mime.ParseMediaType lowers it.)
        const ct = String(req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
        if (ct !== 'application/json') throw badInput(`unsupported Content-Type header (${ct || 'none'}): must be 'application/json'`);
        try { body = JSON.parse(raw.toString('utf8')); } catch (e: any) { throw badInput(`malformed JSON body: ${e.message}`); }
      } else if (route.body) {
        throw badInput('a JSON request body is required');
      }
      const ctx: Ctx = { params, query: url.searchParams, body, res, version };
      const run = () => Promise.resolve().then(() => route!.run(ctx));
      let out: unknown;
      if (route.mutates) {
        const p2 = this.queue.then(run, run);
        this.queue = p2.catch(() => {});
        out = await p2;
      } else {
        out = await run();
      }
      if (out === ANSWERED) return;
      const { status, value } = out instanceof HttpStatus ? out : new HttpStatus(200, out);
      res.statusCode = status;
      if (value === undefined) { res.end(); return; }
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify(value) + '\n');
    } catch (e: any) {
      if (res.headersSent || res.writableEnded) return;
      error = messageOf(e);
      res.statusCode = statusOf(e);
      res.setHeader('Content-Type', 'application/json');
      if (e?.closeConnection) res.setHeader('Connection', 'close');
      res.end(JSON.stringify({ message: error }) + '\n');
      if (e?.closeConnection) res.on('finish', () => req.socket.destroySoon());
    }
  }

  /** The body, up to the limit; past it a 400 and the connection closes (the rest is not read). */
  private readBody(req: http.IncomingMessage): Promise<Buffer> {
    const tooBig = () => Object.assign(badInput(`request body larger than ${this.maxBody} bytes`), { closeConnection: true });
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > this.maxBody) { req.pause(); return Promise.reject(tooBig()); }
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let n = 0;
      let failed = false;
      req.on('data', (c: Buffer) => {
        if (failed) return;
        n += c.length;
        if (n > this.maxBody) { failed = true; req.pause(); reject(tooBig()); return; }
        chunks.push(c);
      });
      req.on('end', () => { if (!failed) resolve(Buffer.concat(chunks)); });
      req.on('error', (e) => { if (!failed) { failed = true; reject(e); } });
      req.on('aborted', () => { if (!failed) { failed = true; reject(new CnmError('client went away', 'ECONNRESET')); } });
    });
  }
}
