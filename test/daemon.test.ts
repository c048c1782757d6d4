// The daemon driven by clients no one here wrote: dockerode (npm) and the
// docker client binary, plus raw sockets for what a client would not send.
// The in-process daemon runs on this loop: every command is spawned async.
import * as assert from 'assert';
import { execFile, spawn, ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import Docker from 'dockerode';
import { Controller } from '../src';
import { EPHEMERAL } from '../src/cnm/ports';
import { Daemon, DaemonClient, DEFAULT_SOCKET } from '../src/daemon';
import { eventually } from './helpers';
import { mapping } from '../src/daemon';
import { matchPattern, parseFilters } from '../src/daemon/filters';
import { Format, goTime } from '../src/cli/format';
import { naturalCompare } from '../src/cli/program';

const execFileP = promisify(execFile);
const CLI = path.join(__dirname, '..', 'src', 'cli.js');
const DOCKER = ['/usr/local/bin/docker', '/usr/bin/docker'].find((p) => fs.existsSync(p));

async function sh(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string }> {
  try {
    const r = await execFileP(cmd, args, { env: { ...process.env, ...env }, timeout: 30000 });
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (e: any) {
    return { code: typeof e.code === 'number' ? e.code : 1, out: e.stdout ?? '', err: e.stderr ?? String(e) };
  }
}
const ipj = async (args: string[]) => { const r = await sh('ip', ['-j', ...args]); return r.out.trim() ? JSON.parse(r.out) : []; };
const linkNames = async () => (await ipj(['link', 'show'])).map((l: any) => l.ifname).sort();

/** A raw HTTP exchange on the socket: status and parsed body. */
function raw(socket: string, method: string, p: string, body?: string | Buffer, headers: Record<string, string | number> = {}): Promise<{ status: number; body: any; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: socket, method, path: p, headers: { ...(body !== undefined ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } : {}), ...headers } }, (res) => {
      let t = '';
      res.on('data', (c) => (t += c));
      res.on('end', () => { let b: any = t; try { b = JSON.parse(t); } catch { /* text */ } resolve({ status: res.statusCode!, body: b, headers: res.headers }); });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Resolves when the server closes the connection (with what it sent), or rejects after `ms`. */
function closedWithin(c: net.Socket, ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const t = setTimeout(() => { c.destroy(); reject(new Error(`connection still open after ${ms} ms`)); }, ms);
    c.on('data', (d) => (got += d));
    c.on('close', () => { clearTimeout(t); resolve(got); });
    c.on('error', () => { /* reset counts as closed */ });
  });
}

describe('cnm daemon', function () {
  this.timeout(90000);

  describe('the mapping, filters and formats (no kernel)', () => {
    it("maps Docker's create body to the library's options, refusing by name what it lacks", () => {
      assert.deepStrictEqual(mapping.networkCreateOptions({ Name: 'n', Driver: 'bridge', Scope: '', EnableIPv6: true, IPAM: { Driver: 'default', Options: {}, Config: [{ Subnet: 'fd00:1::/64', Gateway: 'fd00:1::1' }, { Subnet: '10.1.0.0/24', IPRange: '10.1.0.128/25', Gateway: '10.1.0.1' }] }, Internal: true, Attachable: false, Ingress: false, ConfigOnly: false, ConfigFrom: null, Options: { a: 'b' }, Labels: {} }),
        { name: 'n', driver: 'bridge', ipam: [{ subnet: 'fd00:1::/64', gateway: 'fd00:1::1' }, { subnet: '10.1.0.0/24', ipRange: '10.1.0.128/25', gateway: '10.1.0.1' }], ipv6: true, internal: true, options: { a: 'b' } });
      // Several subnets of a family, auxiliary addresses: each entry as given (Go's empty strings are absent).
      assert.deepStrictEqual(mapping.networkCreateOptions({ Name: 'n', IPAM: { Config: [{ Subnet: '10.1.0.0/24', Gateway: '', AuxiliaryAddresses: { r: '10.1.0.3' } }, { Subnet: '10.2.0.0/24', IPRange: '', AuxiliaryAddresses: null }] } }),
        { name: 'n', driver: 'bridge', ipam: [{ subnet: '10.1.0.0/24', auxAddresses: { r: '10.1.0.3' } }, { subnet: '10.2.0.0/24' }] });
      const refused = (b: unknown, re: RegExp, code: string) => assert.throws(() => mapping.networkCreateOptions(b), (e: any) => e.code === code && re.test(e.message));
      refused({ Name: 'n', IPAM: { Config: [{ IPRange: '10.1.0.0/25' }] } }, /Config\[0\]\.Subnet is required \(IPRange/, 'EINVAL');
      refused({ Name: 'n', Labels: { a: 1 } }, /Labels\.a must be a string/, 'ERR_INVALID_ARG_TYPE');
      refused({ Name: 'n', IPAM: { Config: [{ Subnet: '10.1.0.0' }] } }, /CIDR expected/, 'EINVAL');
      refused({ Name: 'n', Extra: 1 }, /unknown field Extra/, 'EINVAL');
      // Map keys are kept whatever they are ("__proto__" is a label like any other); field names match in any case.
      assert.deepStrictEqual(Object.entries(mapping.networkCreateOptions(JSON.parse('{"name": "n", "labels": {"__proto__": "v", "a": "b"}}')).labels!), [['__proto__', 'v'], ['a', 'b']]);
      refused(JSON.parse('{"Name": "n", "__proto__": {}}'), /unknown field __proto__/, 'EINVAL');
      refused({}, /Name is required/, 'EINVAL');
      assert.deepStrictEqual(mapping.endpointOptions('web', { IPAMConfig: { IPv4Address: '10.0.0.5' }, Aliases: ['www'], MacAddress: '02:00:00:00:00:05', Links: null, DriverOpts: {}, GwPriority: 0, NetworkID: '', IPPrefixLen: 0, DNSNames: null }),
        { name: 'web', ip: '10.0.0.5', aliases: ['www'], mac: '02:00:00:00:00:05' });
      assert.throws(() => mapping.endpointOptions('web', { IPAddress: '10.0.0.9' }), /set by the daemon/);
      assert.deepStrictEqual(mapping.portSpecs({ PortBindings: { '80/tcp': [{ HostIp: '', HostPort: '8080' }, { HostIp: '[::1]', HostPort: '' }], '53/udp': null, '90-91/tcp': [{ HostPort: '9090-9091' }] } }),
        [{ containerPort: 80, proto: 'tcp', hostPort: 8080 }, { containerPort: 80, proto: 'tcp', hostPort: 0, hostIp: '::1' }, { containerPort: 53, proto: 'udp', hostPort: 0 }, { containerPort: '90-91', proto: 'tcp', hostPort: '9090-9091' }]);
      // PublishAllPorts is the library's publishAll over the exposed ports (one code path with the library's callers).
      assert.deepStrictEqual(mapping.sandboxPlan({ Id: 'p', NetworkMode: 'n', PortBindings: { '80/tcp': [] }, PublishAllPorts: true, ExposedPorts: { '80/tcp': {}, '9000/tcp': {} } }).endpoint,
        { name: 'p', ports: [{ containerPort: 80, proto: 'tcp', hostPort: 0 }], exposedPorts: ['80/tcp', '9000/tcp'], publishAll: true });
      assert.throws(() => mapping.sandboxPlan({ Id: 'p', NetworkMode: 'n', ExposedPorts: { '80-81/tcp': {} } }), /ExposedPorts: invalid port "80-81\/tcp"/);
      assert.throws(() => mapping.sandboxPlan({ Id: 'p', PublishAllPorts: true, ExposedPorts: { '80/tcp': {} } }), /published ports need a network/);
      // Links: HostConfig's (also as container inspect shows them) and the endpoint's, all the sandbox's.
      const linked = mapping.sandboxPlan({ Id: 'w', NetworkMode: 'app', Links: ['/db:/w/webdb', 'cache'], EndpointConfig: { Links: ['cache', 'q:queue'] } });
      assert.deepStrictEqual(linked.sandbox.links, ['db:webdb', 'cache', 'q:queue']);
      assert.deepStrictEqual(linked.endpoint, { name: 'w' });
      assert.throws(() => mapping.sandboxPlan({ Id: 'w', Links: ['a:b:c'] }), (e: any) => e.code === 'EINVAL' && /bad format for links/.test(e.message));
    });

    it("the IPAM's errors get dockerd's statuses and words: address in use 403, none left 503, pools used up 400", () => {
      const { AddressInUseError, AddressesExhaustedError, PoolsExhaustedError } = require('../src/cnm/errors');
      const { statusOf, messageOf } = require('../src/daemon/errors');
      const cases: [Error, number, RegExp][] = [
        [new AddressInUseError('IP address 10.0.0.5 is already in use in 10.0.0.0/24'), 403, /^Address already in use: IP address/],
        [new AddressesExhaustedError('no free IPv4 address left on network n'), 503, /^no available addresses on this pool: /],
        [new PoolsExhaustedError('all address pools are used up'), 400, /^all predefined address pools have been fully subnetted: /],
      ];
      for (const [e, st, re] of cases) assert.deepStrictEqual([statusOf(e), re.test(messageOf(e)), (e as any).code === 'EADDRINUSE' || (e as any).code === 'ENOSPC'], [st, true, true], e.message);
      assert.deepStrictEqual([...parseFilters('null', ['name'])], []);
      assert.deepStrictEqual([...parseFilters('{"name":{"a":false}}', ['name'])], [['name', ['a']]]);
      assert.throws(() => parseFilters('{"name":{"a":"yes"}}', ['name']), /invalid filter 'name'/);
    });

    it('the daemon client refuses bad arguments by rejecting with a code, before anything is sent', async () => {
      const c = new DaemonClient('/nonexistent.sock');
      const cases: [() => Promise<unknown>, string][] = [
        [() => c.request('GET', 42 as any), 'ERR_INVALID_ARG_TYPE'],
        [() => c.request('GET', 'networks'), 'ERR_INVALID_ARG_TYPE'],
        [() => c.request('get', '/networks'), 'ERR_INVALID_ARG_TYPE'],
        [() => c.request('GET', '/networks', { bdy: 1 } as any), 'EINVAL'],
        [() => c.request('GET', '/networks', { query: 'abc' as any }), 'ERR_INVALID_ARG_TYPE'],
        [() => c.request('GET', '/networks', { query: { y: {} as any } }), 'ERR_INVALID_ARG_TYPE'],
        [() => c.request('GET', '/networks', { versioned: 'no' as any }), 'ERR_INVALID_ARG_TYPE'],
        [() => c.request('POST', '/networks/create', { body: 10n }), 'EINVAL'],
        [() => c.request('GET', '/networks', null as any), 'ERR_INVALID_ARG_TYPE'],
      ];
      for (const [f, code] of cases) {
        let p: Promise<unknown> | undefined;
        assert.doesNotThrow(() => { p = f(); }, 'rejects, never throws');
        await assert.rejects(p!, (e: any) => e.code === code, String(f));
      }
    });

    it("filters as Docker's (linear patterns only), formats as the docker client's", () => {
      assert.deepStrictEqual([...parseFilters('{"name":{"a":true},"label":["x=y"]}', ['name', 'label'])], [['name', ['a']], ['label', ['x=y']]]);
      assert.throws(() => parseFilters('{"nope":["a"]}', ['name']), /invalid filter 'nope'/);
      assert.ok(matchPattern('front', 'my-frontend') && matchPattern('^my', 'my-x') && !matchPattern('^y', 'my') && matchPattern('end$', 'frontend') && matchPattern('f.o', 'fxo') && matchPattern('^ab$', 'ab') && !matchPattern('^ab$', 'abc'));
      assert.throws(() => matchPattern('(a+)+$', 'aaaa'), /only literal text/);
      assert.strictEqual(goTime('2024-05-01T10:00:00.120Z'), '2024-05-01 10:00:00.12 +0000 UTC');
      assert.strictEqual(goTime('2024-05-01T10:00:00.000Z'), '2024-05-01 10:00:00 +0000 UTC');
      const v = { Name: 'n', Labels: { a: 'b' }, IPAM: { Config: [{ Subnet: 's1' }, { Subnet: 's2' }] }, Internal: false };
      assert.strictEqual(new Format('{{.Name}} {{json .Labels}} {{index .Labels "a"}} {{range .IPAM.Config}}[{{.Subnet}}]{{end}} {{if .Internal}}int{{else}}ext{{end}} {{.Name | upper}} {{len .IPAM.Config}}').render(v), 'n {"a":"b"} b [s1][s2] ext N 2');
      // Variables, with, printf, string literals with escapes, as Go's text/template.
      const w = { Name: 'n', Labels: { b: '2', a: '1' }, IPAM: { Driver: 'default', Config: [{ Subnet: 's1' }, { Subnet: 's2' }] } };
      assert.strictEqual(new Format('{{range $k, $v := .Labels}}{{$k}}={{$v}};{{end}}').render(w), 'a=1;b=2;');
      assert.strictEqual(new Format('{{range $i, $c := .IPAM.Config}}{{$i}}:{{$c.Subnet}} {{end}}').render(w), '0:s1 1:s2 ');
      assert.strictEqual(new Format('{{range $c := .IPAM.Config}}{{$c.Subnet}}{{end}}').render(w), 's1s2');
      assert.strictEqual(new Format('{{with .IPAM}}{{.Driver}}{{end}}|{{with .Nope}}x{{else}}none{{end}}|{{with $d := .IPAM.Driver}}{{$d}}{{end}}').render(w), 'default|none|default');
      assert.strictEqual(new Format('{{printf "%s-%d %q %5s|%-3s|%03d %%" .Name 3 .Name "ab" "c" 7}}').render(w), 'n-3 "n"    ab|c  |007 %');
      assert.strictEqual(new Format('{{.Name}}{{"\\n"}}x\\ty').render(w), 'n\nx\ty');
      assert.throws(() => new Format('{{$nope}}').render(w), /undefined variable "\$nope"/);
      // As Go: | inside a string is text, and a pipe needs no spaces; if and bare actions declare too; the else branch sees them.
      assert.strictEqual(new Format('{{printf "%s | %s" .Name .IPAM.Driver}} {{.Name|upper}}').render(w), 'n | default N');
      assert.strictEqual(new Format('{{if $x := .Name}}{{$x}}{{end}} {{$y := .IPAM.Driver}}{{$y}} {{with $v := .Nope}}x{{else}}[{{$v}}]{{end}}').render(w), 'n default [<no value>]');
      assert.strictEqual(new Format('{{if .Nope}}a{{else if .Name}}b{{else}}c{{end}}{{with .Nope}}x{{else with .IPAM}}{{.Driver}}{{end}}').render(w), 'bdefault');
      assert.strictEqual(new Format('{{with .IPAM}}{{$.Label "k"}}{{end}}').render(w, { methods: { Label: (k: unknown) => `L:${k}` } }), 'L:k');
      assert.strictEqual(new Format('{{"\\x41\\u0042"}}').render(w), 'AB');
      assert.strictEqual(new Format('{{.constructor}}').render(w), '<no value>');
      assert.strictEqual(new Format('{{printf "%9999999d" 1}}').render(w), '%!(BADWIDTH)');
      for (const bad of ['{{printf}}', '{{upper}}', '{{pad .Name -1 0}}', '{{"\\q"}}', '{{.Name | }}']) assert.throws(() => new Format(bad).render(w), (e: any) => e.code === 'EINVAL' && /^template: /.test(e.message), bad);
      assert.throws(() => new Format('{{.Name').render(v), /unclosed/);
      assert.throws(() => new Format('{{frob .Name}}').render(v), /not defined/);
      assert.deepStrictEqual(['net10', 'net2', 'bridge', 'net1'].sort(naturalCompare), ['bridge', 'net1', 'net2', 'net10']);
    });
  });

  describe('in this process, with dockerode and the docker client', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cnm-daemon-'));
    const socket = path.join(dir, 'cnm.sock');
    const stateDir = path.join(dir, 'state');
    const logs: any[] = [];
    let d: Daemon;
    const docker: any = new Docker({ socketPath: socket });
    const docker144: any = new Docker({ socketPath: socket, version: 'v1.44' });
    const client = () => new DaemonClient(socket);
    const dockerCli = (...args: string[]) => sh(DOCKER!, args, { DOCKER_HOST: `unix://${socket}` });
    const cnm = (...args: string[]) => sh(process.execPath, [CLI, '-H', `unix://${socket}`, ...args]);

    before(async () => {
      d = await Daemon.start({ socket, controller: { stateDir }, log: (e) => logs.push(e), headersTimeoutMs: 1000, requestTimeoutMs: 2000, maxBodyBytes: 64 * 1024 });
    });
    after(async () => {
      await d.stop();
      await d.controller.destroy();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('answers /_ping, /version and /info as dockerd does (version headers, negotiation, too old / too new)', async () => {
      assert.strictEqual(String(await docker.ping()), 'OK');
      const head = await raw(socket, 'HEAD', '/_ping');
      assert.strictEqual(head.status, 200);
      assert.strictEqual(head.headers['api-version'], '1.48');
      assert.strictEqual(head.headers['ostype'], 'linux');
      assert.strictEqual(head.headers['docker-experimental'], 'false');
      const v = await docker144.version();
      assert.strictEqual(v.ApiVersion, '1.48');
      assert.strictEqual((v as any).MinAPIVersion, '1.44');
      const info = await docker.info();
      assert.strictEqual(info.DockerRootDir, stateDir);
      assert.deepStrictEqual(info.Plugins.Network, ['bridge', 'host', 'macvlan', 'null', 'overlay']);
      const old = await raw(socket, 'GET', '/v1.43/networks');
      assert.strictEqual(old.status, 400);
      assert.match(old.body.message, /too old/);
      assert.strictEqual((await raw(socket, 'GET', '/v1.99/networks')).status, 400);
      assert.strictEqual((await raw(socket, 'GET', '/v1.48/containers/json')).status, 404);
      // One structured line per request.
      const last = logs.filter((l) => l.path === '/v1.48/containers/json');
      assert.strictEqual(last.length, 1);
      assert.strictEqual(last[0].status, 404);
      assert.strictEqual(typeof last[0].ms, 'number');
    });

    it('creates, lists (filters), inspects and removes networks through dockerode, with Docker\'s status codes', async () => {
      const n = await docker.createNetwork({ Name: 'dk1', CheckDuplicate: true, IPAM: { Driver: 'default', Config: [{ Subnet: '10.61.0.0/24', Gateway: '10.61.0.254' }] }, Labels: { tier: 'front' }, Options: { 'com.docker.network.bridge.name': 'dkbr1' } } as any);
      assert.match(n.id, /^[0-9a-f]{64}$/);
      const br = (await ipj(['addr', 'show', 'dev', 'dkbr1']))[0];
      assert.deepStrictEqual(br.addr_info.filter((a: any) => a.family === 'inet').map((a: any) => `${a.local}/${a.prefixlen}`), ['10.61.0.254/24']);
      await assert.rejects(docker.createNetwork({ Name: 'dk1' }), (e: any) => e.statusCode === 409 && /already exists/.test(e.json.message));
      await docker.createNetwork({ Name: 'dk2', Internal: true, Labels: { tier: 'back' } });
      const names = async (filters: Record<string, string[]>) => (await docker.listNetworks({ filters } as any)).map((x: any) => x.Name).sort();
      assert.deepStrictEqual(await names({ name: ['dk'] }), ['dk1', 'dk2']);
      assert.deepStrictEqual(await names({ name: ['^dk1$'] }), ['dk1']);
      assert.deepStrictEqual(await names({ label: ['tier=back'] }), ['dk2']);
      assert.deepStrictEqual(await names({ label: ['tier'] }), ['dk1', 'dk2']);
      assert.deepStrictEqual(await names({ type: ['builtin'] }), ['bridge', 'host', 'none']);
      assert.deepStrictEqual(await names({ type: ['custom'], dangling: ['true'] }), ['dk1', 'dk2']);
      assert.deepStrictEqual(await names({ driver: ['null'] }), ['none']);
      assert.deepStrictEqual(await names({ id: [n.id.slice(0, 10)] }), ['dk1']);
      await assert.rejects(docker.listNetworks({ filters: { bogus: ['x'] } } as any), (e: any) => e.statusCode === 400 && /invalid filter 'bogus'/.test(e.json.message));
      await assert.rejects(docker.listNetworks({ filters: { name: ['(a+)+$'] } } as any), (e: any) => e.statusCode === 400);
      // By id, name and id prefix; the list's smaller form has no Containers.
      const byName = await docker.getNetwork('dk1').inspect();
      assert.strictEqual(byName.Id, n.id);
      assert.deepStrictEqual(byName.IPAM.Config, [{ Subnet: '10.61.0.0/24', Gateway: '10.61.0.254' }]);
      assert.deepStrictEqual(byName.Labels, { tier: 'front' });
      assert.strictEqual((await docker.getNetwork(n.id.slice(0, 12)).inspect()).Name, 'dk1');
      await assert.rejects(docker.getNetwork('nope').inspect(), (e: any) => e.statusCode === 404);
      await assert.rejects(docker.getNetwork('bridge').remove(), (e: any) => e.statusCode === 403);
      await docker.getNetwork('dk1').remove();
      assert.deepStrictEqual((await ipj(['link', 'show'])).filter((l: any) => l.ifname === 'dkbr1'), []);
      await assert.rejects(docker.getNetwork('dk1').remove(), (e: any) => e.statusCode === 404);
      const pruned = await docker.pruneNetworks();
      assert.deepStrictEqual(pruned.NetworksDeleted, ['dk2']);
      assert.deepStrictEqual(await names({ type: ['custom'] }), []);
    });

    it('connects and disconnects one of our sandboxes (made over /cnm/sandboxes), with static IP and aliases that resolve', async () => {
      const net1 = await docker.createNetwork({ Name: 'dkc', IPAM: { Config: [{ Subnet: '10.62.0.0/24' }] } } as any);
      const a = await client().request('POST', '/cnm/sandboxes', { body: { Id: 'dka', NetworkMode: 'dkc' } });
      assert.strictEqual(a.endpoints[0].ipv4, '10.62.0.2');
      await client().request('POST', '/cnm/sandboxes', { body: { Id: 'dkb' } });
      await net1.connect({ Container: 'dkb', EndpointConfig: { IPAMConfig: { IPv4Address: '10.62.0.50' }, Aliases: ['db'] } });
      const insp = await net1.inspect();
      assert.deepStrictEqual(Object.values(insp.Containers).map((c: any) => [c.Name, c.IPv4Address]).sort(), [['dka', '10.62.0.2/24'], ['dkb', '10.62.0.50/24']]);
      const addrs = (await ipj(['-n', 'cnm-dkb', 'addr', 'show', 'dev', 'eth0']))[0].addr_info.filter((x: any) => x.family === 'inet').map((x: any) => x.local);
      assert.deepStrictEqual(addrs, ['10.62.0.50']);
      // The daemon's controller serves the names: the alias resolves from the other sandbox.
      const got = await sh('ip', ['netns', 'exec', 'cnm-dka', 'getent', 'hosts', 'db']);
      assert.match(got.out, /^10\.62\.0\.50\s+db/, got.err);
      await assert.rejects(net1.connect({ Container: 'dkb' }), (e: any) => e.statusCode === 403);
      await assert.rejects(net1.connect({ Container: 'nobody' }), (e: any) => e.statusCode === 404);
      await assert.rejects(net1.connect({ Container: 'dka', EndpointConfig: { Links: ['dkb:x'] } }), (e: any) => e.statusCode === 400 && /Links is not supported yet/.test(e.json.message));
      await assert.rejects(docker.getNetwork('dkc').remove(), (e: any) => e.statusCode === 403 && /^error while removing network: network dkc has active endpoints \(name:"dka" id:"[0-9a-f]{12}", name:"dkb" id:"[0-9a-f]{12}"\)$/.test(e.json.message));
      await net1.disconnect({ Container: 'dkb' });
      await assert.rejects(net1.disconnect({ Container: 'dkb' }), (e: any) => e.statusCode === 404);
      assert.deepStrictEqual((await ipj(['-n', 'cnm-dkb', 'link', 'show'])).map((l: any) => l.ifname), ['lo']);
      assert.strictEqual((await raw(socket, 'DELETE', '/cnm/sandboxes/dka')).status, 204);
      assert.strictEqual((await raw(socket, 'DELETE', '/cnm/sandboxes/dkb')).status, 204);
      assert.strictEqual((await raw(socket, 'GET', '/cnm/sandboxes/dka')).status, 404);
      await net1.remove();
    });

    it('refuses and answers as dockerd: pre-defined names, names in use, unknown drivers, overlaps, networks in use, static addresses and aliases where Docker takes none; id prefixes; label! prunes; inspect\'s maps in order', async function () {
      if (!DOCKER) { console.log('      (skipped: no docker client installed)'); this.skip(); }
      const err = async (...args: string[]) => { const r = await dockerCli(...args); assert.notStrictEqual(r.code, 0, `${args.join(' ')}: ${r.out}`); return r.err.trim(); };
      const status = (p: Promise<unknown>, code: number, re: RegExp) => assert.rejects(p, (e: any) => e.statusCode === code && re.test(e.json.message));
      for (const name of ['bridge', 'host', 'none', 'default']) {
        assert.strictEqual(await err('network', 'create', name), `Error response from daemon: operation is not permitted on predefined ${name} network`);
        await status(docker.createNetwork({ Name: name }), 403, new RegExp(`^operation is not permitted on predefined ${name} network $`));
      }
      await status(docker.createNetwork({ Name: 'dkx', Driver: 'weave' }), 404, /^plugin "weave" not found$/);
      await status(docker.createNetwork({ Name: 'dkx', Driver: 'host' }), 403, /^only one instance of "host" network is allowed$/);
      const auto = await docker.createNetwork({ Name: 'dkauto' });
      await status(docker.createNetwork({ Name: 'dkauto' }), 409, /^network with name dkauto already exists$/);
      const conf = await docker.createNetwork({ Name: 'dkconf', IPAM: { Config: [{ Subnet: '10.64.0.0/24' }] } } as any);
      await status(docker.createNetwork({ Name: 'dkover', IPAM: { Config: [{ Subnet: '10.64.0.0/25' }] } } as any), 403, /^invalid pool request: Pool overlaps with other one on this address space$/);
      // A configured subnet shows as configured (no gateway picked for it); a picked one with its gateway; EnableIPv4 everywhere; Options in order.
      assert.deepStrictEqual((await conf.inspect()).IPAM.Config, [{ Subnet: '10.64.0.0/24' }]);
      assert.deepStrictEqual(Object.keys((await auto.inspect()).IPAM.Config[0]), ['Subnet', 'Gateway']);
      assert.deepStrictEqual((await docker.getNetwork('bridge').inspect()).IPAM.Config, [{ Subnet: '172.17.0.0/16', Gateway: '172.17.0.1' }]);
      assert.deepStrictEqual([(await docker.getNetwork('host').inspect()).EnableIPv4, (await docker.getNetwork('none').inspect()).EnableIPv4], [true, true]);
      const opts = Object.keys((await docker.getNetwork('bridge').inspect()).Options);
      assert.deepStrictEqual(opts, [...opts].sort());
      // Any unique prefix of an id, as dockerd resolves it; not found as it words it.
      const others = (await docker.listNetworks()).map((x: any) => x.Id).filter((id: string) => id !== auto.id);
      const unique = [...Array(12).keys()].map((k) => auto.id.slice(0, k + 1)).find((p) => !others.some((id: string) => id.startsWith(p)))!;
      assert.ok(unique.length < 6, unique);
      assert.strictEqual((await docker.getNetwork(unique).inspect()).Id, auto.id);
      assert.strictEqual(await err('network', 'inspect', 'nosuchnet'), 'Error response from daemon: network nosuchnet not found');
      // Static addresses and aliases: not on the default bridge, not where the subnet was picked; on a configured one, yes.
      await client().request('POST', '/cnm/sandboxes', { body: { Id: 'dkst' } });
      assert.match(await err('network', 'connect', '--ip', '172.17.0.50', 'bridge', 'dkst'), /user specified IP address is supported on user defined networks only$/);
      assert.match(await err('network', 'connect', '--alias', 'x', 'bridge', 'dkst'), /network-scoped alias is supported only for containers in user defined networks$/);
      const autoSubnet = (await auto.inspect()).IPAM.Config[0].Subnet.replace(/0\/16$/, '50');
      assert.match(await err('network', 'connect', '--ip', autoSubnet, 'dkauto', 'dkst'), /invalid endpoint settings:\nuser specified IP address is supported only when connecting to networks with user configured subnets$/);
      assert.match(await err('network', 'connect', 'dkconf', 'nosuch'), /No such container: nosuch$/);
      assert.strictEqual((await dockerCli('network', 'connect', '--ip', '10.64.0.50', 'dkconf', 'dkst')).code, 0);
      assert.strictEqual((await ipj(['-n', 'cnm-dkst', 'addr', 'show', 'dev', 'eth0']))[0].addr_info.find((a: any) => a.family === 'inet').local, '10.64.0.50');
      // A host-mode sandbox stays on the host network.
      await client().request('POST', '/cnm/sandboxes', { body: { Id: 'dkhost', NetworkMode: 'host' } });
      await status(docker.getNetwork('host').disconnect({ Container: 'dkhost' }), 400, /^cannot disconnect container from host network - container was created in host network mode$/);
      // Network modes, as dockerd words its refusals.
      await status(docker.getNetwork('host').connect({ Container: 'dkst' }), 400, /^cannot connect container to host network - container must be created in host network mode$/);
      await status(conf.connect({ Container: 'dkhost' }), 400, /^container sharing network namespace with another container or host cannot be connected to any other network$/);
      await client().request('POST', '/cnm/sandboxes', { body: { Id: 'dknone', NetworkMode: 'none' } });
      await status(conf.connect({ Container: 'dknone' }), 400, /^container cannot be connected to multiple networks with one of the networks in private \(none\) mode$/);
      await status(docker.getNetwork('none').connect({ Container: 'dkst' }), 400, /private \(none\) mode$/);
      for (const id of ['dkst', 'dkhost', 'dknone']) assert.strictEqual((await raw(socket, 'DELETE', `/cnm/sandboxes/${id}`)).status, 204);
      // prune with label!: a network is kept only when every label! matches.
      await docker.createNetwork({ Name: 'dkl1', Labels: { a: '1' } });
      await docker.createNetwork({ Name: 'dkl2', Labels: { b: '2' } });
      await docker.createNetwork({ Name: 'dkl12', Labels: { a: '1', b: '2' } });
      const pruned = await raw(socket, 'POST', `/v1.48/networks/prune?filters=${encodeURIComponent(JSON.stringify({ 'label!': ['a', 'b'] }))}`);
      assert.deepStrictEqual([...pruned.body.NetworksDeleted].sort(), ['dkauto', 'dkconf', 'dkl1', 'dkl2']);
      const none = await raw(socket, 'POST', `/v1.48/networks/prune?filters=${encodeURIComponent(JSON.stringify({ label: ['zzz'] }))}`);
      assert.deepStrictEqual(none.body, { NetworksDeleted: null }, 'Go\'s nil when none went');
      await docker.getNetwork('dkl12').remove();
    });

    it('sandboxes over /cnm/sandboxes: ports like docker port, refusals with nothing made', async () => {
      await docker.createNetwork({ Name: 'dkp', IPAM: { Config: [{ Subnet: '10.63.0.0/24' }] } } as any);
      const s = await client().request('POST', '/cnm/sandboxes', { body: { Id: 'dkweb', NetworkMode: 'dkp', PortBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '18081' }], '90-91/tcp': [{ HostPort: '18090-18091' }] }, PublishAllPorts: true, ExposedPorts: { '80/tcp': {}, '53/udp': {} } } });
      assert.strictEqual(s.key, '/run/netns/cnm-dkweb');
      const ports = await client().request('GET', '/cnm/sandboxes/dkweb/ports');
      assert.deepStrictEqual(Object.keys(ports), ['53/udp', '80/tcp', '90/tcp', '91/tcp']);
      assert.deepStrictEqual(ports['80/tcp'], [{ HostIp: '127.0.0.1', HostPort: '18081' }]);
      assert.deepStrictEqual(ports['91/tcp'], [{ HostIp: '0.0.0.0', HostPort: '18091' }], 'a container range key, a port each');
      assert.ok(Number(ports['53/udp'][0].HostPort) >= EPHEMERAL[0], 'a free host port for the exposed one');
      // docker port's filter, from the library's sandbox.ports().
      assert.deepStrictEqual(await client().request('GET', '/cnm/sandboxes/dkweb/ports', { query: { port: '90' } }), { '90/tcp': [{ HostIp: '0.0.0.0', HostPort: '18090' }] });
      const unpublished = await raw(socket, 'GET', '/cnm/sandboxes/dkweb/ports?port=81');
      assert.deepStrictEqual([unpublished.status, unpublished.body.message], [404, "no public port '81/tcp' published for sandbox dkweb"]);
      assert.strictEqual((await raw(socket, 'GET', '/cnm/sandboxes/dkweb/ports?port=80%2Ficmp')).status, 400);
      const before = (await sh('ls', ['/run/netns'])).out;
      for (const [body, re] of [
        [{ Id: 'x1', NetworkMode: 'dkp', Dns: ['1.1.1.300'] }, /dns/],
        [{ Id: 'x2', NetworkMode: 'dkp', ExtraHosts: ['a:not-an-ip'] }, /extraHosts/],
        [{ Id: 'x3', NetworkMode: 'dkp', PortBindings: { '80-90/tcp': [{ HostPort: '8000-8005' }] } }, /different lengths/],
        [{ Id: 'x7', NetworkMode: 'dkp', PortBindings: { '65530-65540/tcp': [] } }, /invalid port 65540/],
        [{ Id: 'x4', NetworkMode: 'dkp', Hostname: 7 }, /Hostname must be a string/],
        [{ Id: 'x5', NetworkMode: 'nonet' }, /not found/],
        [{ Id: 'x6', NetworkMode: 'dkp', EndpointConfig: { IPAMConfig: { IPv4Address: '10.99.0.5' } } }, /./],
        [{ Id: 'dkweb' }, /exists/],
        [{ Id: 'x7', NetworkMode: 'dkp', Links: ['nosuch:x'] }, /could not get container for nosuch/],
        [{ Id: 'x8', NetworkMode: 'host', Links: ['dkweb'] }, /links cannot be used with host/],
        [{ Id: 'x9', NetworkMode: 'bridge', Links: ['dkweb:webdb'] }, /dkweb as webdb: it is not on the bridge network/],
      ] as [object, RegExp][]) {
        const r = await raw(socket, 'POST', '/cnm/sandboxes', JSON.stringify(body));
        assert.ok(r.status >= 400 && r.status < 500, `${JSON.stringify(body)}: ${r.status}`);
        assert.match(r.body.message, re);
      }
      assert.strictEqual((await sh('ls', ['/run/netns'])).out, before, 'no namespace left by a refused create');
      assert.deepStrictEqual((await client().request('GET', '/cnm/sandboxes')).map((x: any) => x.id), ['dkweb']);
      // Links (HostConfig.Links): the view carries the variables Docker sets for the program.
      const db = await client().request('POST', '/cnm/sandboxes', { body: { Id: 'dkdb', NetworkMode: 'bridge', ExposedPorts: { '5432/tcp': {} } } });
      const web = await client().request('POST', '/cnm/sandboxes', { body: { Id: 'dkapp', NetworkMode: 'bridge', Links: ['/dkdb:/dkapp/webdb'] } });
      const dbIp = db.endpoints[0].ipv4;
      assert.deepStrictEqual(web.links, [{ target: 'dkdb', alias: 'webdb' }]);
      assert.strictEqual(web.linkEnv.WEBDB_PORT_5432_TCP_ADDR, dbIp);
      assert.strictEqual(web.linkEnv.WEBDB_NAME, '/dkapp/webdb');
      assert.ok(fs.readFileSync(web.hostsPath, 'utf8').includes(`${dbIp}\twebdb dkdb dkdb\n`));
      for (const id of ['dkapp', 'dkdb', 'dkweb']) await client().request('DELETE', `/cnm/sandboxes/${id}`);
      await docker.getNetwork('dkp').remove();
    });

    it('bad input: malformed JSON, unknown fields, wrong types, big bodies, slow clients; nothing changes', async () => {
      // The last test's sandbox namespace takes its veth with it in the kernel's own time.
      await eventually(async () => assert.ok(!(await linkNames()).some((n: string) => n.startsWith('veth'))));
      const links0 = await linkNames();
      const nets0 = (await docker.listNetworks()).map((x: any) => x.Id).sort();
      const cases: [string, string, string | undefined, Record<string, string>, RegExp][] = [
        ['POST', '/networks/create', '{"Name": "bad1",', {}, /malformed JSON/],
        ['POST', '/networks/create', '{"Name": "bad2", "Bogus": true}', {}, /unknown field Bogus/],
        ['POST', '/networks/create', '{"Name": "bad3", "IPAM": {"Config": [{"Subnet": "10.64.0.0/24", "Gatway": "10.64.0.1"}]}}', {}, /unknown field IPAM\.Config\[0\]\.Gatway/],
        ['POST', '/networks/create', '{"Name": "bad4", "Internal": "yes"}', {}, /Internal must be a boolean/],
        ['POST', '/networks/create', '{"Name": "bad5", "Options": {"com.docker.network.driver.mtu": 1400}}', {}, /must be a string/],
        ['POST', '/networks/create', '{"Name": "bad6", "Attachable": true}', {}, /Attachable/],
        ['POST', '/networks/create', '{"Name": "bad7", "IPAM": {"Config": [{"Subnet": "10.65.0.0/24"}, {"Subnet": "10.65.0.128/25"}]}}', {}, /overlaps .* of the same network/],
        ['POST', '/networks/create', '{"Name": "bad8", "IPAM": {"Config": [{"Subnet": "10.67.0.0/24", "AuxiliaryAddresses": {"r": "10.67.0.1"}}]}}', {}, /auxiliary address "r" 10\.67\.0\.1 is the gateway/],
        ['POST', '/networks/create', '{"Name": "bad8b", "IPAM": {"Config": [{"Subnet": "fd67::/64"}]}}', {}, /IPv6 has not been enabled/],
        ['POST', '/networks/create', '[]', {}, /must be an object/],
        ['POST', '/networks/create', '{"Name": "bad9"}', { 'Content-Type': 'text/plain' }, /Content-Type/],
        ['POST', '/networks/create', undefined, {}, /body is required/],
        ['GET', '/networks/bridge?verbose=maybe', undefined, {}, /verbose must be a boolean/],
        ['GET', '/networks?filters=%7Bnope', undefined, {}, /not JSON/],
        ['GET', '/networks/%E0%A4%A', undefined, {}, /invalid URL escape/],
        ['POST', '/networks/create', '{"Name": "  "}', {}, /name is empty/],
        ['POST', '/networks/create', '{"Name": "bad10", "EnableIPv4": false}', {}, /EnableIPv4=false is not supported yet/],
      ];
      for (const [m, p, body, h, re] of cases) {
        const r = await raw(socket, m, p, body, h);
        assert.strictEqual(r.status, 400, `${m} ${p} ${body}: ${r.status} ${JSON.stringify(r.body)}`);
        assert.match(r.body.message, re);
      }
      // Over the size limit: a 400 and the connection closed, the rest not read.
      const big = JSON.stringify({ Name: 'big', Labels: { x: 'y'.repeat(100 * 1024) } });
      const r = await raw(socket, 'POST', '/networks/create', big).catch((e) => ({ status: 0, body: { message: String(e) } }));
      assert.ok(r.status === 400 || r.status === 0, `big body: ${r.status}`);
      // Headers never finished: closed after the header timeout; others are answered meanwhile.
      const slow = net.connect(socket);
      slow.write('GET /networks HTTP/1.1\r\nHost: x\r\n');
      const slowClosed = closedWithin(slow, 5000);
      assert.strictEqual((await raw(socket, 'GET', '/_ping')).status, 200);
      await slowClosed;
      // A body that never comes: 408 and closed.
      const slowBody = net.connect(socket);
      slowBody.write('POST /networks/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"Name":');
      assert.match(await closedWithin(slowBody, 6000), /^HTTP\/1\.1 408|^$/);
      // Garbage instead of HTTP.
      const junk = net.connect(socket);
      junk.write('\x00\x01\x02 not http\r\n\r\n');
      assert.match(await closedWithin(junk, 5000), /^HTTP\/1\.1 400|^$/);
      assert.deepStrictEqual((await docker.listNetworks()).map((x: any) => x.Id).sort(), nets0, 'no network made');
      assert.deepStrictEqual(await linkNames(), links0, 'no link made');
    });

    it('takes what dockerd takes: a body where none is read (dockerode\'s prune), field names in any case, any non-blank name (slashes too), Content-Type in any case, filters null or false, /networks/, EnableIPv4 before API 1.48; IPAM errors with dockerd\'s statuses', async () => {
      // dockerode sends a POST's options as query and body: the body is read and not looked at.
      assert.deepStrictEqual(await docker.pruneNetworks({ filters: { label: ['no-such-label'] } }), { NetworksDeleted: null });
      const listed = await raw(socket, 'GET', '/networks', '{}');
      assert.strictEqual(listed.status, 200);
      assert.ok(logs.some((l) => l.path === '/networks' && l.ignoredBody === 2), 'the ignored body is logged');
      const made: string[] = [];
      const create = async (body: string, h: Record<string, string> = {}, p = '/networks/create') => {
        const r = await raw(socket, 'POST', p, body, h);
        assert.strictEqual(r.status, 201, `${body}: ${r.status} ${JSON.stringify(r.body)}`);
        made.push(r.body.Id);
        return r.body.Id as string;
      };
      // Go's encoding/json matches field names without regard to case.
      const lower = await create('{"name": "lower", "driver": "bridge", "ipam": {"config": [{"subnet": "10.68.0.0/24"}]}}');
      assert.deepStrictEqual([(await docker.getNetwork(lower).inspect()).Name, (await docker.getNetwork(lower).inspect()).IPAM.Config[0].Subnet], ['lower', '10.68.0.0/24']);
      for (const name of ['_x', '.dot', 'a:b', '日本', 'f'.repeat(64)]) {
        const id = await create(JSON.stringify({ Name: name }));
        assert.strictEqual((await raw(socket, 'GET', `/networks/${encodeURIComponent(name)}`)).body.Id, id, name);
      }
      // A name with a slash: the path takes it whole, as dockerd's {id:.+}.
      await create('{"Name": "a/b"}');
      assert.strictEqual((await raw(socket, 'GET', '/networks/a/b')).body.Name, 'a/b');
      await create('{"Name": "ct"}', { 'Content-Type': 'Application/JSON; charset=utf-8' });
      assert.deepStrictEqual((await raw(socket, 'GET', '/networks?filters=null')).body.length, (await raw(socket, 'GET', '/networks/')).body.length);
      const byName = (await raw(socket, 'GET', `/networks?filters=${encodeURIComponent('{"name":{"lower":false}}')}`)).body.map((n: any) => n.Name);
      assert.deepStrictEqual(byName, ['lower']);
      // EnableIPv4 is no field before API 1.48: dropped, as dockerd does.
      const old = await create('{"Name": "old47", "EnableIPv4": false}', {}, '/v1.47/networks/create');
      assert.strictEqual((await docker.getNetwork(old).inspect()).IPAM.Config.length, 1);
      // IPAM errors: dockerd's statuses and words first.
      await create('{"Name": "tiny", "IPAM": {"Config": [{"Subnet": "10.69.0.0/30"}]}}');
      for (const id of ['ip1', 'ip2']) await client().request('POST', '/cnm/sandboxes', { body: { Id: id } });
      const tiny = docker.getNetwork('tiny');
      await tiny.connect({ Container: 'ip1', EndpointConfig: { IPAMConfig: { IPv4Address: '10.69.0.2' } } });
      await assert.rejects(tiny.connect({ Container: 'ip2', EndpointConfig: { IPAMConfig: { IPv4Address: '10.69.0.2' } } }), (e: any) => e.statusCode === 403 && /^Address already in use: /.test(e.json.message));
      await assert.rejects(tiny.connect({ Container: 'ip2' }), (e: any) => e.statusCode === 503 && /^no available addresses on this pool: /.test(e.json.message));
      for (const id of ['ip1', 'ip2']) assert.strictEqual((await raw(socket, 'DELETE', `/cnm/sandboxes/${id}`)).status, 204);
      for (const id of made) assert.strictEqual((await raw(socket, 'DELETE', `/networks/${id}`)).status, 204, id);
    });

    it('many clients at once are all answered; mutations one at a time, each network its own subnet', async () => {
      const N = 12;
      const creates = Array.from({ length: N }, (_, i) => docker.createNetwork({ Name: `par${i}` }));
      const reads = Array.from({ length: 60 }, (_, i) => (i % 3 === 0 ? docker.ping() : i % 3 === 1 ? docker.listNetworks() : raw(socket, 'GET', '/networks/bridge')));
      const [made] = await Promise.all([Promise.all(creates), Promise.all(reads)]);
      assert.strictEqual(made.length, N);
      const subnets = await Promise.all(made.map(async (n) => (await n.inspect()).IPAM.Config[0].Subnet));
      assert.strictEqual(new Set(subnets).size, N, `distinct subnets: ${subnets}`);
      // A burst of the same name: exactly one wins, the rest get 409.
      const dup = await Promise.allSettled(Array.from({ length: 5 }, () => docker.createNetwork({ Name: 'same' })));
      assert.strictEqual(dup.filter((x) => x.status === 'fulfilled').length, 1);
      assert.ok(dup.every((x) => x.status === 'fulfilled' || (x.reason as any).statusCode === 409));
      await Promise.all([...made, docker.getNetwork('same')].map((n) => n.remove()));
      assert.deepStrictEqual((await docker.listNetworks({ filters: { type: ['custom'] } } as any)).length, 0);
    });

    it('the docker client: create, ls (-q, --filter, --format), inspect, connect, disconnect, rm, prune; outputs as the cnm CLI prints them', async function () {
      if (!DOCKER) { console.log('      (skipped: no docker client installed)'); this.skip(); }
      const c = await dockerCli('network', 'create', '--subnet', '10.68.0.0/24', '--gateway', '10.68.0.1', '--ip-range', '10.68.0.128/25', '--label', 'app=shop', '-o', 'com.docker.network.driver.mtu=1400', 'dshop');
      assert.strictEqual(c.code, 0, c.err);
      const id = c.out.trim();
      assert.match(id, /^[0-9a-f]{64}$/);
      const dup = await dockerCli('network', 'create', 'dshop');
      assert.strictEqual(dup.code, 1);
      assert.match(dup.err, /Error response from daemon: network with name dshop already exists/);
      const q = await dockerCli('network', 'ls', '-q', '--filter', 'label=app=shop');
      assert.strictEqual(q.out, `${id.slice(0, 12)}\n`);
      const qn = await dockerCli('network', 'ls', '-q', '--no-trunc', '--filter', 'name=dshop');
      assert.strictEqual(qn.out, `${id}\n`);
      // Same lines from docker and from our CLI (both format the same API answer).
      for (const args of [['--format', '{{json .}}'], ['--format', 'table {{.Name}}\t{{.Driver}}\t{{.Label "app"}}'], [], ['--no-trunc'], ['--format', '{{.ID}} {{.Name}} {{.Internal}} {{.IPv6}}']]) {
        const dk = await dockerCli('network', 'ls', '--filter', 'name=dshop', ...args);
        const ours = await cnm('network', 'ls', '--filter', 'name=dshop', ...args);
        assert.strictEqual(dk.code, 0, dk.err);
        assert.strictEqual(ours.out, dk.out, `network ls ${args.join(' ')}`);
      }
      const j = JSON.parse((await dockerCli('network', 'ls', '--filter', 'name=dshop', '--format', '{{json .}}')).out);
      assert.deepStrictEqual({ ...j, CreatedAt: undefined }, { CreatedAt: undefined, Driver: 'bridge', ID: id.slice(0, 12), IPv4: 'true', IPv6: 'false', Internal: 'false', Labels: 'app=shop', Name: 'dshop', Scope: 'local' });
      const full = await dockerCli('network', 'ls');
      assert.match(full.out, /^NETWORK ID     NAME      DRIVER    SCOPE\n/);
      const dinsp = await dockerCli('network', 'inspect', 'dshop');
      assert.strictEqual(dinsp.code, 0, dinsp.err);
      assert.strictEqual((await cnm('network', 'inspect', 'dshop')).out, dinsp.out, 'inspect: the same JSON, byte for byte');
      const insp = JSON.parse(dinsp.out)[0];
      assert.deepStrictEqual(insp.IPAM.Config, [{ Subnet: '10.68.0.0/24', Gateway: '10.68.0.1', IPRange: '10.68.0.128/25' }]);
      assert.strictEqual(insp.Options['com.docker.network.driver.mtu'], '1400');
      assert.strictEqual((await dockerCli('network', 'inspect', '--format', '{{.Name}} {{.Internal}} {{index .Labels "app"}}', 'dshop')).out, 'dshop false shop\n');
      // connect / disconnect a sandbox by name.
      assert.strictEqual((await cnm('sandbox', 'create', 'dbox')).code, 0);
      const con = await dockerCli('network', 'connect', '--alias', 'shopdb', 'dshop', 'dbox');
      assert.strictEqual(con.code, 0, con.err);
      const members = JSON.parse((await dockerCli('network', 'inspect', '--format', '{{json .Containers}}', 'dshop')).out);
      assert.deepStrictEqual(Object.values(members).map((m: any) => [m.Name, m.IPv4Address]), [['dbox', '10.68.0.128/24']]);
      const linked = await dockerCli('network', 'connect', '--link', 'a:b', 'dshop', 'dbox');
      assert.strictEqual(linked.code, 1);
      assert.match(linked.err, /Links is not supported yet/);
      const inUse = await dockerCli('network', 'rm', 'dshop');
      assert.strictEqual(inUse.code, 1);
      assert.match(inUse.err, /active endpoints/);
      assert.strictEqual((await dockerCli('network', 'disconnect', 'dshop', 'dbox')).code, 0);
      const notThere = await dockerCli('network', 'disconnect', 'dshop', 'dbox');
      assert.strictEqual(notThere.code, 1);
      assert.match(notThere.err, /is not connected/);
      assert.strictEqual((await cnm('sandbox', 'rm', 'dbox')).code, 0);
      const rm = await dockerCli('network', 'rm', 'dshop');
      assert.strictEqual(rm.out, 'dshop\n', rm.err);
      const gone = await dockerCli('network', 'rm', 'dshop');
      assert.strictEqual(gone.code, 1);
      assert.match(gone.err, /not found/);
      assert.strictEqual((await dockerCli('network', 'rm', '-f', 'dshop')).code, 0, 'rm -f of a missing one');
      // prune with a label filter leaves the others.
      for (const [name, label] of [['dp1', 'keep=no'], ['dp2', 'keep=yes']]) assert.strictEqual((await dockerCli('network', 'create', '--label', label, name)).code, 0);
      const pr = await dockerCli('network', 'prune', '-f', '--filter', 'label=keep=no');
      assert.strictEqual(pr.out, 'Deleted Networks:\ndp1\n\n');
      const left = await dockerCli('network', 'ls', '--format', '{{.Name}}', '--filter', 'type=custom');
      assert.strictEqual(left.out, 'dp2\n');
      assert.strictEqual((await dockerCli('network', 'prune', '-f')).code, 0);
      assert.strictEqual((await dockerCli('network', 'ls', '-q', '--filter', 'type=custom')).out, '');
    });
  });

  describe('as `cnm daemon` (a child process) on the default socket', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cnm-daemon2-'));
    const stateDir = path.join(dir, 'state');
    let child: ChildProcess | undefined;
    let log = '';
    const group = fs.readFileSync('/etc/group', 'utf8').split('\n').map((l) => l.split(':')).find((g) => g[0] === 'daemon' || g[2] === '1');

    async function start(): Promise<void> {
      log = '';
      child = spawn(process.execPath, [CLI, 'daemon', '--state-dir', stateDir, ...(group ? ['--group', group[0]] : [])], { stdio: ['ignore', 'ignore', 'pipe'] });
      child.stderr!.on('data', (c) => (log += c));
      await eventually(() => assert.match(log, /"msg":"listening"/), 20000);
    }
    async function stop(sig: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
      const c = child!;
      child = undefined;
      const code = new Promise<number | null>((resolve) => c.once('exit', (x) => resolve(x)));
      c.kill(sig);
      return code;
    }
    const cnm = (...args: string[]) => sh(process.execPath, [CLI, ...args]);

    before(function () {
      // The isolated namespace has its own /run/cnm-netlink (scripts/isolated.sh); anywhere else, leave the real one alone.
      if (process.env.CNM_ISOLATED !== '1') { console.log('      (skipped: needs the isolated namespace of npm test)'); this.skip(); }
    });
    after(async () => {
      if (child) await stop();
      if (fs.existsSync(stateDir)) await (await Controller.open({ stateDir })).destroy();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('socket mode 0660 (group settable); the CLI uses the daemon; SIGTERM keeps state and kernel objects; a restart restores them', async () => {
      await start();
      const st = fs.statSync(DEFAULT_SOCKET);
      assert.strictEqual(st.mode & 0o777, 0o660);
      assert.strictEqual(st.uid, 0);
      if (group) assert.strictEqual(st.gid, Number(group[2]));
      // The CLI finds the daemon (same state directory) and works through it, while the daemon holds the state.
      const c = await cnm('--state-dir', stateDir, 'network', 'create', '--subnet', '10.69.0.0/24', '-o', 'com.docker.network.bridge.name=dmnbr', 'dmn');
      assert.strictEqual(c.code, 0, c.err);
      assert.match(log, /"method":"POST","path":"\/v1\.48\/networks\/create","status":201/);
      const ls = await cnm('network', 'ls', '--format', '{{.Name}}', '--filter', 'name=dmn');
      assert.strictEqual(ls.out, 'dmn\n', ls.err);
      // Names resolve while the daemon runs, with no `cnm run` around: the daemon's controller serves them.
      assert.strictEqual((await cnm('sandbox', 'create', '--network', 'dmn', 'dm1')).code, 0);
      assert.strictEqual((await cnm('sandbox', 'create', '--network', 'dmn', 'dm2')).code, 0);
      const got = await sh('ip', ['netns', 'exec', 'cnm-dm2', 'getent', 'hosts', 'dm1']);
      assert.match(got.out, /^10\.69\.0\.2\s+dm1/, got.err);
      // `cnm run` through the daemon: the sandbox is the daemon's while the program runs, and goes after.
      const r = await cnm('run', '--network', 'dmn', '--name', 'dmrun', 'sh', '-c', 'getent hosts dm1; exit 4');
      assert.strictEqual(r.code, 4, r.err);
      assert.match(r.out, /^10\.69\.0\.2\s+dm1/);
      assert.match(log, /"method":"POST","path":"\/v1\.48\/cnm\/sandboxes","status":201/);
      assert.match(log, /"method":"DELETE","path":"\/v1\.48\/cnm\/sandboxes\/dmrun","status":204/);
      // A second daemon on the same socket is refused and changes nothing.
      const second = await cnm('daemon', '--state-dir', path.join(dir, 'other'));
      assert.strictEqual(second.code, 1);
      assert.match(second.err, /another daemon is listening/);
      assert.strictEqual(await stop('SIGTERM'), 0);
      assert.match(log, /"msg":"stopped"/);
      assert.ok(!fs.existsSync(DEFAULT_SOCKET), 'socket removed');
      // Kernel objects stay (as dockerd with live-restore): the bridge and the sandboxes' namespaces.
      assert.strictEqual((await ipj(['link', 'show', 'dev', 'dmnbr'])).length, 1);
      assert.ok(fs.existsSync('/run/netns/cnm-dm1'));
      await start();
      assert.deepStrictEqual((await cnm('sandbox', 'ls', '-q')).out.split('\n').filter(Boolean).sort(), ['dm1', 'dm2']);
      const again = await sh('ip', ['netns', 'exec', 'cnm-dm2', 'getent', 'hosts', 'dm1']);
      assert.match(again.out, /^10\.69\.0\.2\s+dm1/, again.err);
      // SIGHUP, as dockerd's reload: tables flushed behind the daemon come back (the network's chains too).
      const ours = async () => JSON.parse((await sh('nft', ['-j', 'list', 'ruleset'])).out).nftables.filter((x: any) => x.chain?.table === 'cnm-netlink').map((x: any) => x.chain.name).sort();
      const chains = await ours();
      assert.ok(chains.some((c: string) => c.startsWith('in-')), chains.join());
      assert.strictEqual((await sh('nft', ['flush', 'ruleset'])).code, 0);
      assert.deepStrictEqual(await ours(), []);
      child!.kill('SIGHUP');
      await eventually(() => assert.match(log, /"msg":"reconciled","signal":"SIGHUP"/));
      assert.deepStrictEqual(await ours(), chains);
      assert.strictEqual((await cnm('sandbox', 'rm', 'dm1', 'dm2')).code, 0);
      assert.strictEqual((await cnm('network', 'rm', 'dmn')).code, 0);
      assert.strictEqual(await stop('SIGINT'), 0);
    });
  });
});
