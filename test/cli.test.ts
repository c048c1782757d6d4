import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { run, tcpGet } from './net-helpers';
import { eventually } from './helpers';

const CLI = path.join(__dirname, '..', 'src', 'cli.js');

describe('cnm CLI', function () {
  this.timeout(60000);
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
    assert.ok(nets.some((n: any) => n.Name === 'clinet' && n.Subnet === '10.88.0.0/24'));
    const table = await cnm('network', 'ls');
    assert.match(table.out, /^NETWORK ID\s+NAME\s+DRIVER/);
    const insp = JSON.parse((await cnm('network', 'inspect', 'clinet')).out);
    assert.strictEqual(insp[0].Options['com.docker.network.bridge.name'], 'clibr0');
    const dup = await cnm('network', 'create', '--subnet', '10.88.0.0/25', 'other');
    assert.strictEqual(dup.code, 1);
    assert.strictEqual(dup.err.trim().split('\n').length, 1);
    assert.match(dup.err, /overlaps/);
    const usage = await cnm('network', 'frobnicate');
    assert.strictEqual(usage.code, 2);
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
    assert.match(con.out, /eth0 10\.89\.0\.50/);
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

  after(async () => {
    // Default bridge objects and state made by the CLI go too.
    const { Controller } = require('../src');
    const ctl = await Controller.open({ stateDir: dir });
    await ctl.destroy();
  });
});
