import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { run, tcpGet } from './net-helpers';
import { eventually } from './helpers';

const CLI = path.join(__dirname, '..', 'src', 'cli.js');

describe('cnm CLI', function () {
  // Long: every step is a process, and the machine may be busy.
  this.timeout(120000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cnm-cli-'));
  const cnm = (...args: string[]) => run(process.execPath, [CLI, '--state-dir', dir, ...args]);
  const cnmLong = (...args: string[]) => run(process.execPath, [CLI, '--state-dir', dir, ...args], 55000);
  // `cnm --json ...` parsed; a failed command fails the test with its own message.
  const json = async (...args: string[]) => {
    const r = await cnm('--json', ...args);
    assert.strictEqual(r.code, 0, `cnm --json ${args.join(' ')}: ${r.err}`);
    return JSON.parse(r.out);
  };

  it('creates, lists, inspects and removes networks; errors are one line and non-zero', async () => {
    const c = await cnm('network', 'create', '--subnet', '10.88.0.0/24', '-o', 'com.docker.network.bridge.name=clibr0', 'clinet');
    assert.strictEqual(c.code, 0, c.err);
    assert.match(c.out.trim(), /^[0-9a-f]{64}$/);
    const nets = await json('network', 'ls');
    assert.ok(nets.some((n: any) => n.Name === 'clinet' && n.IPAM.Config[0].Subnet === '10.88.0.0/24'));
    const table = await cnm('network', 'ls');
    assert.match(table.out, /^NETWORK ID\s+NAME\s+DRIVER/);
    // `--format table` alone is the default table, as docker prints it.
    assert.strictEqual((await cnm('network', 'ls', '--format', 'table')).out, table.out);
    assert.strictEqual((await cnm('network', 'inspect', '-f', '{{range $k, $v := .Options}}{{$k}}={{$v}}{{"\\n"}}{{end}}', 'clinet')).out, 'com.docker.network.bridge.name=clibr0\n\n', 'a line per element, as docker');
    const insp = JSON.parse((await cnm('network', 'inspect', 'clinet')).out);
    assert.strictEqual(insp[0].Options['com.docker.network.bridge.name'], 'clibr0');
    const dup = await cnm('network', 'create', '--subnet', '10.88.0.0/25', 'other');
    assert.strictEqual(dup.code, 1);
    assert.strictEqual(dup.err.trim().split('\n').length, 1);
    assert.match(dup.err, /overlaps/);
    // Docker's statuses: 1 for an unknown command, 125 for a flag error.
    const usage = await cnm('network', 'frobnicate');
    assert.strictEqual(usage.code, 1);
    const run1 = await cnm('run', '--network', 'clinet', '--name', 'box1', '--', 'sh', '-c', 'ip -o -4 addr show dev eth0; getent hosts box1');
    assert.strictEqual(run1.code, 0, run1.err);
    assert.match(run1.out, /10\.88\.0\.2\/24/);
    assert.match(run1.out, /10\.88\.0\.2\s+box1/);
    // connect / disconnect a sandbox made by the library to a second network.
    const { Controller } = require('../src');
    const ctl = await Controller.open({ stateDir: dir });
    await ctl.createSandbox({ id: 'lonely' });
    await ctl.createNetwork({ name: 'second', subnet: '10.89.0.0/24' });
    await ctl.close();
    const con = await cnm('network', 'connect', '--ip', '10.89.0.50', '--alias', 'lon', 'second', 'lonely');
    assert.strictEqual(con.code, 0, con.err);
    assert.strictEqual(con.out, '', 'silent on success, as docker network connect');
    // No daemon: nothing will answer the sandbox's 127.0.0.11, and that is said.
    assert.match(con.err, /^WARNING: no cnm daemon: nothing answers at 127\.0\.0\.11 in sandbox lonely/m);
    // A reason on its own line is part of the message, as dockerd's "invalid endpoint settings:\n...".
    const settings = await cnm('network', 'connect', '--alias', 'x', 'bridge', 'lonely');
    assert.strictEqual(settings.code, 1);
    assert.match(settings.err, /invalid endpoint settings:\nnetwork-scoped alias is supported only for containers in user defined networks/);
    const sbs = await json('sandbox', 'ls');
    assert.deepStrictEqual(sbs.map((x: any) => [x.id, x.endpoints[0].ipv4]), [['lonely', '10.89.0.50']]);
    assert.strictEqual((await cnm('network', 'rm', 'second')).code, 1, 'in use');
    assert.strictEqual((await cnm('network', 'disconnect', 'second', 'lonely')).code, 0);
    assert.strictEqual((await cnm('network', 'disconnect', 'second', 'lonely')).code, 1);
    assert.strictEqual((await cnm('sandbox', 'rm', 'lonely')).code, 0);
    assert.strictEqual((await cnm('network', 'rm', 'second')).code, 0);
    // --network host: the program runs in the host's namespace.
    const onHost = await cnm('run', '--network', 'host', '--name', 'hosted', '--', 'readlink', '/proc/self/ns/net');
    assert.strictEqual(onHost.code, 0, onHost.err);
    assert.strictEqual(onHost.out.trim(), fs.readlinkSync('/proc/self/ns/net'));
    const exit3 = await cnm('run', '--network', 'clinet', '--', 'sh', '-c', 'exit 3');
    assert.strictEqual(exit3.code, 3);
    assert.strictEqual((await json('sandbox', 'ls')).length, 0);
    assert.strictEqual((await cnm('network', 'rm', 'clinet')).code, 0);
    assert.strictEqual((await cnm('network', 'rm', 'clinet')).code, 1);
  });

  it('two `cnm run` at once: the second reaches the first by name, other commands work meanwhile, both clean up', async () => {
    assert.strictEqual((await cnm('network', 'create', '--subnet', '10.87.0.0/24', 'pair')).code, 0);
    // The first serves until the second has asked (a file in the shared /tmp says so).
    const flag = path.join(dir, 'asked');
    // (Up to 50 s: the whole exchange must happen while it runs, on a slow machine too.)
    const first = cnmLong('run', '--network', 'pair', '--name', 'srv', '--', 'sh', '-c', `for i in $(seq 500); do [ -e ${flag} ] && exit 0; sleep 0.1; done; exit 9`);
    let firstExited = false;
    void first.then(() => { firstExited = true; });
    await eventually(async () => {
      const sbs = await json('sandbox', 'ls');
      assert.deepStrictEqual(sbs.map((x: any) => x.id), ['srv']);
    });
    assert.strictEqual((await cnm('network', 'create', '--subnet', '10.86.0.0/24', 'meanwhile')).code, 0);
    assert.ok(!firstExited, 'network create waited for the running program');
    const second = await cnm('run', '--network', 'pair', '--name', 'cli', '--', 'sh', '-c', `getent hosts srv; touch ${flag}`);
    assert.strictEqual(second.code, 0, second.err);
    assert.doesNotMatch(second.err, /warning/, 'both runs serve the network\'s names');
    assert.match(second.out, /10\.87\.0\.2\s+srv/);
    const firstDone = await first;
    assert.strictEqual(firstDone.code, 0, firstDone.err);
    assert.strictEqual((await json('sandbox', 'ls')).length, 0);
    // What another command made while the first ran survives the first's exit.
    assert.ok((await json('network', 'ls')).some((n: any) => (n.Name ?? n.name) === 'meanwhile'));
    assert.strictEqual((await cnm('network', 'rm', 'meanwhile')).code, 0);
    assert.strictEqual((await cnm('network', 'rm', 'pair')).code, 0);
  });

  it('run --link: the target under its alias in hosts, and the variables Docker sets, in the program', async () => {
    const { Controller } = require('../src');
    const ctl = await Controller.open({ stateDir: dir });
    const db = await ctl.createSandbox({ id: 'ldb' });
    await (await ctl.network('bridge').createEndpoint({ name: 'ldb', exposedPorts: ['5432'] })).join(db);
    const dbIp = db.inspect().endpoints[0].ipv4;
    await ctl.close();
    const r = await cnm('run', '--link', 'ldb:webdb', '--name', 'lweb', '--', 'sh', '-c', 'echo "$WEBDB_PORT_5432_TCP_ADDR $WEBDB_PORT $WEBDB_NAME"; getent hosts webdb');
    assert.strictEqual(r.code, 0, r.err);
    assert.strictEqual(r.out.split('\n')[0], `${dbIp} tcp://${dbIp}:5432 /lweb/webdb`);
    assert.match(r.out.split('\n')[1], new RegExp(`^${dbIp.replace(/\./g, '\\.')}\\s+webdb ldb ldb`));
    const bad = await cnm('run', '--link', 'nosuch:x', '--', 'true');
    assert.strictEqual(bad.code, 125);
    assert.match(bad.err, /nosuch/);
    assert.strictEqual((await cnm('sandbox', 'rm', 'ldb')).code, 0);
    assert.strictEqual((await json('sandbox', 'ls')).length, 0);
  });

  it('run -p publishes the port while the program runs: the host reaches it on localhost', async () => {
    assert.strictEqual((await cnm('network', 'create', '--subnet', '10.85.0.0/24', 'pub')).code, 0);
    const server = `const s = require('net').createServer((c) => { c.end('hi from web'); setTimeout(() => process.exit(0), 100); }); s.listen(80); setTimeout(() => process.exit(9), 50000);`;
    const web = cnmLong('run', '--network', 'pub', '-p', '18080:80', '--name', 'web', '--', process.execPath, '-e', server);
    let got = '';
    await eventually(async () => { got = await tcpGet(null, '127.0.0.1', 18080, 1000); });
    assert.strictEqual(got, 'hi from web');
    const done = await web;
    assert.strictEqual(done.code, 0, done.err);
    assert.match(done.err, /0\.0\.0\.0:18080->80\/tcp/);
    assert.strictEqual((await cnm('network', 'rm', 'pub')).code, 0);
  });

  it("Docker's conventions: --help everywhere, --version, flags anywhere, -q/--filter/--format/--no-trunc, one-line errors, statuses", async () => {
    for (const args of [[], ['network'], ['network', 'create'], ['network', 'ls'], ['sandbox', 'rm'], ['run'], ['port'], ['daemon']]) {
      const h = await cnm(...args, '--help');
      assert.strictEqual(h.code, 0, `${args.join(' ')} --help: ${h.err}`);
      assert.match(h.out, new RegExp(`^Usage: cnm ${args.join(' ')}`.trimEnd()), args.join(' '));
    }
    const v = await cnm('--version');
    assert.match(v.out, /^cnm-netlink version \d+\.\d+\.\d+\n$/);
    // A flag after the name is a flag, not a network called --json.
    const insp = await cnm('network', 'inspect', 'bridge', '--json');
    assert.strictEqual(insp.code, 0, insp.err);
    assert.strictEqual(JSON.parse(insp.out)[0].Name, 'bridge');
    const bogus = await cnm('network', 'ls', '--bogus');
    assert.strictEqual(bogus.code, 125);
    assert.deepStrictEqual(bogus.err.trim().split('\n').length, 1);
    assert.match(bogus.err, /unknown option '--bogus'.*cnm network ls --help/);
    assert.strictEqual((await cnm('network', 'create')).code, 1, 'a missing argument: 1, as docker');
    const q = (await cnm('network', 'ls', '-q')).out.trim().split('\n');
    assert.strictEqual(q.length, 3);
    assert.ok(q.every((x) => /^[0-9a-f]{12}$/.test(x)), q.join(','));
    const full = (await cnm('network', 'ls', '-q', '--no-trunc')).out.trim().split('\n');
    assert.ok(full.every((x, i) => /^[0-9a-f]{64}$/.test(x) && x.startsWith(q[i])));
    assert.strictEqual((await cnm('network', 'ls', '--filter', 'name=^bri', '--format', '{{.Name}} {{.Driver}}')).out, 'bridge bridge\n');
    assert.strictEqual((await cnm('network', 'ls', '--filter', 'type=builtin', '--filter', 'driver=null', '-q')).out.trim().length, 12);
    const lines = (await cnm('network', 'ls', '--format', '{{json .}}')).out.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepStrictEqual(Object.keys(lines[0]), ['CreatedAt', 'Driver', 'ID', 'IPv4', 'IPv6', 'Internal', 'Labels', 'Name', 'Scope']);
    const tbl = await cnm('network', 'ls', '--format', 'table {{.Name}}\t{{.Scope}}');
    assert.match(tbl.out, /^NAME {6}SCOPE\nbridge {4}local\n/);
    const badFilter = await cnm('network', 'ls', '--filter', 'colour=red');
    assert.strictEqual(badFilter.code, 1);
    assert.match(badFilter.err, /invalid filter 'colour'/);
    assert.strictEqual((await cnm('network', 'inspect', 'bridge', '-f', '{{range .IPAM.Config}}{{.Subnet}}{{end}}')).out, '172.17.0.0/16\n');
    assert.strictEqual((await cnm('network', 'rm', 'nosuch')).code, 1);
    assert.strictEqual((await cnm('network', 'rm', '-f', 'nosuch')).code, 0);
  });

  it('what the library cannot do yet is refused by name with 125, and nothing is made', async () => {
    const nets0 = (await cnm('network', 'ls', '-q')).out;
    for (const [args, re] of [
      [['network', 'create', '--config-only', 'x4'], /--config-only is not supported yet/],
      [['network', 'connect', '--link', 'a:b', 'bridge', 'nobody'], /network connect --link is not supported yet/],
      // Bool flags as the docker client's pflag takes them: --ipv4=false, and a value ParseBool refuses.
      [['network', 'create', '--ipv4=false', 'x5'], /--ipv4=false is not supported yet/],
      [['network', 'create', '--ipv6=maybe', 'x6'], /invalid argument "maybe" for "--ipv6" flag: strconv\.ParseBool/],
    ] as [string[], RegExp][]) {
      const r = await cnm(...args);
      assert.strictEqual(r.code, 125, `${args.join(' ')}: ${r.err}`);
      assert.strictEqual(r.err.trim().split('\n').length, 1, r.err);
      assert.match(r.err, re);
    }
    assert.strictEqual((await cnm('network', 'ls', '-q')).out, nets0);
    assert.strictEqual((await json('sandbox', 'ls')).length, 0);
  });

  it('network create: several --subnet of each family, with --gateway, --ip-range and --aux-address paired as docker pairs them', async () => {
    const nets0 = (await cnm('network', 'ls', '-q')).out;
    const c = await cnm('network', 'create', '--subnet', '10.84.0.0/29', '--subnet', '10.84.1.0/24', '--gateway', '10.84.1.254', '--ip-range', '10.84.1.128/25',
      '--aux-address', 'printer=10.84.0.6', '--ipv6', '--subnet', 'fd84::/64', '--gateway', 'fd84::1', '--ip-range', 'fd84::100/120', 'multi');
    assert.strictEqual(c.code, 0, c.err);
    const [n] = await json('network', 'inspect', 'multi');
    assert.deepStrictEqual(n.IPAM.Config, [
      // As given (dockerd shows no gateway it picked for a configured subnet; the bridge has it).
      { Subnet: '10.84.0.0/29', AuxiliaryAddresses: { printer: '10.84.0.6' } },
      { Subnet: '10.84.1.0/24', IPRange: '10.84.1.128/25', Gateway: '10.84.1.254' },
      { Subnet: 'fd84::/64', IPRange: 'fd84::100/120', Gateway: 'fd84::1' },
    ]);
    const nets1 = (await cnm('network', 'ls', '-q')).out;
    for (const [args, re] of [
      [['--subnet', 'fd85::/64', 'v6off'], /IPv6 has not been enabled/],
      [['--subnet', '10.85.8.0/24', '--aux-address', 'r=10.85.8.1', 'auxgw'], /is the gateway/],
      [['--subnet', '10.85.8.0/24', '--aux-address', 'r=10.85.8.5', '--aux-address', 'r=10.85.8.6', 'auxtwice'], /r given twice/],
      [['--subnet', '10.85.8.0/24', '--aux-address', 'r=10.85.9.5', 'auxout'], /no matching subnet for aux-address/],
      [['--subnet', '10.85.8.0/24', '--subnet', '10.85.8.128/25', 'overlap'], /overlaps/],
      [['--subnet', '10.85.8.0/33', 'badlen'], /^cnm: error: invalid CIDR address: 10\.85\.8\.0\/33$/m],
    ] as [string[], RegExp][]) {
      const r = await cnm('network', 'create', ...args);
      assert.strictEqual(r.code, 1, `${args.join(' ')}: ${r.err}`);
      assert.strictEqual(r.err.trim().split('\n').length, 1, r.err);
      assert.match(r.err, re);
    }
    assert.strictEqual((await cnm('network', 'ls', '-q')).out, nets1, 'nothing made by the refused ones');
    assert.strictEqual((await cnm('network', 'rm', 'multi')).code, 0);
    assert.strictEqual((await cnm('network', 'ls', '-q')).out, nets0);
  });

  it('run --dns, --dns-search, --dns-option, --add-host: the sandbox\'s resolv.conf and hosts; bad values are 125 and nothing is made', async () => {
    const r = await cnm('run', '--network', 'none', '--dns', '198.51.100.9', '--dns-search', 'svc.example', '--dns-option', 'ndots:2',
      '--add-host', 'db:10.0.0.5', 'cat', '/etc/resolv.conf', '/etc/hosts');
    assert.strictEqual(r.code, 0, r.err);
    for (const line of ['nameserver 198.51.100.9', 'search svc.example', 'options ndots:2', '10.0.0.5\tdb']) assert.ok(r.out.split('\n').includes(line), `${line} in ${r.out}`);
    const bad = await cnm('run', '--network', 'none', '--dns', '198.51.100.300', 'true');
    assert.strictEqual(bad.code, 125, bad.err);
    assert.match(bad.err, /dns/);
    // A bad -p too: the run never started (docker's 125).
    const badPort = await cnm('run', '--network', 'none', '-p', '99999:80', 'true');
    assert.deepStrictEqual([badPort.code, /invalid host port/.test(badPort.err)], [125, true], badPort.err);
    assert.strictEqual((await json('sandbox', 'ls')).length, 0);
  });

  it('run: no `--` needed, exit statuses 126/127/the program\'s, --network none and container:NAME, port like docker port', async () => {
    const ifaces = await cnm('run', '--network', 'none', 'sh', '-c', 'ip -o link show | cut -d: -f2; exit 7');
    assert.strictEqual(ifaces.code, 7, ifaces.err);
    assert.strictEqual(ifaces.out.trim(), 'lo');
    const missing = await cnm('run', '--network', 'none', 'no-such-program-here');
    assert.strictEqual(missing.code, 127);
    assert.match(missing.err, /executable file not found/);
    const plain = path.join(dir, 'not-executable');
    fs.writeFileSync(plain, 'echo hi\n', { mode: 0o644 });
    assert.strictEqual((await cnm('run', '--network', 'none', plain)).code, 126);
    assert.strictEqual((await cnm('run', '--network', 'nonet', 'true')).code, 125, 'our own failure: 125');
    assert.strictEqual((await cnm('network', 'create', '--ipv6', '--subnet', '10.83.0.0/24', '--subnet', 'fd00:83::/64', 'ports')).code, 0);
    assert.strictEqual((await cnm('sandbox', 'create', '--network', 'ports', 'holder')).code, 0);
    const shared = await cnm('run', '--network', 'container:holder', 'ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0');
    assert.strictEqual(shared.code, 0, shared.err);
    assert.match(shared.out, /10\.83\.0\.2\/24/);
    const flag = path.join(dir, 'ports-done');
    const web = cnmLong('run', '--network', 'ports', '--name', 'pweb', '-p', '18090:80', '-p', '127.0.0.1::81/udp', '-p', '0.0.0.0:18095-18096:95-96', '-P', '--expose', '7000', 'sh', '-c', `for i in $(seq 400); do [ -e ${flag} ] && exit 0; sleep 0.1; done; exit 9`);
    let lines: string[] = [];
    // A run that failed says why, instead of the port query's "not found".
    let exited: { code: number; err: string } | undefined;
    void web.then((r) => { exited = r; });
    await eventually(async () => {
      assert.strictEqual(exited, undefined, `cnm run exited early: ${exited?.code} ${exited?.err}`);
      const r = await cnm('port', 'pweb');
      assert.strictEqual(r.code, 0, r.err);
      lines = r.out.trim().split('\n');
    });
    // As docker port prints them: a default mapping on an IPv6 network on both families, [::] in brackets.
    assert.strictEqual(lines.length, 7, lines.join('|'));
    assert.deepStrictEqual(lines.slice(0, 2), ['80/tcp -> 0.0.0.0:18090', '80/tcp -> [::]:18090']);
    assert.match(lines[2], /^81\/udp -> 127\.0\.0\.1:\d+$/);
    assert.deepStrictEqual(lines.slice(3, 5), ['95/tcp -> 0.0.0.0:18095', '96/tcp -> 0.0.0.0:18096']);
    assert.match(lines[5], /^7000\/tcp -> 0\.0\.0\.0:(\d+)$/);
    assert.strictEqual(lines[6], lines[5].replace('0.0.0.0', '[::]'), 'one host port for both families');
    assert.strictEqual((await cnm('port', 'pweb', '80')).out, '0.0.0.0:18090\n[::]:18090\n');
    const unpublished = await cnm('port', 'pweb', '99');
    assert.strictEqual(unpublished.code, 1);
    assert.match(unpublished.err, /no public port '99\/tcp' published for sandbox pweb/);
    const badFilter = await cnm('port', 'pweb', '99/icmp');
    assert.strictEqual(badFilter.code, 1);
    assert.match(badFilter.err, /invalid port filter/);
    fs.writeFileSync(flag, '');
    assert.strictEqual((await web).code, 0);
    assert.strictEqual((await cnm('sandbox', 'rm', 'holder')).code, 0);
    const pruned = await cnm('network', 'prune', '-f');
    assert.strictEqual(pruned.out, 'Deleted Networks:\nports\n');
    assert.strictEqual((await json('sandbox', 'ls')).length, 0);
  });

  it('without the privileges, one line says so', async function () {
    const r = await run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, '--state-dir', path.join(os.tmpdir(), 'cnm-nopriv'), 'network', 'ls']);
    if (/setpriv:/.test(r.err)) { console.log(`      (skipped: setpriv cannot drop to nobody here: ${r.err.trim()})`); this.skip(); }
    assert.strictEqual(r.code, 1, r.err);
    assert.strictEqual(r.err, 'cnm: error: needs CAP_NET_ADMIN: run as root or inside a user namespace\n');
  });

  after(async () => {
    // Default bridge objects and state made by the CLI go too.
    const { Controller } = require('../src');
    const ctl = await Controller.open({ stateDir: dir });
    await ctl.destroy();
  });
});
