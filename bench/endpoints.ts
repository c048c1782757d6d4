// bench/endpoints: N containers, each a fresh namespace with a bridge
// endpoint (veth, address, default route) and one published port; setup and
// teardown through the library, and in the same run the same work through
// one `ip` process per step (the add-ns-to-br.sh way), the CNI bridge +
// portmap plugins and netavark where installed (those on a sample of M
// containers, compared per container). Prints ratios and the controller's
// memory. Run: `npm run bench:endpoints [-- N [M]]`.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Controller, Netns } from '../src';

const N = Number(process.argv[2] ?? 1000);
const M = Number(process.argv[3] ?? Math.min(N, 100));
const now = () => Number(process.hrtime.bigint()) / 1e6;
const progress = (m: string) => process.stderr.write(`  .. ${m}\n`);

function sh(cmd: string, args: string[], input?: string, env?: Record<string, string>): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input, env: env ? { ...process.env, ...env } : undefined });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

interface Row { name: string; n: number; setup: number; teardown: number; note?: string }

async function benchLibrary(): Promise<Row & { rss: number; heap: number }> {
  // State on disk (journal fsyncs count); sandbox files on tmpfs, where the
  // default runDir (/run/cnm-netlink) puts them (scripts/isolated.sh mounts one).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cnm-bench-'));
  const ctl = await Controller.open({ stateDir: dir, runDir: '/run/cnm-netlink/bench', dns: false });
  const net = await ctl.createNetwork({ name: 'bench', subnet: '10.96.0.0/16' });
  const rss0 = process.memoryUsage().rss;
  progress(`cnm-netlink: setting up ${N} containers (namespace + veth + address + route + port), all in flight`);
  let t = now();
  let done = 0;
  const made = await Promise.all(Array.from({ length: N }, async (_, i) => {
    const sb = await ctl.createSandbox({ id: `b${i}` });
    const ep = await net.createEndpoint({ name: `b${i}`, ports: [{ hostPort: 20000 + i, containerPort: 80 }] });
    await ep.join(sb);
    if (++done % 250 === 0) progress(`  ${done}/${N}`);
    return { sb, ep };
  }));
  const setup = now() - t;
  const mem = process.memoryUsage();
  if (Netns.list().filter((n) => n.startsWith('cnm-')).length !== N) throw new Error('namespaces missing');
  progress('cnm-netlink: tearing down');
  t = now();
  await Promise.all(made.map(async ({ sb, ep }) => {
    await sb.delete();
    await ep.delete();
  }));
  const teardown = now() - t;
  await net.delete();
  await ctl.destroy();
  return { name: 'cnm-netlink', n: N, setup, teardown, rss: mem.rss, heap: mem.heapUsed, note: `controller RSS +${((mem.rss - rss0) / 1048576).toFixed(0)} MiB` };
}

function benchIpPerStep(): Row {
  progress(`one ip per step: ${M} containers`);
  sh('ip', ['link', 'add', 'ipbr0', 'type', 'bridge']);
  sh('ip', ['addr', 'add', '10.97.0.1/16', 'dev', 'ipbr0']);
  sh('ip', ['link', 'set', 'ipbr0', 'up']);
  sh('nft', ['-f', '-'], 'table ip ipbench {\n map ports {\n type inet_proto . inet_service : ipv4_addr . inet_service\n }\n chain pre {\n type nat hook prerouting priority dstnat\n dnat ip to meta l4proto . th dport map @ports\n }\n}\n');
  let t = now();
  for (let i = 0; i < M; i++) {
    const ns = `ipb${i}`;
    const ip = `10.97.${(i + 2) >> 8}.${(i + 2) & 255}`;
    sh('ip', ['netns', 'add', ns]);
    sh('ip', ['link', 'add', `ipv${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    sh('ip', ['link', 'set', `ipv${i}`, 'master', 'ipbr0', 'up']);
    sh('ip', ['-n', ns, 'addr', 'add', `${ip}/16`, 'dev', 'eth0']);
    sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    sh('ip', ['-n', ns, 'route', 'add', 'default', 'via', '10.97.0.1']);
    sh('nft', ['add', 'element', 'ip', 'ipbench', 'ports', `{ tcp . ${30000 + i} : ${ip} . 80 }`]);
  }
  const setup = now() - t;
  t = now();
  for (let i = 0; i < M; i++) {
    const ip = `10.97.${(i + 2) >> 8}.${(i + 2) & 255}`;
    sh('nft', ['delete', 'element', 'ip', 'ipbench', 'ports', `{ tcp . ${30000 + i} : ${ip} . 80 }`]);
    sh('ip', ['netns', 'delete', `ipb${i}`]);
  }
  const teardown = now() - t;
  sh('nft', ['delete', 'table', 'ip', 'ipbench']);
  sh('ip', ['link', 'delete', 'ipbr0']);
  return { name: 'one ip per step', n: M, setup, teardown };
}

function benchCni(): Row | undefined {
  const plugin = '/usr/lib/cni/bridge';
  if (!fs.existsSync(plugin)) return undefined;
  progress(`CNI bridge + portmap: ${M} containers`);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cni-ipam-'));
  const conf = { cniVersion: '1.0.0', name: 'cnibench', type: 'bridge', bridge: 'cnibr0', isGateway: true, ipMasq: true,
    ipam: { type: 'host-local', subnet: '10.98.0.0/16', dataDir } };
  const names: string[] = [];
  const env = (cmd: string, i: number) => ({ CNI_COMMAND: cmd, CNI_CONTAINERID: `cni${i}`, CNI_NETNS: `/run/netns/cni${i}`, CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' });
  const results: string[] = [];
  let t = now();
  for (let i = 0; i < M; i++) {
    sh('ip', ['netns', 'add', `cni${i}`]);
    names.push(`cni${i}`);
    const res = sh(plugin, [], JSON.stringify(conf), env('ADD', i));
    results.push(res);
    sh('/usr/lib/cni/portmap', [], JSON.stringify({ cniVersion: '1.0.0', name: 'cnibench', type: 'portmap', capabilities: { portMappings: true },
      runtimeConfig: { portMappings: [{ hostPort: 40000 + i, containerPort: 80, protocol: 'tcp' }] }, prevResult: JSON.parse(res) }), env('ADD', i));
  }
  const setup = now() - t;
  t = now();
  for (let i = 0; i < M; i++) {
    sh('/usr/lib/cni/portmap', [], JSON.stringify({ cniVersion: '1.0.0', name: 'cnibench', type: 'portmap', capabilities: { portMappings: true },
      runtimeConfig: { portMappings: [{ hostPort: 40000 + i, containerPort: 80, protocol: 'tcp' }] }, prevResult: JSON.parse(results[i]) }), env('DEL', i));
    sh(plugin, [], JSON.stringify(conf), env('DEL', i));
    sh('ip', ['netns', 'delete', `cni${i}`]);
  }
  const teardown = now() - t;
  spawnSync('ip', ['link', 'delete', 'cnibr0']);
  return { name: 'CNI bridge + portmap', n: M, setup, teardown };
}

function benchNetavark(): Row | undefined {
  const bin = '/usr/lib/podman/netavark';
  if (!fs.existsSync(bin)) return undefined;
  progress(`netavark: ${M} containers with one published port each`);
  const cfg = fs.mkdtempSync(path.join(os.tmpdir(), 'netavark-'));
  const opts = (i: number) => JSON.stringify({
    container_id: `nv${i}`.padEnd(64, '0'), container_name: `nv${i}`,
    networks: { nvbench: { interface_name: 'eth0', static_ips: [`10.95.${(i + 2) >> 8}.${(i + 2) & 255}`] } },
    network_info: { nvbench: { name: 'nvbench', id: 'a'.repeat(64), driver: 'bridge', network_interface: 'nvbr0',
      subnets: [{ subnet: '10.95.0.0/16', gateway: '10.95.0.1' }], ipv6_enabled: false, internal: false, dns_enabled: false } },
    port_mappings: [{ host_ip: '', container_port: 80, host_port: 41000 + i, range: 1, protocol: 'tcp' }],
  });
  let t = now();
  for (let i = 0; i < M; i++) {
    sh('ip', ['netns', 'add', `nv${i}`]);
    sh(bin, ['--config', cfg, 'setup', `/run/netns/nv${i}`], opts(i));
  }
  const setup = now() - t;
  t = now();
  for (let i = 0; i < M; i++) {
    sh(bin, ['--config', cfg, 'teardown', `/run/netns/nv${i}`], opts(i));
    sh('ip', ['netns', 'delete', `nv${i}`]);
  }
  const teardown = now() - t;
  spawnSync('ip', ['link', 'delete', 'nvbr0']);
  return { name: 'netavark', n: M, setup, teardown };
}

async function main(): Promise<void> {
  if (!process.env.CNM_ISOLATED) {
    console.error('run through `npm run bench:endpoints` (it isolates the benchmark in a fresh namespace)');
    process.exit(2);
  }
  const lib = await benchLibrary();
  const rows: Row[] = [lib];
  for (const f of [benchIpPerStep, benchCni, benchNetavark]) {
    try {
      const r = f();
      if (r) rows.push(r);
    } catch (e: any) {
      progress(`${f.name} failed: ${e.message.split('\n')[0]}`);
    }
  }
  const per = (r: Row, k: 'setup' | 'teardown') => r[k] / r.n;
  const fmt = (ms: number) => `${(ms / 1000).toFixed(3)} s`;
  console.log(`\ncontainers: cnm-netlink ${N}, peers ${M} each (per-container times compared; kernel ${os.release()}, ${os.cpus().length} CPUs)`);
  console.log('tool'.padEnd(24), 'n'.padStart(5), 'setup'.padStart(10), 'teardown'.padStart(10), 'setup/ctr'.padStart(11), 'teardown/ctr'.padStart(13), 'setup ratio'.padStart(12), 'teardown ratio'.padStart(15));
  for (const r of rows) {
    console.log(r.name.padEnd(24), String(r.n).padStart(5), fmt(r.setup).padStart(10), fmt(r.teardown).padStart(10),
      `${per(r, 'setup').toFixed(2)} ms`.padStart(11), `${per(r, 'teardown').toFixed(2)} ms`.padStart(13),
      `${(per(r, 'setup') / per(lib, 'setup')).toFixed(1)}x`.padStart(12), `${(per(r, 'teardown') / per(lib, 'teardown')).toFixed(1)}x`.padStart(15));
  }
  console.log(`\ncnm-netlink ${N} containers: setup ${fmt(lib.setup)} (target < 2 s), teardown ${fmt(lib.teardown)} (target < 1 s)`);
  console.log(`controller memory at ${N} containers: RSS ${(lib.rss / 1048576).toFixed(0)} MiB, JS heap ${(lib.heap / 1048576).toFixed(0)} MiB (${lib.note})`);
}

main().catch((e) => { console.error(e); process.exit(1); });
