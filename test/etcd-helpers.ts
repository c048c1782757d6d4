// Starts real etcd servers (Debian's etcd-server) for the tests: own data
// directories in a temp dir, listening only on the address given (loopback
// of the isolated namespace `npm test` runs in, by default).
import { spawn, ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';

export interface EtcdMember {
  name: string;
  clientUrl: string;
  proc: ChildProcess | null;
  start(): Promise<void>;
  /** SIGTERM (or the signal given) and wait for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface EtcdCluster {
  members: EtcdMember[];
  /** etcd://host:port,... for ClusterStore.connect */
  store: string;
  dir: string;
  /** Stops every member and removes the data. */
  destroy(): Promise<void>;
}

export function haveEtcd(): boolean {
  return fs.existsSync('/usr/bin/etcd') || (process.env.PATH ?? '').split(':').some((d) => fs.existsSync(path.join(d, 'etcd')));
}

function health(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(`${url}/health`, { timeout: 500 }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(/"health":\s*"true"/.test(body)));
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
  });
}

export async function waitHealthy(url: string, timeoutMs = 15000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await health(url)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`etcd at ${url} not healthy after ${timeoutMs} ms`);
}

/** `n` members on `host`, client ports basePort+i, peer ports basePort+100+i. */
export async function startEtcd(o: { members?: number; host?: string; basePort: number }): Promise<EtcdCluster> {
  const n = o.members ?? 1;
  const host = o.host ?? '127.0.0.1';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cnm-etcd-'));
  const names = Array.from({ length: n }, (_, i) => `m${i}`);
  const peer = (i: number) => `http://${host}:${o.basePort + 100 + i}`;
  const initial = names.map((nm, i) => `${nm}=${peer(i)}`).join(',');
  const members: EtcdMember[] = names.map((name, i) => {
    const clientUrl = `http://${host}:${o.basePort + i}`;
    const dataDir = path.join(dir, name);
    const log = path.join(dir, `${name}.log`);
    const m: EtcdMember = {
      name,
      clientUrl,
      proc: null,
      async start() {
        const fd = fs.openSync(log, 'a');
        const p = spawn('etcd', [
          '--name', name, '--data-dir', dataDir,
          '--listen-client-urls', clientUrl, '--advertise-client-urls', clientUrl,
          '--listen-peer-urls', peer(i), '--initial-advertise-peer-urls', peer(i),
          '--initial-cluster', initial, '--initial-cluster-state', 'new', '--initial-cluster-token', `cnm-test-${o.basePort}`,
          // Quick elections, so a stopped member costs the test little.
          '--heartbeat-interval', '50', '--election-timeout', '500',
          '--logger', 'zap', '--log-level', 'warn',
        ], { stdio: ['ignore', fd, fd] });
        fs.closeSync(fd);
        m.proc = p;
        p.on('exit', () => {
          if (m.proc === p) m.proc = null;
        });
        await waitHealthy(clientUrl).catch(async (e) => {
          if (n === 1) throw new Error(`${e.message}\n${fs.readFileSync(log, 'utf8').slice(-2000)}`);
          // A member of a cluster is healthy only once a quorum is up: the caller waits for all.
        });
      },
      async stop(signal: NodeJS.Signals = 'SIGTERM') {
        const p = m.proc;
        if (!p) return;
        const done = new Promise<void>((r) => p.once('exit', () => r()));
        p.kill(signal);
        await done;
      },
    };
    return m;
  });
  // Members of a cluster wait for each other: start them together.
  if (n === 1) await members[0].start();
  else {
    await Promise.all(members.map((m) => m.start().catch(() => undefined)));
    await Promise.all(members.map((m) => waitHealthy(m.clientUrl)));
  }
  return {
    members,
    store: `etcd://${members.map((m) => m.clientUrl.replace('http://', '')).join(',')}`,
    dir,
    async destroy() {
      await Promise.all(members.map((m) => m.stop('SIGKILL')));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `pred` until it holds or `ms` pass; returns how long it took. */
export async function until(pred: () => boolean, ms: number, what: string): Promise<number> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(25);
  }
  return Date.now() - t0;
}
