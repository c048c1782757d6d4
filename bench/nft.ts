// bench/nft: 10,000 port mappings (DNAT) in one transaction, as map elements
// and as linear rules, against `nft -f` of the same ruleset and against one
// `iptables` process per rule (a sample, extrapolated); then the cost of
// adding one more mapping with 0 and with 10,000 already there. Prints
// medians and ratios (the machine is noisy: compare ratios, not seconds).
// Run inside a throwaway namespace: `npm run bench:nft [-- N]`.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Nft, Rule, Element } from '../src';

const N = Number(process.argv[2] ?? process.env.N ?? 10000);
const IPT = Number(process.env.IPTABLES ?? 1000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const ONE = Number(process.env.ONE ?? 200);
const T = { family: 'ip' as const, table: 'bench' };

function now(): number { return Number(process.hrtime.bigint()) / 1e6; }
function progress(msg: string): void { process.stderr.write(`  .. ${msg}\n`); }
function run(cmd: string, args: string[], input?: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const flush = () => run('nft', ['flush', 'ruleset']);

const port = (i: number) => 10000 + i;
const backend = (i: number) => `10.${100 + Math.floor(i / 65536)}.${Math.floor(i / 256) % 256}.${i % 256}`;

const HEAD = `table ip bench {
  chain prerouting { type nat hook prerouting priority dstnat; policy accept; }
}`;
const MAP_DECL = 'map ports { type inet_proto . inet_service : ipv4_addr . inet_service; }';

function mapText(n: number): string {
  const els = Array.from({ length: n }, (_, i) => `tcp . ${port(i)} : ${backend(i)} . 80`).join(',\n');
  return `${HEAD}\ntable ip bench {\n ${MAP_DECL.replace('; }', `; elements = {\n${els}\n } }`)}\n}\n` +
    'add rule ip bench prerouting fib daddr type local dnat ip to meta l4proto . th dport map @ports\n';
}
function rulesText(n: number): string {
  return `${HEAD}\n` + Array.from({ length: n }, (_, i) =>
    `add rule ip bench prerouting ip daddr 10.60.1.1 tcp dport ${port(i)} dnat to ${backend(i)}:80`).join('\n') + '\n';
}
const elements = (n: number, from = 0): Element[] => Array.from({ length: n }, (_, k) => ({ key: ['tcp', port(from + k)], data: [backend(from + k), 80] }));
const rule = (i: number): Rule => ({ ...T, chain: 'prerouting', stmts: [
  { match: 'ip daddr', value: '10.60.1.1' }, { match: 'tcp dport', value: port(i) }, { nat: 'dnat', addr: backend(i), port: 80 }] });

async function base(nft: Nft, withMap: boolean, els: Element[] = []): Promise<void> {
  await nft.transaction((tx) => {
    tx.addTable({ family: 'ip', name: 'bench' });
    tx.addChain({ ...T, name: 'prerouting', type: 'nat', hook: 'prerouting', priority: 'dstnat', policy: 'accept' });
    if (withMap) {
      tx.addSet({ ...T, name: 'ports', type: 'inet_proto . inet_service', map: 'ipv4_addr . inet_service', elements: els });
      tx.addRule({ ...T, chain: 'prerouting', stmts: [{ match: 'fib daddr type', value: 'local' },
        { nat: 'dnat', family: 'ip', map: { key: ['meta l4proto', 'th dport'], set: 'ports' } }] });
    }
  });
}

function countRules(): number {
  return (run('nft', ['list', 'chain', 'ip', 'bench', 'prerouting']).match(/dnat/g) ?? []).length;
}
function countElements(): number {
  return (run('nft', ['list', 'map', 'ip', 'bench', 'ports']).match(/ : \d+\.\d+\.\d+\.\d+ \. 80/g) ?? []).length;
}

async function main(): Promise<void> {
  if (!process.env.CNM_ISOLATED) {
    console.error('run through `npm run bench:nft` (it isolates the benchmark in a fresh namespace)');
    process.exit(2);
  }
  const nft = await Nft.open();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cnm-bench-nft-'));
  const mapFile = path.join(tmp, 'map.nft');
  const rulesFile = path.join(tmp, 'rules.nft');
  fs.writeFileSync(mapFile, mapText(N));
  fs.writeFileSync(rulesFile, rulesText(N));
  const res: Record<string, number[]> = {};
  const rec = (k: string, ms: number) => (res[k] ??= []).push(ms);

  progress(`${N} mappings, ${ROUNDS} rounds each, alternating tools`);
  for (let round = 0; round < ROUNDS; round++) {
    progress(`round ${round + 1}/${ROUNDS}`);
    // Map elements: the whole ruleset (table, chain, map with N elements, rule) in one transaction.
    flush();
    let t = now();
    await base(nft, true, elements(N));
    rec('map: cnm-netlink', now() - t);
    if (countElements() !== N) throw new Error(`expected ${N} elements, found ${countElements()}`);
    flush();
    t = now();
    run('nft', ['-f', mapFile]);
    rec('map: nft -f', now() - t);
    if (countElements() !== N) throw new Error('nft -f: wrong element count');
    // Linear rules, one transaction, with and without handles echoed back.
    for (const echo of [true, false]) {
      flush();
      t = now();
      await nft.transaction((tx) => {
        tx.addTable({ family: 'ip', name: 'bench' });
        tx.addChain({ ...T, name: 'prerouting', type: 'nat', hook: 'prerouting', priority: 'dstnat', policy: 'accept' });
        for (let i = 0; i < N; i++) tx.addRule(rule(i));
      }, { echo });
      rec(`rules: cnm-netlink${echo ? ' (handles echoed)' : ' (no echo)'}`, now() - t);
      if (countRules() !== N) throw new Error(`expected ${N} rules, found ${countRules()}`);
    }
    flush();
    t = now();
    run('nft', ['-f', rulesFile]);
    rec('rules: nft -f', now() - t);
    if (countRules() !== N) throw new Error('nft -f: wrong rule count');
  }
  flush();

  // iptables: one process per rule (what scripts that shell out do).
  let iptMs: number | undefined;
  const ipt = spawnSync('iptables', ['--version'], { encoding: 'utf8' });
  if (ipt.status === 0) {
    progress(`iptables (${ipt.stdout.trim()}): ${IPT} processes, one rule each`);
    const t = now();
    for (let i = 0; i < IPT; i++) {
      run('iptables', ['-t', 'nat', '-A', 'PREROUTING', '-d', '10.60.1.1', '-p', 'tcp', '--dport', String(port(i)), '-j', 'DNAT', '--to-destination', `${backend(i)}:80`]);
      if ((i + 1) % 250 === 0) progress(`  iptables ${i + 1}/${IPT}`);
    }
    iptMs = now() - t;
    run('iptables', ['-t', 'nat', '-F']);
    flush();
  } else {
    progress('iptables not installed: skipped');
  }

  // One more mapping at 0 and at N existing: two tables side by side
  // ("bench0" empty, "bench" with N), single-op transactions alternating
  // between them so both see the same machine noise; medians of ONE each.
  progress(`one more mapping: ${ONE} single transactions each at 0 and at ${N} existing, interleaved`);
  const one: Record<string, number> = {};
  flush();
  const T0 = { family: 'ip' as const, table: 'bench0' };
  for (const [tb, withMap] of [[T0, true], [T, true]] as const) {
    const n = tb === T ? N : 0;
    await nft.transaction((tx) => {
      tx.addTable({ family: 'ip', name: tb.table });
      tx.addChain({ ...tb, name: 'prerouting', type: 'nat', hook: 'prerouting', priority: 'dstnat', policy: 'accept' });
      if (withMap) tx.addSet({ ...tb, name: 'ports', type: 'inet_proto . inet_service', map: 'ipv4_addr . inet_service', elements: elements(n) });
      for (let i = 0; i < n; i++) tx.addRule({ ...rule(i), table: tb.table });
    }, { echo: false });
  }
  const xs: Record<string, number[]> = {};
  for (let k = 0; k < ONE; k++) {
    for (const tb of k % 2 ? [T0, T] : [T, T0]) {
      const at = tb === T ? N : 0;
      let t = now();
      await nft.transaction((tx) => { tx.addElements({ ...tb, set: 'ports' }, elements(1, N + 1 + k)); });
      (xs[`map element at ${at}`] ??= []).push(now() - t);
      t = now();
      await nft.transaction((tx) => { tx.addRule({ ...rule(N + 1 + k), table: tb.table }); });
      (xs[`linear rule at ${at}`] ??= []).push(now() - t);
    }
  }
  for (const k of ['map element at 0', `map element at ${N}`, 'linear rule at 0', `linear rule at ${N}`]) one[k] = median(xs[k]);
  // `nft add element` as a process at N existing, for scale.
  flush();
  await base(nft, true, elements(N));
  const zs: number[] = [];
  for (let k = 0; k < 10; k++) {
    const t = now();
    run('nft', ['add', 'element', 'ip', 'bench', 'ports', `{ tcp . ${port(N + 500 + k)} : 10.1.1.1 . 80 }`]);
    zs.push(now() - t);
  }
  flush();
  nft.close();
  fs.rmSync(tmp, { recursive: true, force: true });

  const med = (k: string) => median(res[k]);
  console.log(`\n${N} port mappings in one transaction (median of ${ROUNDS}, ms)`);
  const rows = Object.keys(res).map((k) => [k, med(k)] as const);
  for (const [k, v] of rows) console.log(`  ${k.padEnd(40)} ${v.toFixed(1).padStart(9)}`);
  if (iptMs !== undefined) {
    console.log(`  ${`rules: iptables, ${IPT} processes`.padEnd(40)} ${iptMs.toFixed(1).padStart(9)}`);
    console.log(`  ${`rules: iptables, x${N / IPT} extrapolated`.padEnd(40)} ${(iptMs * N / IPT).toFixed(1).padStart(9)}  (linear extrapolation; iptables-nft re-reads the ruleset per call, so the real figure is higher)`);
  }
  console.log('\nratios');
  const rm = med('map: cnm-netlink') / med('map: nft -f');
  console.log(`  map elements: cnm-netlink / nft -f              ${rm.toFixed(2)}x   (target <= 1.5x) ${rm <= 1.5 ? 'OK' : 'MISSED'}`);
  console.log(`  rules (echo): cnm-netlink / nft -f              ${(med('rules: cnm-netlink (handles echoed)') / med('rules: nft -f')).toFixed(2)}x`);
  console.log(`  rules (no echo): cnm-netlink / nft -f           ${(med('rules: cnm-netlink (no echo)') / med('rules: nft -f')).toFixed(2)}x`);
  if (iptMs !== undefined) console.log(`  iptables (extrapolated) / cnm-netlink rules     ${((iptMs * N / IPT) / med('rules: cnm-netlink (handles echoed)')).toFixed(0)}x slower`);
  console.log(`  map / linear rules, both cnm-netlink            ${(med('map: cnm-netlink') / med('rules: cnm-netlink (handles echoed)')).toFixed(2)}x`);
  console.log('\nadding one more mapping (one transaction, median ms)');
  for (const [k, v] of Object.entries(one)) console.log(`  ${k.padEnd(40)} ${v.toFixed(3).padStart(9)}`);
  console.log(`  ${'nft add element (process)'.padEnd(40)} ${median(zs).toFixed(3).padStart(9)}`);
  const r1 = one[`map element at ${N}`] / one['map element at 0'];
  console.log(`  map element at ${N} / at 0                   ${r1.toFixed(2)}x   (target <= 1.5x) ${r1 <= 1.5 ? 'OK' : 'MISSED'}`);
  console.log(`  linear rule at ${N} / at 0                   ${(one[`linear rule at ${N}`] / one['linear rule at 0']).toFixed(2)}x`);
}

main().catch((e) => { console.error(e); process.exit(1); });
