// bench/veth: N veth pairs created with every request in flight, then removed
// by group; in the same run the same work through `ip -batch`, one `ip` per
// pair, and a C program that pipelines raw RTM_NEWLINK messages. Prints
// times and ratios (the machine is noisy: compare ratios, not seconds).
// Run inside a throwaway namespace: `npm run bench:veth [-- N]`.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Rtnl } from '../src';

const N = Number(process.argv[2] ?? process.env.N ?? 2000);
const ONE_BY_ONE = Number(process.env.ONE_BY_ONE ?? 100);
const GROUP = 77;

function now(): number { return Number(process.hrtime.bigint()) / 1e6; }
function run(cmd: string, args: string[], input?: string): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
}
function linkCount(): number {
  return spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout.trim().split('\n').length - 1;
}
function progress(msg: string): void { process.stderr.write(`  .. ${msg}\n`); }

async function main(): Promise<void> {
  if (!process.env.CNM_ISOLATED) {
    console.error('run through `npm run bench:veth` (it isolates the benchmark in a fresh namespace)');
    process.exit(2);
  }
  const rows: { name: string; create: number; remove: number; note?: string }[] = [];

  const ROUNDS = Number(process.env.ROUNDS ?? 3);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const rt = await Rtnl.open();
  const cbin = path.join(os.tmpdir(), 'cnm-veth-pipeline');
  const csrc = path.join(__dirname, '..', '..', 'bench', 'c', 'veth_pipeline.c');
  const cc = spawnSync('gcc', ['-O2', '-o', cbin, csrc], { encoding: 'utf8' });
  if (cc.status !== 0) progress(`C reference skipped (gcc: ${cc.stderr.trim()})`);
  const f = path.join(os.tmpdir(), `cnm-bench-${process.pid}.batch`);
  const fq = path.join(os.tmpdir(), `cnm-bench-${process.pid}-q.batch`);
  fs.writeFileSync(fq, Array.from({ length: N }, (_, i) => `link add bq${i} group ${GROUP} numtxqueues 1 numrxqueues 1 type veth peer name bq${i}p group ${GROUP} numtxqueues 1 numrxqueues 1`).join('\n') + '\n');
  fs.writeFileSync(f, Array.from({ length: N }, (_, i) => `link add bv${i} group ${GROUP} type veth peer name bv${i}p group ${GROUP}`).join('\n') + '\n');

  // The fast tools run in alternating rounds; each reports its median.
  const tools: { name: string; create: () => Promise<void> | void; remove: () => Promise<void> | void }[] = [
    {
      name: 'cnm-netlink',
      create: async () => {
        await Promise.all(Array.from({ length: N }, (_, i) =>
          rt.link.add({ kind: 'veth', name: `lv${i}`, group: GROUP, peer: { name: `lv${i}p`, group: GROUP } }, { echo: false })));
      },
      remove: () => rt.link.deleteGroup(GROUP),
    },
    ...(cc.status === 0 ? [{
      name: 'C, 64 per sendmsg',
      create: () => run(cbin, [String(N), '64', String(GROUP)]),
      remove: () => run('ip', ['link', 'delete', 'group', String(GROUP)]),
    }] : []),
    {
      name: 'ip -batch',
      create: () => run('ip', ['-batch', f]),
      remove: () => run('ip', ['link', 'delete', 'group', String(GROUP)]),
    },
    // The same with one queue each way asked for at creation: the kernel then
    // skips shrinking the default (one per CPU) under RTNL with an RCU wait
    // per device. Both sides get it, so the ratio stays fair.
    {
      name: 'cnm-netlink, 1 queue',
      create: async () => {
        await Promise.all(Array.from({ length: N }, (_, i) =>
          rt.link.add({ kind: 'veth', name: `lq${i}`, group: GROUP, numTxQueues: 1, numRxQueues: 1,
            peer: { name: `lq${i}p`, group: GROUP, numTxQueues: 1, numRxQueues: 1 } }, { echo: false })));
      },
      remove: () => rt.link.deleteGroup(GROUP),
    },
    {
      name: 'ip -batch, 1 queue',
      create: () => run('ip', ['-batch', fq]),
      remove: () => run('ip', ['link', 'delete', 'group', String(GROUP)]),
    },
  ];
  const times = new Map<string, { c: number[]; r: number[] }>(tools.map((x) => [x.name, { c: [], r: [] }]));
  for (let round = 1; round <= ROUNDS; round++) {
    for (const tool of tools) {
      progress(`round ${round}/${ROUNDS}: ${tool.name} creating ${N} pairs, removing by group`);
      let t = now();
      await tool.create();
      times.get(tool.name)!.c.push(now() - t);
      // Checked outside the timing (listing 4,000 links takes a while).
      if (linkCount() !== 2 * N) throw new Error(`${tool.name}: expected ${2 * N} links, found ${linkCount()}`);
      t = now();
      await tool.remove();
      times.get(tool.name)!.r.push(now() - t);
      if (linkCount() !== 0) throw new Error(`${tool.name} left links behind`);
    }
  }
  fs.rmSync(f);
  fs.rmSync(fq);
  for (const tool of tools) rows.push({ name: tool.name, create: median(times.get(tool.name)!.c), remove: median(times.get(tool.name)!.r) });
  const libCreate = rows[0].create;
  const libRemove = rows[0].remove;

  // one ip process per pair
  progress(`one ip per pair: creating ${N}`);
  let t = now();
  for (let i = 0; i < N; i++) {
    run('ip', ['link', 'add', `pv${i}`, 'group', String(GROUP), 'type', 'veth', 'peer', 'name', `pv${i}p`, 'group', String(GROUP)]);
    if (i % 500 === 499) progress(`  ${i + 1}/${N}`);
  }
  const perCreate = now() - t;
  t = now();
  run('ip', ['link', 'delete', 'group', String(GROUP)]);
  rows.push({ name: 'one ip per pair', create: perCreate, remove: now() - t });

  // One-by-one deletion, sampled: why deleteGroup exists.
  progress(`one-by-one delete sample: ${ONE_BY_ONE} pairs`);
  await Promise.all(Array.from({ length: ONE_BY_ONE }, (_, i) =>
    rt.link.add({ kind: 'veth', name: `ov${i}`, group: GROUP, peer: { name: `ov${i}p` } }, { echo: false })));
  t = now();
  for (let i = 0; i < ONE_BY_ONE; i++) await rt.link.delete(`ov${i}`);
  const oneByOne = ((now() - t) / ONE_BY_ONE) * N;
  rt.close();

  const fmt = (ms: number) => `${(ms / 1000).toFixed(3)} s`;
  console.log(`\nveth pairs: ${N} (kernel ${os.release()}, ${os.cpus().length} CPUs)`);
  console.log('tool'.padEnd(22), 'create'.padStart(10), 'remove'.padStart(10), 'create ratio (tool / cnm-netlink)'.padStart(36));
  for (const r of rows) {
    console.log(r.name.padEnd(22), fmt(r.create).padStart(10), fmt(r.remove).padStart(10), (r.create / libCreate).toFixed(2).padStart(36));
  }
  console.log(`\none-by-one delete of ${N} (extrapolated from ${ONE_BY_ONE}): ${fmt(oneByOne)}; by group: ${fmt(libRemove)} (${(oneByOne / libRemove).toFixed(0)}x faster)`);
  const c = rows.find((r) => r.name.startsWith('C,'));
  if (c) console.log(`cnm-netlink create / C reference: ${(libCreate / c.create).toFixed(2)} (target <= 1.10)`);
  const q = rows.find((r) => r.name === 'cnm-netlink, 1 queue');
  const iq = rows.find((r) => r.name === 'ip -batch, 1 queue');
  if (q && iq) console.log(`with one queue each way: cnm-netlink ${fmt(q.create)} (${(libCreate / q.create).toFixed(2)}x faster than default queues), ip -batch ${fmt(iq.create)}`);
  console.log(`cnm-netlink remove by group: ${fmt(libRemove)} (target < 0.5 s)`);
}

main().catch((e) => { console.error(e); process.exit(1); });
