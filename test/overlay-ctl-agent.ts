// One cluster host running a real Controller with `cluster` in its own
// process, for test/overlay.test.ts: started with
// `nsenter --net=/run/netns/HOST node overlay-ctl-agent.js JSON`, it opens
// the controller and answers JSON-line requests on stdin ({ id, op, args })
// with JSON lines ({ id, ok } or { id, error: { code, message } }).
import * as readline from 'readline';
import { execFile } from 'child_process';
import { promisify } from 'util';
import { Controller } from '../src';
import { driverFor } from '../src/cnm/drivers';

interface Args { stateDir: string; store: string; advertise: string; prefix: string; leaseTtl?: number; requestTimeoutMs?: number; dns?: boolean }

async function main() {
  const a = JSON.parse(process.argv[2]) as Args;
  const ctl = await Controller.open({
    stateDir: a.stateDir, etcNetnsDir: null, dns: a.dns ?? false, upstreamDns: [],
    cluster: { store: a.store, advertise: a.advertise, prefix: a.prefix, leaseTtl: a.leaseTtl ?? 3, ...(a.requestTimeoutMs ? { requestTimeoutMs: a.requestTimeoutMs } : {}) },
  });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const ctx = (ctl as any).ctx;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const ops: Record<string, (x: any) => unknown> = {
    createNetwork: async (o) => (await ctl.createNetwork(o)).inspect(),
    deleteNetwork: (name) => ctl.deleteNetwork(name),
    networks: () => ctl.networks().map((n) => ({ name: n.name, scope: n.inspect().Scope, driver: n.driver })),
    inspect: (name) => ctl.inspectNetwork(name),
    /** A container: sandbox (named `sbName`, default `name`) + endpoint `name` joined to it. */
    run: async ({ sb, net, name, ip, key, sbName, hostname, aliases, ports }) => {
      const s = await ctl.createSandbox({ id: sb, name: sbName ?? name, ...(hostname ? { hostname } : {}), ...(key ? { key } : {}) });
      try {
        const ep = await ctl.createEndpoint(net, { name, ...(ip ? { ip } : {}), ...(aliases ? { aliases } : {}), ...(ports ? { ports } : {}) });
        await ep.join(s).catch(async (e) => {
          await ep.delete();
          throw e;
        });
        return { ip: ep.ipv4, mac: ep.mac, netns: s.key, resolvConf: s.resolvConfPath };
      } catch (e) {
        await s.delete();
        throw e;
      }
    },
    connect: async ({ sb, net, name }) => {
      const ep = await ctl.createEndpoint(net, { name });
      await ep.join(sb);
      return { ip: ep.ipv4, mac: ep.mac };
    },
    leave: async ({ name }) => { await ctl.endpoints().find((e) => e.name === name)!.leave(); },
    deleteEndpoint: async ({ name }) => { await ctl.endpoints().find((e) => e.name === name)!.delete(); },
    /** Like `docker rm`: the sandbox, then its endpoints. */
    rm: async ({ sb }) => {
      const eps = ctl.endpoints().filter((e) => e.record.sandboxId === sb);
      await ctl.deleteSandbox(sb);
      for (const e of eps) await e.delete();
    },
    /** Endpoints only (no join), all at once: the cluster IPAM under concurrency. */
    many: async ({ net, prefix, count }) => {
      const eps = await Promise.all(Array.from({ length: count }, (_, i) => ctl.createEndpoint(net, { name: `${prefix}${i}` })));
      return eps.map((e) => e.ipv4);
    },
    deleteEndpoints: async ({ prefix }) => {
      for (const e of ctl.endpoints()) if (e.name.startsWith(prefix)) await e.delete();
    },
    /** The driver's names hook (what the name service is to call). */
    names: ({ net, name }) => {
      const n = ctx.network(net);
      return driverFor(n.driver).names?.(ctx, n)?.lookup(name, 'A') ?? null;
    },
    reverse: ({ net, ip }) => {
      const n = ctx.network(net);
      return driverFor(n.driver).names?.(ctx, n)?.reverse?.(ip) ?? null;
    },
    resolve: ({ net, name }) => ctl.resolveName(ctl.network(net).id, name, 'A') ?? null,
    /** bench/overlay: `count` containers (own sandbox + endpoint + join) at once; time, etcd requests. */
    bench: async ({ net, prefix, count }) => {
      const req0 = ctx.cluster?.store.stats.requests ?? 0;
      const t0 = process.hrtime.bigint();
      await Promise.all(Array.from({ length: count }, async (_, i) => {
        const sb = await ctl.createSandbox({ id: `${prefix}${i}` });
        const ep = await ctl.createEndpoint(net, { name: `${prefix}${i}` });
        await ep.join(sb);
      }));
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      return { ms, requests: (ctx.cluster?.store.stats.requests ?? 0) - req0 };
    },
    /**
     * `count` containers joined at once while `ip link del BRIDGE` runs after
     * `delayMs`: the joins that failed, and the host ends not on the bridge
     * there afterwards (then all removed).
     */
    racyJoins: async ({ net, prefix, count, bridge, delayMs }) => {
      const items = await Promise.all(Array.from({ length: count }, async (_, i) => ({
        sb: await ctl.createSandbox({ id: `${prefix}${i}` }), ep: await ctl.createEndpoint(net, { name: `${prefix}${i}` }),
      })));
      const del = new Promise((r) => setTimeout(r, delayMs)).then(() => promisify(execFile)('ip', ['link', 'del', bridge]).catch(() => {}));
      const results = await Promise.allSettled(items.map(({ sb, ep }) => ep.join(sb)));
      await del;
      const failed = results.flatMap((r) => (r.status === 'rejected' ? [`${r.reason.code}: ${r.reason.message}`] : []));
      const index = (await ctx.rt.link.find(bridge))?.index;
      const offBridge: string[] = [];
      for (const { ep } of items) if (ep.record.hostIfname && (await ctx.rt.link.find(ep.record.hostIfname))?.master !== index) offBridge.push(ep.record.hostIfname);
      for (const { sb, ep } of items) { await sb.delete(); await ep.delete(); }
      return { failed, offBridge, bridgeThere: index !== undefined };
    },
    benchClean: async ({ prefix }) => {
      for (const s of ctl.sandboxes()) if (s.id.startsWith(prefix)) await s.delete();
      for (const e of ctl.endpoints()) if (e.name.startsWith(prefix)) await e.delete();
    },
    reconcile: () => ctl.reconcile(),
    close: async () => { await ctl.close(); setImmediate(() => process.exit(0)); },
    destroy: async () => { await ctl.destroy(); setImmediate(() => process.exit(0)); },
  };
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const { id, op, args } = JSON.parse(line);
    Promise.resolve().then(() => ops[op](args)).then(
      (ok) => process.stdout.write(JSON.stringify({ id, ok: ok ?? null }) + '\n'),
      (e) => process.stdout.write(JSON.stringify({ id, error: { code: e.code, message: e.message } }) + '\n'),
    );
  });
  process.stdout.write(JSON.stringify({ ready: true }) + '\n');
}

main().catch((e) => {
  process.stdout.write(JSON.stringify({ fatal: { code: e.code, message: e.message } }) + '\n');
  process.exit(1);
});
