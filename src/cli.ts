#!/usr/bin/env node
// `cnm`: Docker's network commands over the CNM controller. The one place a
// process is spawned is `cnm run`: the user's own program, inside the sandbox.
import { ChildProcess, spawn } from 'child_process';
import * as os from 'os';
import * as crypto from 'crypto';
import { Controller, serveNamesFromState } from './cnm/controller';
import type { DriverName } from './cnm/types';

const USAGE = `usage: cnm [--state-dir DIR] [--json] COMMAND

  network create [--driver bridge|macvlan] [--subnet CIDR] [--gateway IP] [--ip-range CIDR]
                 [--ipv6] [--subnet6 CIDR] [--internal] [-o KEY=VALUE]... [--label KEY=VALUE]... NAME
  network ls
  network inspect NAME...
  network rm NAME...
  network connect [--ip IP] [--alias NAME]... NETWORK SANDBOX
  network disconnect NETWORK SANDBOX
  sandbox ls
  sandbox inspect ID...
  sandbox rm ID...
  run [--network NET] [-p [IP:]HOSTPORT:PORT[/PROTO]]... [--name NAME] [--hostname H] [--ip IP] [--alias A]... -- CMD [ARGS...]
`;

class UsageError extends Error {}

interface Parsed { flags: Map<string, string[]>; args: string[] }

function parse(argv: string[], valued: string[], bools: string[]): Parsed {
  const flags = new Map<string, string[]>();
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') { args.push(...argv.slice(i + 1)); break; }
    if (a.startsWith('-') && a !== '-') {
      const [k, inline] = a.includes('=') && a.startsWith('--') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
      if (bools.includes(k)) { flags.set(k, ['true']); continue; }
      if (!valued.includes(k)) throw new UsageError(`unknown flag: ${k}`);
      const v = inline ?? argv[++i];
      if (v === undefined) throw new UsageError(`flag ${k} needs a value`);
      flags.set(k, [...(flags.get(k) ?? []), v]);
      continue;
    }
    args.push(a);
  }
  return { flags, args };
}

const one = (p: Parsed, k: string) => p.flags.get(k)?.at(-1);
const kv = (list: string[] | undefined) => Object.fromEntries((list ?? []).map((s) => {
  const i = s.indexOf('=');
  if (i <= 0) throw new UsageError(`expected KEY=VALUE, got ${s}`);
  return [s.slice(0, i), s.slice(i + 1)];
}));

function table(rows: string[][]): string {
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(w[i])).join('   ').trimEnd()).join('\n');
}

async function main(argv: string[]): Promise<number> {
  // Global flags only before the command.
  let i = 0;
  let stateDir: string | undefined;
  let json = false;
  while (i < argv.length && argv[i].startsWith('-')) {
    if (argv[i] === '--json') json = true;
    else if (argv[i] === '--state-dir') stateDir = argv[++i];
    else if (argv[i].startsWith('--state-dir=')) stateDir = argv[i].slice(12);
    else if (argv[i] === '-h' || argv[i] === '--help') { process.stdout.write(USAGE); return 0; }
    else throw new UsageError(`unknown flag: ${argv[i]}`);
    i++;
  }
  const [group, cmd, ...rest] = argv.slice(i);
  if (!group) { process.stdout.write(USAGE); return 2; }
  const out = (v: unknown, text: () => string) => console.log(json ? JSON.stringify(v, null, 2) : text());

  // One controller per state directory at a time (a lock): each command
  // holds it only as long as it works. Names are served by `cnm run`.
  const open = (lockTimeoutMs?: number) => Controller.open({ stateDir, dns: false, lockTimeoutMs });
  if (group === 'run') return runCommand(open, [cmd, ...rest].filter((x) => x !== undefined), json);
  const ctl = await open();
  try {
    if (group === 'network') {
      switch (cmd) {
        case 'create': {
          const p = parse(rest, ['--driver', '-d', '--subnet', '--gateway', '--ip-range', '--subnet6', '--gateway6', '-o', '--opt', '--label'], ['--ipv6', '--internal']);
          if (p.args.length !== 1) throw new UsageError('network create needs one NAME');
          const n = await ctl.createNetwork({
            name: p.args[0], driver: (one(p, '--driver') ?? one(p, '-d') ?? 'bridge') as DriverName,
            subnet: one(p, '--subnet'), gateway: one(p, '--gateway'), ipRange: one(p, '--ip-range'),
            ipv6: p.flags.has('--ipv6'), subnet6: one(p, '--subnet6'), gateway6: one(p, '--gateway6'),
            internal: p.flags.has('--internal'),
            options: kv([...(p.flags.get('-o') ?? []), ...(p.flags.get('--opt') ?? [])]), labels: kv(p.flags.get('--label')),
          });
          out({ Id: n.id }, () => n.id);
          return 0;
        }
        case 'ls': {
          const nets = ctl.networks().map((n) => n.inspect());
          out(nets.map((n) => ({ ID: n.Id.slice(0, 12), Name: n.Name, Driver: n.Driver, Scope: n.Scope, Subnet: n.IPAM.Config?.[0]?.Subnet ?? '' })),
            () => table([['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE', 'SUBNET'], ...nets.map((n) => [n.Id.slice(0, 12), n.Name, n.Driver, n.Scope, n.IPAM.Config?.[0]?.Subnet ?? ''])]));
          return 0;
        }
        case 'inspect': {
          if (!rest.length) throw new UsageError('network inspect needs NAME');
          const all = rest.map((r) => ctl.network(r).inspect());
          console.log(JSON.stringify(all, null, 2));
          return 0;
        }
        case 'rm': {
          if (!rest.length) throw new UsageError('network rm needs NAME');
          for (const r of rest) { await ctl.network(r).delete(); if (!json) console.log(r); }
          if (json) out(rest, () => '');
          return 0;
        }
        case 'connect': {
          const p = parse(rest, ['--ip', '--alias'], []);
          if (p.args.length !== 2) throw new UsageError('network connect needs NETWORK SANDBOX');
          const sb = ctl.sandbox(p.args[1]);
          const ep = await ctl.network(p.args[0]).createEndpoint({ name: sb.name, ip: one(p, '--ip'), aliases: p.flags.get('--alias') });
          try {
            await ep.join(sb);
          } catch (e) {
            await ep.delete().catch(() => {});
            throw e;
          }
          out(ep.record, () => `${sb.name} connected to ${p.args[0]}: ${ep.record.ifname} ${ep.ipv4 ?? ''}`);
          return 0;
        }
        case 'disconnect': {
          if (rest.length !== 2) throw new UsageError('network disconnect needs NETWORK SANDBOX');
          const net = ctl.network(rest[0]);
          const sb = ctl.sandbox(rest[1]);
          const ep = net.endpoints().find((e) => e.record.sandboxId === sb.id);
          if (!ep) throw Object.assign(new Error(`sandbox ${rest[1]} is not connected to network ${rest[0]}`), { code: 'ENOENT' });
          await ep.delete();
          if (!json) console.log(`${rest[1]} disconnected from ${rest[0]}`);
          return 0;
        }
      }
    } else if (group === 'sandbox') {
      switch (cmd) {
        case 'ls': {
          const sbs = ctl.sandboxes().map((s) => s.inspect());
          out(sbs, () => table([['SANDBOX ID', 'NAME', 'MODE', 'NETNS', 'NETWORKS'], ...sbs.map((s) => [s.id.slice(0, 12), s.name, s.mode, s.netnsPath ?? (s.joinedTo ? `container:${s.joinedTo}` : 'host'), s.endpoints.map((e: any) => `${e.network}:${e.ipv4 ?? ''}`).join(',')])]));
          return 0;
        }
        case 'inspect':
          console.log(JSON.stringify(rest.map((r) => ctl.sandbox(r).inspect()), null, 2));
          return 0;
        case 'rm': {
          if (!rest.length) throw new UsageError('sandbox rm needs ID');
          for (const r of rest) {
            const sb = ctl.sandbox(r);
            const eps = sb.inspect().endpoints.map((e: any) => e.id);
            await sb.delete();
            for (const id of eps) await ctl.endpoints().find((e) => e.id === id)?.delete();
            if (!json) console.log(r);
          }
          return 0;
        }
      }
    }
    throw new UsageError(`unknown command: ${[group, cmd].filter(Boolean).join(' ')}`);
  } finally {
    await ctl.close();
  }
}

/**
 * Sets the sandbox up, lets go of the state while the program runs (other
 * commands, another `cnm run`, work meanwhile), serves the network's names
 * from the state on disk, then takes the state again to tear down.
 */
async function runCommand(open: (lockTimeoutMs?: number) => Promise<Controller>, argv: string[], json: boolean): Promise<number> {
  const p = parse(argv, ['--network', '--net', '-p', '--publish', '--name', '--hostname', '--ip', '--alias'], ['--rm']);
  if (!p.args.length) throw new UsageError('run needs a command after --');
  const id = one(p, '--name') ?? crypto.randomBytes(6).toString('hex');
  const netName = one(p, '--network') ?? one(p, '--net') ?? 'bridge';
  // A signal during set-up lets it finish (or roll back), then tears down;
  // during the run it goes to the program.
  let child: ChildProcess | undefined;
  let interrupted: NodeJS.Signals | undefined;
  // While teardown waits for the state (another command holds it), a signal
  // gives up waiting: the sandbox stays, and the message says how to remove it.
  let giveUp: ((sig: NodeJS.Signals) => void) | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    if (giveUp) return giveUp(sig);
    interrupted ??= sig;
    child?.kill(sig);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let epId: string | undefined;
  let made = false;
  let nsName: string | undefined;
  let networkId: string;
  let ctl = await open();
  try {
    const network = ctl.network(netName);
    networkId = network.id;
    // --network host: the program runs in the host's namespace, as with Docker.
    const sb = await ctl.createSandbox({ id, hostname: one(p, '--hostname'), host: network.record.driver === 'host' });
    made = true;
    const ep = await network.createEndpoint({
      name: id, ip: one(p, '--ip'), aliases: p.flags.get('--alias'),
      ports: [...(p.flags.get('-p') ?? []), ...(p.flags.get('--publish') ?? [])],
    });
    epId = ep.id;
    await ep.join(sb);
    const info = { sandbox: id, netns: sb.key, ip: ep.ipv4, ports: ep.ports };
    if (json) console.error(JSON.stringify(info));
    else console.error(`cnm: ${id} on ${netName}: ${ep.ipv4 ?? ''}${ep.ports.map((b) => ` ${b.hostIp}:${b.hostPort}->${b.containerPort}/${b.proto}`).join('')}`);
    nsName = sb.record.netnsName;
  } catch (e) {
    if (made) await teardown(ctl, id, epId);
    await ctl.close();
    throw e;
  }
  await ctl.close();
  let code = interrupted ? 128 + (os.constants.signals[interrupted] ?? 0) : 1;
  if (!interrupted) {
    const dns = await serveNamesFromState(ctl.stateDir, networkId).catch((e) => {
      console.error(`cnm: warning: no name resolution for ${netName}: ${e.message}`);
      return undefined;
    });
    try {
      // A signal while the name server started: the program never runs.
      if (interrupted) code = 128 + (os.constants.signals[interrupted] ?? 0);
      else {
        child = nsName
          ? spawn('ip', ['netns', 'exec', nsName, ...p.args], { stdio: 'inherit' })
          : spawn(p.args[0], p.args.slice(1), { stdio: 'inherit' });
        code = await new Promise<number>((resolve) => {
          child!.on('error', (e) => { console.error(`cnm: error: ${e.message}`); resolve(127); });
          // Like a shell: 128 + the signal's number when the program was killed.
          child!.on('exit', (c, sig) => resolve(c ?? (sig ? 128 + (os.constants.signals[sig] ?? 0) : 1)));
        });
      }
    } finally {
      dns?.close();
    }
  }
  // Teardown waits as long as it takes for the state (another command may
  // hold it), or until a signal says to stop waiting.
  try {
    const stop = new Promise<never>((_, reject) => {
      giveUp = (sig) => reject(Object.assign(new Error(`stopped waiting for the state on ${sig}`), { signal: sig }));
    });
    const opening = open(10 * 60 * 1000);
    ctl = await Promise.race([opening, stop]).catch((e) => {
      // Opened after all: closed, so the state is not held by a leaving process.
      opening.then((c) => c.close(), () => {});
      throw e;
    });
    giveUp = undefined;
    try {
      if (!(await teardown(ctl, id, epId))) code = code || 1;
    } finally {
      await ctl.close();
    }
  } catch (e: any) {
    console.error(`cnm: error: could not remove sandbox ${id} (${e.message}); \`cnm sandbox rm ${id}\` removes it and its endpoint`);
    code = code || 1;
  }
  return code;
}

/** Removes a run's sandbox and its endpoint, each whatever happens to the other. */
async function teardown(ctl: Controller, id: string, epId: string | undefined): Promise<boolean> {
  let ok = true;
  try { await ctl.sandbox(id).delete(); } catch (e: any) {
    if (e.code !== 'ENOENT') { ok = false; console.error(`cnm: error: removing sandbox ${id}: ${e.message}`); }
  }
  const ep = epId ? ctl.endpoints().find((e) => e.id === epId) : undefined;
  try { await ep?.delete(); } catch (e: any) { ok = false; console.error(`cnm: error: removing endpoint ${id}: ${e.message}`); }
  return ok;
}

main(process.argv.slice(2)).then((code) => process.exit(code), (e: any) => {
  if (e instanceof UsageError) {
    console.error(`cnm: ${e.message}\n${USAGE}`);
    process.exit(2);
  }
  console.error(`cnm: error: ${e.message}${e.code && !String(e.message).includes(e.code) ? ` (${e.code})` : ''}`);
  process.exit(1);
});
