// The `cnm` command line, on commander: Docker's commands and conventions
// (flags anywhere, --help on every command, -q/--filter/--format/--no-trunc,
// exit codes 125 for flag errors and for what we cannot do, 1 otherwise).
import * as fs from 'fs';
import * as net from 'net';
import * as readline from 'readline';
import { Command, CommanderError, Option } from 'commander';
import { CnmError } from '../errors';
import { Daemon, DEFAULT_SOCKET, VERSION } from '../daemon/server';
import { filtersFromPairs } from '../daemon/filters';
import { endpointOptions, networkCreateOptions } from '../daemon/mapping';
import type { EndpointSettings, IpamConfig, NetworkCreateRequest } from '../daemon/mapping';
import { badInput } from '../daemon/errors';
import { goParseBool } from '../cnm/driver';
import { Backend, chooseBackend, hasNetAdmin, privilegeError } from './backend';
import { formatRows, Format, goTime, table } from './format';
import { runCommand, RunOptions } from './run';
import { hostAddress } from '../cnm/ports';

const collect = (v: string, prev: string[] = []) => [...prev, v];
const write = (s: string) => { process.stdout.write(s); };

interface Common { stateDir?: string; host?: string; json?: boolean }

function common(c: Command): Command {
  return c
    .option('--state-dir <dir>', 'state directory (default /var/lib/cnm-netlink)')
    .option('-H, --host <socket>', `daemon socket, unix:///PATH (default: ${DEFAULT_SOCKET} when it answers, else the state directory directly)`)
    .option('--json', 'JSON output');
}

/** A group (network, sandbox): help without a subcommand, an error for an unknown one. */
function group(parent: Command, name: string, desc: string): Command {
  const g = common(parent.command(name).description(desc)).allowExcessArguments(true);
  g.action(function (this: Command) {
    if (this.args.length) throw new UsageError(`unknown command: cnm ${name} ${this.args[0]}`, 1, `cnm ${name}`);
    write(this.helpInformation());
  });
  return g;
}

/** A usage error: docker's status (125 for flags, 1 for commands and arguments) and the command to ask for help. */
/** Bool flags written `--flag=VALUE`, as the docker client's pflag takes them. */
const BOOL_FLAGS = new Set(['ipv4', 'ipv6', 'internal', 'attachable', 'ingress', 'config-only']);

/**
 * `--ipv6=false` as pflag reads it: `--ipv6` or `--no-ipv6` for commander
 * (whose bool flags take no value); a value ParseBool refuses is a flag error.
 */
function boolFlags(argv: string[]): string[] {
  return argv.map((a) => {
    const m = /^--([a-z0-9-]+)=(.*)$/.exec(a);
    if (!m || !BOOL_FLAGS.has(m[1])) return a;
    const b = goParseBool(m[2]);
    if (b !== undefined) return b ? `--${m[1]}` : `--no-${m[1]}`;
    throw new UsageError(`invalid argument "${m[2]}" for "--${m[1]}" flag: strconv.ParseBool: parsing ${JSON.stringify(m[2])}: invalid syntax`, 125, '');
  });
}

class UsageError extends CnmError {
  constructor(message: string, readonly status: number, readonly cmd: string) { super(message, 'EINVAL'); }
}

let backendP: Promise<Backend> | undefined;
const backendFor = (o: Common) => (backendP ??= chooseBackend(o));

async function withBackend<T>(cmd: Command, f: (b: Backend, o: Common & Record<string, any>) => Promise<T>): Promise<T> {
  const o = cmd.optsWithGlobals() as Common & Record<string, any>;
  const b = await backendFor(o);
  try { return await f(b, o); } finally { await b.close(); }
}

// ------------------------------------------------------------ network

/** `network ls`'s row, as docker's formatter builds it (all strings; ID cut unless --no-trunc). */
function networkRow(n: any, noTrunc: boolean): Record<string, string> {
  const labels = Object.entries(n.Labels ?? {}).map(([k, v]) => `${k}=${v}`).sort().join(',');
  return {
    CreatedAt: goTime(n.Created), Driver: n.Driver, ID: noTrunc ? n.Id : n.Id.slice(0, 12), IPv4: String(n.EnableIPv4 ?? true),
    IPv6: String(!!n.EnableIPv6), Internal: String(!!n.Internal), Labels: labels, Name: n.Name, Scope: n.Scope,
  };
}
const NETWORK_HEADERS = { ID: 'NETWORK ID', Name: 'NAME', Driver: 'DRIVER', Scope: 'SCOPE', IPv6: 'IPV6', IPv4: 'IPV4', Internal: 'INTERNAL', Labels: 'LABELS', CreatedAt: 'CREATED AT' };

/** Natural order, as docker's sortorder.NaturalLess: runs of digits compare as numbers. */
export function naturalCompare(a: string, b: string): number {
  const re = /(\d+|\D+)/g;
  const xa = a.match(re) ?? [], xb = b.match(re) ?? [];
  for (let i = 0; i < Math.min(xa.length, xb.length); i++) {
    const p = xa[i], q = xb[i];
    if (p === q) continue;
    if (/^\d/.test(p) && /^\d/.test(q)) return Number(p) - Number(q) || p.length - q.length;
    return p < q ? -1 : 1;
  }
  return xa.length - xb.length;
}

/** Docker's pairing of --gateway/--ip-range/--aux-address with the --subnet containing them. */
function ipamConfig(o: { subnet: string[]; gateway: string[]; ipRange: string[]; auxAddress: string[] }): IpamConfig[] {
  const configs: (IpamConfig & { list: net.BlockList; fam: 'ipv4' | 'ipv6'; aux: Map<string, string> })[] = o.subnet.map((s) => {
    const [addr, len] = s.split('/');
    const fam = net.isIPv6(addr) ? 'ipv6' : 'ipv4';
    const list = new net.BlockList();
    if (!net.isIP(addr) || !/^\d+$/.test(len ?? '') || Number(len) > (fam === 'ipv6' ? 128 : 32)) throw badInput(`invalid CIDR address: ${s}`);
    list.addSubnet(addr, Number(len), fam);
    return { Subnet: s, list, fam, aux: new Map() };
  });
  const home = (ip: string, what: string) => {
    const fam = net.isIPv6(ip) ? 'ipv6' : 'ipv4';
    if (!net.isIP(ip)) throw badInput(`invalid ${what} ${ip}`);
    const c = configs.find((x) => x.fam === fam && x.list.check(ip, fam));
    if (!c) throw badInput(`no matching subnet for ${what} ${ip}`);
    return c;
  };
  for (const g of o.gateway) {
    const c = home(g, 'gateway');
    if (c.Gateway) throw badInput(`cannot configure multiple gateways (${c.Gateway}, ${g}) for subnet ${c.Subnet}`);
    c.Gateway = g;
  }
  for (const r of o.ipRange) {
    const c = home(r.split('/')[0], 'range');
    if (c.IPRange) throw badInput(`cannot configure multiple ranges (${c.IPRange}, ${r}) on the same subnet (${c.Subnet})`);
    c.IPRange = r;
  }
  for (const a of o.auxAddress) {
    const i = a.indexOf('=');
    if (i <= 0) throw badInput(`invalid --aux-address ${a}: NAME=IP expected`);
    const c = home(a.slice(i + 1), 'aux-address');
    const name = a.slice(0, i);
    if (c.aux.has(name)) throw badInput(`--aux-address ${name} given twice`);
    c.aux.set(name, a.slice(i + 1));
  }
  for (const c of configs) if (c.aux.size) c.AuxiliaryAddresses = Object.fromEntries(c.aux);
  return configs.map(({ list: _l, fam: _f, aux: _a, ...c }) => c);
}

function keyValues(list: string[], flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of list) {
    const i = s.indexOf('=');
    if (i <= 0) throw new UsageError(`invalid argument "${s}" for "${flag}" flag: KEY=VALUE expected`, 125, '');
    out[s.slice(0, i)] = s.slice(i + 1);
  }
  return out;
}

function networkCommands(program: Command): void {
  const n = group(program, 'network', 'Manage networks');

  common(n.command('create').description('Create a network').argument('<name>'))
    .addOption(new Option('-d, --driver <driver>', 'driver to manage the network').default('bridge'))
    .option('--subnet <cidr>', 'subnet in CIDR format, IPv4 or IPv6 (repeat for several)', collect, [])
    .option('--gateway <ip>', 'gateway for the subnet that contains it', collect, [])
    .option('--ip-range <cidr>', 'allocate container addresses from a sub-range of the subnet that contains it', collect, [])
    .option('--aux-address <name=ip>', 'an address of a subnet the IPAM must not hand out (repeatable)', collect, [])
    .option('--ipv4', 'enable IPv4 address assignment (the default; --ipv4=false is not supported yet)')
    .addOption(new Option('--no-ipv4').hideHelp())
    .option('--ipv6', 'enable IPv6 (--ipv6=false: off)')
    .addOption(new Option('--no-ipv6').hideHelp())
    .option('--internal', 'restrict external access to the network')
    .addOption(new Option('--no-internal').hideHelp())
    .option('-o, --opt <key=value>', 'driver options', collect, [])
    .option('--label <key=value>', 'metadata on the network', collect, [])
    .option('--attachable', 'swarm: manual container attachment')
    .addOption(new Option('--no-attachable').hideHelp())
    .option('--ingress', 'swarm: routing-mesh network')
    .addOption(new Option('--no-ingress').hideHelp())
    .option('--scope <scope>', 'scope (local)')
    .option('--config-only', 'a configuration-only network')
    .addOption(new Option('--no-config-only').hideHelp())
    .option('--config-from <network>', 'copy the configuration of a network')
    .option('--ipam-driver <driver>', 'IPAM driver (default)')
    .option('--ipam-opt <key=value>', 'IPAM driver options', collect, [])
    .action(function (this: Command, name: string) {
      return withBackend(this, async (b, o) => {
        const body: NetworkCreateRequest = {
          Name: name, Driver: o.driver, Scope: o.scope ?? '', Internal: !!o.internal, Attachable: !!o.attachable, Ingress: !!o.ingress,
          ConfigOnly: !!o.configOnly, ConfigFrom: o.configFrom ? { Network: o.configFrom } : null,
          IPAM: { Driver: o.ipamDriver ?? 'default', Options: keyValues(o.ipamOpt, '--ipam-opt'), Config: ipamConfig(o as any) },
          Options: keyValues(o.opt, '--opt'), Labels: keyValues(o.label, '--label'),
          ...(o.ipv4 !== undefined ? { EnableIPv4: o.ipv4 } : {}),
          ...(o.ipv6 !== undefined ? { EnableIPv6: o.ipv6 } : {}),
        };
        networkCreateOptions(body, 'cli'); // refusals named by flag, before anything is asked
        const r = await b.createNetwork(body);
        if (o.json) write(JSON.stringify(r, null, 2) + '\n');
        else write(`${r.Id}\n`);
        if (r.Warning) process.stderr.write(`WARNING: ${r.Warning}\n`);
      });
    });

  common(n.command('ls').alias('list').description('List networks'))
    .option('-q, --quiet', 'only display network IDs')
    .option('-f, --filter <filter>', 'filter output (name=, id=, driver=, label=, type=custom|builtin, dangling=true, scope=)', collect, [])
    .option('--format <format>', "format output: table, json, or a Go template ('{{.Name}}', '{{json .}}')")
    .option('--no-trunc', 'do not truncate the output')
    .action(function (this: Command) {
      return withBackend(this, async (b, o) => {
        const filters = o.filter.length ? filtersFromPairs(o.filter) : undefined;
        // Sorted by name as docker's client sorts them (naturally: net2 before net10).
        const nets = (await b.listNetworks(filters)).sort((x: any, y: any) => naturalCompare(x.Name, y.Name));
        const noTrunc = o.trunc === false;
        if (o.json) return write(JSON.stringify(nets, null, 2) + '\n');
        const rows = nets.map((x: any) => networkRow(x, noTrunc));
        if (o.quiet) return write(rows.map((r) => `${r.ID}\n`).join(''));
        const labelOf = (r: unknown) => {
          const x = nets[rows.indexOf(r as Record<string, string>)];
          return { strict: true, methods: { Label: (k: unknown) => x?.Labels?.[String(k)] ?? '' } };
        };
        // (`--format table` alone: the default table, as docker prints it.)
        const format = o.format && o.format.trim() !== 'table' ? o.format : 'table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}';
        write(formatRows(format, rows, NETWORK_HEADERS, labelOf));
      });
    });

  common(n.command('inspect').description('Display detailed information on one or more networks').argument('<network...>'))
    .option('-f, --format <format>', 'format output with a Go template')
    .option('-v, --verbose', 'verbose output (the same for local networks)')
    .action(function (this: Command, refs: string[]) {
      return withBackend(this, async (b, o) => {
        const found: any[] = [];
        let failed: Error | undefined;
        for (const r of refs) {
          try { found.push(await b.inspectNetwork(r)); } catch (e: any) { failed ??= e; if (e.code !== 'ENOENT') throw e; process.stderr.write(`cnm: error: ${e.message}\n`); }
        }
        if (o.format) { const f = new Format(o.format); write(found.map((x) => f.render(x) + '\n').join('')); }
        else write(JSON.stringify(found, null, 4) + '\n');
        if (failed) throw Object.assign(failed, { reported: true });
      });
    });

  common(n.command('rm').alias('remove').description('Remove one or more networks').argument('<network...>'))
    .option('-f, --force', 'do not error if the network does not exist')
    .action(function (this: Command, refs: string[]) {
      return withBackend(this, async (b, o) => {
        let failed: Error | undefined;
        for (const r of refs) {
          try { await b.removeNetwork(r); if (!o.json) write(`${r}\n`); } catch (e: any) {
            if (o.force && e.code === 'ENOENT') continue;
            failed ??= e;
            process.stderr.write(`cnm: error: ${e.message}\n`);
          }
        }
        if (o.json) write(JSON.stringify(refs) + '\n');
        if (failed) throw Object.assign(failed, { reported: true });
      });
    });

  common(n.command('prune').description('Remove all unused networks'))
    .option('-f, --force', 'do not prompt for confirmation')
    .option('--filter <filter>', "filter (until=24h, label=KEY[=VALUE], label!=KEY)", collect, [])
    .action(function (this: Command) {
      return withBackend(this, async (b, o) => {
        if (!o.force && !(await confirm('WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] '))) return;
        const r = await b.pruneNetworks(o.filter.length ? filtersFromPairs(o.filter) : undefined);
        const names = r.NetworksDeleted ?? [];
        if (o.json) write(JSON.stringify(r) + '\n');
        else if (names.length) write(`Deleted Networks:\n${names.join('\n')}\n`);
      });
    });

  common(n.command('connect').description('Connect a sandbox to a network').argument('<network>').argument('<sandbox>'))
    .option('--ip <ip>', 'IPv4 address')
    .option('--ip6 <ip>', 'IPv6 address')
    .option('--alias <name>', 'network-scoped alias', collect, [])
    .option('--link <name:alias>', 'link to another container', collect, [])
    .option('--link-local-ip <ip>', 'link-local address', collect, [])
    .option('--driver-opt <key=value>', 'driver options for the endpoint', collect, [])
    .option('--gw-priority <n>', 'gateway priority')
    .action(function (this: Command, network: string, sandbox: string) {
      return withBackend(this, async (b, o) => {
        const ep: EndpointSettings = {
          IPAMConfig: { ...(o.ip ? { IPv4Address: o.ip } : {}), ...(o.ip6 ? { IPv6Address: o.ip6 } : {}), ...(o.linkLocalIp.length ? { LinkLocalIPs: o.linkLocalIp } : {}) },
          Links: o.link, Aliases: o.alias, DriverOpts: keyValues(o.driverOpt, '--driver-opt'),
        };
        if (o.gwPriority !== undefined) {
          if (!/^-?\d+$/.test(o.gwPriority)) throw new UsageError(`invalid argument "${o.gwPriority}" for "--gw-priority" flag: an integer expected`, 125, 'cnm network connect');
          ep.GwPriority = Number(o.gwPriority);
        }
        endpointOptions(sandbox, ep, 'EndpointConfig', 'cli');
        await b.connect(network, { Container: sandbox, EndpointConfig: ep });
        // Silent on success, as docker network connect; --json shows the endpoint made.
        const sb = await b.inspectSandbox(sandbox);
        warnNoResolver(b, sb);
        if (!o.json) return;
        const netId = (await b.inspectNetwork(network)).Id;
        write(JSON.stringify(sb.endpoints.find((x: any) => x.networkId === netId), null, 2) + '\n');
      });
    });

  common(n.command('disconnect').description('Disconnect a sandbox from a network').argument('<network>').argument('<sandbox>'))
    .option('-f, --force', 'force the sandbox to disconnect (also when it is gone)')
    .action(function (this: Command, network: string, sandbox: string) {
      return withBackend(this, (b, o) => b.disconnect(network, { Container: sandbox, Force: !!o.force }));
    });
}

function confirm(q: string): Promise<boolean> {
  return new Promise((resolve) => {
    const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
    rl.question(q, (a) => { rl.close(); resolve(/^y(es)?$/i.test(a.trim())); });
    rl.on('close', () => resolve(false));
  });
}

// ------------------------------------------------------------ sandbox, port

function sandboxCommands(program: Command): void {
  const s = group(program, 'sandbox', 'Manage sandboxes (network namespaces)');
  const nets = (x: any) => x.endpoints.map((e: any) => `${e.network}:${e.ipv4 ?? ''}`).join(',');
  const nsOf = (x: any) => x.netnsPath ?? (x.joinedTo ? `container:${x.joinedTo}` : 'host');

  common(s.command('ls').alias('list').description('List sandboxes'))
    .option('-q, --quiet', 'only display sandbox IDs')
    .option('--format <format>', 'format output: table, json, or a Go template')
    .option('--no-trunc', 'do not truncate the output')
    .action(function (this: Command) {
      return withBackend(this, async (b, o) => {
        const all = await b.listSandboxes();
        if (o.json) return write(JSON.stringify(all, null, 2) + '\n');
        const id = (x: any) => (o.trunc === false ? x.id : x.id.slice(0, 12));
        if (o.quiet) return write(all.map((x) => `${id(x)}\n`).join(''));
        if (o.format && o.format.trim() !== 'table') return write(formatRows(o.format, all, { id: 'SANDBOX ID', name: 'NAME', mode: 'MODE' }));
        write(table([['SANDBOX ID', 'NAME', 'MODE', 'NETNS', 'NETWORKS'], ...all.map((x) => [id(x), x.name, x.mode, nsOf(x), nets(x)])]));
      });
    });

  common(s.command('inspect').description('Display detailed information on one or more sandboxes').argument('<sandbox...>'))
    .option('-f, --format <format>', 'format output with a Go template')
    .action(function (this: Command, refs: string[]) {
      return withBackend(this, async (b, o) => {
        const found = [];
        for (const r of refs) found.push(await b.inspectSandbox(r));
        if (o.format) { const f = new Format(o.format); write(found.map((x) => f.render(x) + '\n').join('')); }
        else write(JSON.stringify(found, null, 4) + '\n');
      });
    });

  common(s.command('create').description('Create a sandbox (a network namespace), optionally on a network').argument('<id>'))
    .option('--name <name>', 'name (for DNS; default: the id)')
    .option('--hostname <name>', 'hostname')
    .option('--network <mode>', 'a network, host, none or container:SANDBOX')
    .option('--key <path|pid>', 'adopt an existing namespace (a path or a pid)')
    .action(function (this: Command, id: string) {
      return withBackend(this, async (b, o) => {
        const key = o.key === undefined ? undefined : /^\d+$/.test(o.key) ? Number(o.key) : o.key;
        const x = await b.createSandbox({ Id: id, ...(o.name ? { Name: o.name } : {}), ...(o.hostname ? { Hostname: o.hostname } : {}), ...(o.network ? { NetworkMode: o.network } : {}), ...(key !== undefined ? { Key: key } : {}) });
        write(o.json ? JSON.stringify(x, null, 2) + '\n' : `${x.id}\n`);
        warnNoResolver(b, x);
      });
    });

  common(s.command('rm').alias('remove').description('Remove one or more sandboxes (and their endpoints)').argument('<sandbox...>'))
    .option('-f, --force', 'do not error if the sandbox does not exist')
    .action(function (this: Command, refs: string[]) {
      return withBackend(this, async (b, o) => {
        let failed: Error | undefined;
        for (const r of refs) {
          try { await b.removeSandbox(r); if (!o.json) write(`${r}\n`); } catch (e: any) {
            if (o.force && e.code === 'ENOENT') continue;
            failed ??= e;
            process.stderr.write(`cnm: error: ${e.message}\n`);
          }
        }
        if (failed) throw Object.assign(failed, { reported: true });
      });
    });

  common(program.command('port').description("List a sandbox's published ports, like docker port").argument('<sandbox>').argument('[port]', 'PRIVATE_PORT[/PROTO]'))
    .action(function (this: Command, sandbox: string, port?: string) {
      return withBackend(this, async (b, o) => {
        // The filter is checked, and an unpublished port reported, by the library (as docker port says it).
        const ports = await b.sandboxPorts(sandbox, port);
        const hostAddr = (h: { HostIp: string; HostPort: string }) => hostAddress(h.HostIp, Number(h.HostPort));
        if (port !== undefined) {
          const list = Object.values(ports)[0] ?? [];
          return write(o.json ? JSON.stringify(list) + '\n' : list.map((h) => `${hostAddr(h)}\n`).join(''));
        }
        if (o.json) return write(JSON.stringify(ports, null, 2) + '\n');
        write(Object.entries(ports).flatMap(([k, list]) => list.map((h) => `${k} -> ${hostAddr(h)}\n`)).join(''));
      });
    });
}

// ------------------------------------------------------------ run, daemon

function runCommandDef(program: Command): void {
  common(program.command('run').description('Run a command in a new sandbox (no `--` needed: options end at the command)')
    .argument('<command>').argument('[args...]').passThroughOptions().helpOption('--help', 'display help for command'))
    .option('--net, --network <network>', 'a network, host, none or container:SANDBOX', 'bridge')
    .option('--alias, --network-alias <name>', 'network-scoped alias', collect, [])
    .option('--ip <ip>', 'IPv4 address')
    .option('--ip6 <ip>', 'IPv6 address')
    .option('--mac-address <mac>', 'MAC address')
    .option('-h, --hostname <name>', 'hostname')
    .option('--name <name>', 'sandbox id and name (default: random)')
    .option('--rm', 'remove the sandbox when the program exits (always so)')
    .option('-p, --publish <[ip:][hostPort:]port[/proto]>', 'publish a port', collect, [])
    .option('-P, --publish-all', 'publish every --expose port on a free host port')
    .option('--expose <port[-port][/proto]>', 'expose a port or a range', collect, [])
    .option('--dns <ip>', 'DNS server', collect, [])
    .option('--dns-search <domain>', 'DNS search domain', collect, [])
    .option('--dns-option <option>', 'resolv.conf option', collect, [])
    .option('--add-host <host:ip>', 'a line in /etc/hosts', collect, [])
    .option('--link <name:alias>', 'link to another container', collect, [])
    .action(function (this: Command, cmd: string, args: string[]) {
      const o = this.optsWithGlobals() as Common & RunOptions;
      return backendFor(o).then((b) => runCommand(b, o, [cmd, ...args], !!o.json)).then((code) => { process.exitCode = code; });
    });
}

function daemonCommandDef(program: Command): void {
  common(program.command('daemon').description("Serve Docker's Engine API (networks) and our sandbox API on a unix socket"))
    .option('--socket <path>', 'socket path (mode 0660)', DEFAULT_SOCKET)
    .option('--group <group>', 'group owning the socket (name or gid)')
    .option('--icc <bool>', 'inter-container communication on the default bridge, as dockerd --icc (false: only --link pairs)')
    .action(async function (this: Command) {
      const o = this.optsWithGlobals() as Common & { socket: string; group?: string; icc?: string };
      if (o.host) throw new UsageError('-H is for clients; the daemon listens on --socket', 125, 'cnm daemon');
      if (o.icc !== undefined && o.icc !== 'true' && o.icc !== 'false') throw new UsageError(`invalid argument "${o.icc}" for "--icc" flag: true or false`, 125, 'cnm daemon');
      if (!hasNetAdmin()) throw privilegeError();
      const icc = o.icc === undefined ? {} : { icc: o.icc === 'true' };
      const d = await Daemon.start({ socket: o.socket, group: o.group, controller: { stateDir: o.stateDir, ...icc } });
      // One JSON line on stderr, as the daemon's own log.
      const log = (level: string, msg: string, extra: object = {}) => process.stderr.write(JSON.stringify({ time: new Date().toISOString(), level, msg, ...extra }) + '\n');
      await new Promise<void>((resolve) => {
        const stop = (sig: NodeJS.Signals) => {
          log('info', 'shutting down', { signal: sig });
          d.close().then(resolve, (e) => { process.stderr.write(`cnm: error: ${e.message}\n`); process.exitCode = 1; resolve(); });
        };
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
        // As dockerd reloads on SIGHUP: what was removed behind it (a firewall
        // reload, `nft flush ruleset`, a deleted bridge) is put back.
        process.on('SIGHUP', () => {
          d.controller.reconcile().then((r) => log('info', 'reconciled', { signal: 'SIGHUP', ...r }), (e) => log('error', `reconcile failed: ${e.message}`, { signal: 'SIGHUP', code: e.code }));
        });
      });
    });
}

// ------------------------------------------------------------ main

export function buildProgram(): Command {
  const program = common(new Command('cnm'))
    .description("Docker's container networking (CNM) over netlink and nftables")
    .version(`cnm-netlink version ${VERSION}`, '-v, --version', 'print the version')
    .enablePositionalOptions()
    // Repeatable options start from []: no "(default: [])" in the help.
    .configureHelp({ optionDescription: (o) => `${o.description}${o.defaultValue !== undefined && !Array.isArray(o.defaultValue) && typeof o.defaultValue !== 'boolean' ? ` (default: ${JSON.stringify(o.defaultValue)})` : ''}` })
    .exitOverride()
    .showSuggestionAfterError(false)
    .allowExcessArguments(true);
  program.action(function (this: Command) {
    if (this.args.length) throw new UsageError(`unknown command: cnm ${this.args[0]}`, 1, 'cnm');
    write(this.helpInformation());
  });
  networkCommands(program);
  sandboxCommands(program);
  runCommandDef(program);
  daemonCommandDef(program);
  return program;
}

const pathOf = (c: Command): string => (c.parent ? `${pathOf(c.parent)} ${c.name()}` : c.name());

/** Runs the command line; resolves to the exit status. Errors are one line on stderr. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  let failedIn = 'cnm';
  // The command a parse error belongs to (for the help hint): the deepest one dispatched to.
  const walk = (c: Command) => {
    c.hook('preSubcommand', (_parent, sub) => { failedIn = pathOf(sub); });
    c.commands.forEach(walk);
  };
  program.configureOutput({ outputError: () => { /* printed as one line below */ }, writeOut: write, writeErr: (s) => process.stderr.write(s) });
  walk(program);
  process.exitCode = 0;
  try {
    await program.parseAsync(boolFlags(argv), { from: 'user' });
    return Number(process.exitCode ?? 0);
  } catch (e: any) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      const flagError = /Option|option|invalidArgument/.test(e.code);
      process.stderr.write(`cnm: ${e.message.replace(/^error: /, '')} (see '${failedIn} --help')\n`);
      return flagError ? 125 : 1;
    }
    if (e instanceof UsageError) {
      process.stderr.write(`cnm: ${e.message}${e.cmd ? ` (see '${e.cmd} --help')` : ''}\n`);
      return e.status;
    }
    if (!e?.reported) process.stderr.write(`cnm: error: ${oneLine(e)}\n`);
    // Docker's: 125 when the run could not start (and for what we cannot do yet), 126/127 for the program, else 1.
    if (e?.code === 'ENOTSUP') return 125;
    return typeof e?.exitStatus === 'number' ? e.exitStatus : 1;
  }
}

/**
 * Without a daemon nothing serves a sandbox's names once this command
 * exits (only `cnm run` serves them while its program runs): said, never left silent.
 */
function warnNoResolver(b: Backend, sb: { id: string; resolvConfPath?: string }): void {
  if (b.kind !== 'local' || !sb.resolvConfPath) return;
  let text = '';
  try { text = fs.readFileSync(sb.resolvConfPath, 'utf8'); } catch { return; }
  if (/^nameserver 127\.0\.0\.11$/m.test(text)) {
    process.stderr.write(`WARNING: no cnm daemon: nothing answers at 127.0.0.11 in sandbox ${sb.id} once this command exits (\`cnm daemon\` serves names, as does \`cnm run\` while its program runs)\n`);
  }
}

/** The error's whole message (Docker's can span lines: "invalid endpoint settings:" and its reasons), code appended. */
function oneLine(e: any): string {
  const msg = String(e?.message ?? e).trimEnd();
  return e?.code && typeof e.code === 'string' && !msg.includes(e.code) && !['EINVAL', 'ENOENT', 'ENOTSUP', 'EACCES', 'EPERM'].includes(e.code) ? `${msg} (${e.code})` : msg;
}

