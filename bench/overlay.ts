// The overlay driver at scale (not a test):
//   npm run build && bash scripts/isolated.sh node dist/bench/overlay.js [HOSTS] [PER_HOST]
// HOSTS network namespaces on one underlay bridge, each running a
// Controller with `cluster` in its own process (test/overlay-ctl-agent),
// etcd on the underlay address. In the same run, on every host at once:
// PER_HOST containers (sandbox + endpoint + join) on a local bridge network,
// then on one overlay network. Prints setup time per endpoint for both,
// etcd requests per overlay endpoint (create + join), and convergence: from
// the last join returning until every host's VXLAN FDB has every remote
// endpoint (polled with `bridge -j fdb`, so ~30 ms resolution).
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Netns, Rtnl } from '../src';
import { startEtcd } from '../test/etcd-helpers';

interface Agent { call<T = any>(op: string, args?: unknown): Promise<T>; kill(): void }

function agent(host: string, args: object): Promise<Agent> {
  const js = path.join(__dirname, '..', 'test', 'overlay-ctl-agent.js');
  const p = spawn('nsenter', [`--net=/run/netns/${host}`, process.execPath, js, JSON.stringify(args)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const waiting = new Map<number, [(v: any) => void, (e: any) => void]>();
  let next = 1;
  let buf = '';
  return new Promise((resolve, reject) => {
    const a: Agent = {
      call: (op, x) => new Promise((res, rej) => {
        const id = next++;
        waiting.set(id, [res, rej]);
        p.stdin!.write(JSON.stringify({ id, op, args: x }) + '\n');
      }),
      kill: () => p.kill('SIGKILL'),
    };
    p.stdout!.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        let m: any;
        try { m = JSON.parse(line); } catch { m = undefined; }
        const w = m && !m.ready && !m.fatal ? waiting.get(m.id) : undefined;
        if (m?.ready) resolve(a);
        else if (m?.fatal) reject(new Error(`${host}: ${m.fatal.code ?? ''} ${m.fatal.message}`));
        else if (!w) {
          // Said once as a TypeError from this handler, with the line lost: name it.
          console.error(`overlay bench: unexpected line from the agent on ${host}: ${line}`);
        } else {
          waiting.delete(m.id);
          if (m.error) w[1](new Error(`${host}: ${m.error.code}: ${m.error.message}`));
          else w[0](m.ok);
        }
      }
    });
    p.once('exit', (c) => reject(new Error(`agent exited ${c}`)));
  });
}

const fdbCount = (host: string, vni: number) => {
  const x = spawnSync('ip', ['netns', 'exec', host, 'bridge', '-j', 'fdb', 'show', 'dev', `vx-${vni}`], { encoding: 'utf8' });
  return x.status === 0 ? (JSON.parse(x.stdout) as { dst?: string }[]).filter((f) => f.dst).length : 0;
};

async function main() {
  const H = Number(process.argv[2] ?? 3);
  const PER = Number(process.argv[3] ?? 300);
  const top = await Rtnl.open();
  const names = Array.from({ length: H }, (_, i) => `bh${i}`);
  const hosts = await Promise.all(names.map((n) => Netns.create(n)));
  const dirs: string[] = [];
  const agents: Agent[] = [];
  await top.link.add({ kind: 'bridge', name: 'bul', bridge: { stp: false } });
  await top.addr.add('bul', '192.168.90.1/24');
  await top.link.set('bul', { up: true });
  const etcd = await startEtcd({ host: '192.168.90.1', basePort: 24890 });
  try {
    for (const [i, ns] of hosts.entries()) {
      await top.link.add({ kind: 'veth', name: `bul-${i}`, master: 'bul', peer: { name: 'eth0', netns: ns } });
      await top.link.set(`bul-${i}`, { up: true });
      const rt = await Rtnl.open({ netns: ns });
      await rt.addr.add('eth0', `192.168.90.${11 + i}/24`);
      await rt.link.set('eth0', { up: true });
      rt.close();
      dirs.push(fs.mkdtempSync(path.join(os.tmpdir(), 'cnm-bov-')));
      agents.push(await agent(names[i], { stateDir: dirs[i], store: etcd.store, advertise: `192.168.90.${11 + i}`, prefix: '/bench/', leaseTtl: 10 }));
    }
    await Promise.all(agents.map((a, i) => a.call('createNetwork', { name: 'lb', driver: 'bridge', subnet: `10.${100 + i}.0.0/16` })));
    const ov = await agents[0].call('createNetwork', { name: 'ov', driver: 'overlay', subnet: '10.200.0.0/16' });
    const vni = Number(ov.Options['com.docker.network.driver.overlay.vxlanid_list']);
    while (!(await Promise.all(agents.map((a) => a.call('networks')))).every((ns: any[]) => ns.some((n) => n.name === 'ov'))) await new Promise((r) => setTimeout(r, 20));

    const br = await Promise.all(agents.map((a, i) => a.call('bench', { net: 'lb', prefix: `b${i}-`, count: PER })));
    await Promise.all(agents.map((a) => a.call('benchClean', { prefix: 'b' })));
    const t0 = Date.now();
    const ovr = await Promise.all(agents.map((a, i) => a.call('bench', { net: 'ov', prefix: `o${i}-`, count: PER })));
    const tLast = Date.now();
    const want = (H - 1) * PER;
    while (!names.every((h) => fdbCount(h, vni) >= want)) await new Promise((r) => setTimeout(r, 10));
    const conv = Date.now() - tLast;
    const per = (r: { ms: number }[]) => Math.max(...r.map((x) => x.ms)) / PER;
    console.log(`${H} hosts x ${PER} containers, all hosts at once`);
    console.log(`  bridge (local):  ${per(br).toFixed(2)} ms per endpoint (slowest host: ${Math.max(...br.map((x) => x.ms)).toFixed(0)} ms)`);
    console.log(`  overlay:         ${per(ovr).toFixed(2)} ms per endpoint (slowest host: ${Math.max(...ovr.map((x) => x.ms)).toFixed(0)} ms; ${(per(ovr) / per(br)).toFixed(2)}x bridge)`);
    console.log(`  etcd requests per overlay endpoint (create + join): ${(ovr.reduce((s, x) => s + x.requests, 0) / (H * PER)).toFixed(2)}`);
    console.log(`  convergence after the last join returned: ${conv} ms (every host's FDB has all ${want} remote endpoints; ${tLast - t0} ms for the joins)`);
    await Promise.all(agents.map((a) => a.call('benchClean', { prefix: 'o' })));
  } finally {
    await Promise.all(agents.map((a) => a.call('destroy').catch(() => undefined)));
    await new Promise((r) => setTimeout(r, 500));
    for (const a of agents) a.kill();
    for (let i = 0; i < H; i++) await top.link.delete(`bul-${i}`).catch(() => undefined);
    await top.link.delete('bul').catch(() => undefined);
    for (const ns of hosts) await ns.delete().catch(() => undefined);
    await etcd.destroy();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
    top.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
