import * as assert from 'assert';
import * as fs from 'fs';
import { spawn } from 'child_process';
import { Netns, Nft, Rtnl, NetlinkError, ValidationError } from '../src';
import { netnsHeldElsewhere } from '../src/netns';
import { eventually, ip, ipj, rejects, sh, uniq } from './helpers';

describe('netns', () => {
  it('creates a named namespace that ip netns sees, and deletes it', async () => {
    const name = uniq('ns');
    const ns = await Netns.create(name);
    try {
      assert.ok(Netns.list().includes(name));
      assert.ok(sh('ip', ['netns', 'list']).split('\n').some((l) => l.split(' ')[0] === name));
      // `ip -n` works in it: our namespace is a real pinned one.
      ip(['link', 'set', 'lo', 'up'], name);
      const rt = await Rtnl.open({ netns: ns });
      const lo = await rt.link.get('lo');
      assert.strictEqual(lo.up, true);
      rt.close();
    } finally {
      await ns.delete();
    }
    assert.ok(!Netns.list().includes(name));
    assert.ok(!sh('ip', ['netns', 'list']).includes(name));
  });

  it('deletions asked for in one tick go together; one that fails fails alone', async () => {
    const names = Array.from({ length: 12 }, () => uniq('nsb'));
    for (const n of names) (await Netns.create(n)).close();
    // Not a namespace: a directory where a pin would be (unlink gives EISDIR).
    const odd = uniq('nsdir');
    fs.mkdirSync(`/run/netns/${odd}`);
    try {
      const out = await Promise.allSettled([...names, odd].map((n) => Netns.delete(n)));
      assert.deepStrictEqual(out.slice(0, -1).map((r) => r.status), names.map(() => 'fulfilled'));
      const bad = out[out.length - 1] as PromiseRejectedResult;
      assert.strictEqual(bad.status, 'rejected');
      assert.strictEqual(bad.reason.code, 'EISDIR');
      assert.match(bad.reason.message, new RegExp(odd));
      const left = sh('ip', ['netns', 'list']);
      for (const n of names) assert.ok(!left.includes(n), `${n} still listed`);
    } finally {
      fs.rmSync(`/run/netns/${odd}`, { recursive: true, force: true });
    }
  });

  it('knows what else holds a namespace: a process inside, an open fd (also one opened by its path), another bind mount; asked together, one walk', async () => {
    const names = [uniq('held'), uniq('held'), uniq('held'), uniq('held'), uniq('held')];
    for (const n of names) (await Netns.create(n)).close();
    const [free, byFd, byPath, byProc, byMount] = names.map((n) => `/run/netns/${n}`);
    const handle = await Netns.open(names[1]);
    const fd = fs.openSync(byPath, 'r');
    const proc = spawn('ip', ['netns', 'exec', names[3], 'sleep', '30'], { stdio: 'ignore' });
    const other = fs.mkdtempSync('/tmp/held-');
    const at = `${other}/ns`;
    fs.writeFileSync(at, '');
    sh('mount', ['--bind', byMount, at]);
    try {
      await eventually(() => netnsHeldElsewhere(byProc).then((h) => assert.ok(h, 'the process inside')));
      const answers = await Promise.all([free, byFd, byPath, byProc, byMount].map((p) => netnsHeldElsewhere(p)));
      assert.deepStrictEqual(answers, [false, true, true, true, true]);
    } finally {
      sh('umount', [at]);
      fs.rmSync(other, { recursive: true, force: true });
      proc.kill();
      fs.closeSync(fd);
      handle.close();
      await new Promise((r) => proc.once('exit', r));
      for (const n of names) await Netns.delete(n);
    }
    assert.deepStrictEqual(await Promise.all([free, byFd].map((p) => netnsHeldElsewhere(p))), [false, false], 'gone: not held');
  });

  it('opens a namespace made by ip netns add, by name, path and pid identity', async () => {
    const name = uniq('ipns');
    sh('ip', ['netns', 'add', name]);
    try {
      const a = await Netns.open(name);
      const b = await Netns.open({ path: `/run/netns/${name}` });
      const here = Netns.current();
      const self = await Netns.open({ pid: process.pid });
      assert.ok(a.equals(b));
      assert.ok(!a.equals(here));
      assert.ok(self.equals(here));
      a.close(); b.close(); here.close(); self.close();
    } finally {
      sh('ip', ['netns', 'delete', name]);
    }
  });

  it('anonymous namespaces are separate and die with their fd', async () => {
    const a = await Netns.create();
    const b = await Netns.create();
    assert.ok(!a.equals(b));
    assert.strictEqual(a.name, undefined);
    a.close();
    b.close();
  });

  it('the threads that make namespaces go back to their own: none is pinned by a thread', async () => {
    const names = Array.from({ length: 12 }, () => uniq('pool'));
    // Some fail (bad sysctl) after the namespace was made: those threads must go back too.
    const made = await Promise.all(names.map((n, i) => Netns.create(n, i % 3 ? {} : { sysctls: { 'net/ipv4/no_such_sysctl': '1' } }).then((ns) => ns, () => undefined)));
    assert.strictEqual(made.filter(Boolean).length, 8);
    const own = fs.readlinkSync('/proc/self/ns/net');
    const threads = fs.readdirSync('/proc/self/task').map((t) => { try { return fs.readlinkSync(`/proc/self/task/${t}/ns/net`); } catch { return own; } });
    assert.deepStrictEqual(threads.filter((t) => t !== own), []);
    for (const ns of made) if (ns) { ns.close(); await Netns.delete(ns.name!); }
    assert.deepStrictEqual(names.filter((n) => fs.existsSync(`/run/netns/${n}`)), []);
  });

  it('set-up by the creating thread: a netfilter batch sent from inside (nft sees it); a refused one fails the creation and leaves nothing', async () => {
    const ok = Nft.encode((tx) => {
      tx.addTable({ family: 'ip', name: 'born' });
      tx.addChain({ family: 'ip', table: 'born', name: 'out', type: 'nat', hook: 'output', priority: -100, policy: 'accept' });
    });
    const name = uniq('nfb');
    const ns = await Netns.create(name, { nftSocket: true, netfilterMessages: ok });
    try {
      assert.strictEqual(ns.netfilterApplied, true);
      const tables = JSON.parse(sh('ip', ['netns', 'exec', name, 'nft', '-j', 'list', 'tables'])).nftables.filter((x: any) => x.table).map((x: any) => x.table.name);
      assert.deepStrictEqual(tables, ['born']);
    } finally {
      ns.close();
      await Netns.delete(name);
    }
    // A chain in a table that does not exist: the kernel refuses it.
    const bad = Nft.encode((tx) => { tx.addChain({ family: 'ip', table: 'nowhere', name: 'c' }); });
    const name2 = uniq('nfb');
    await rejects(Netns.create(name2, { nftSocket: true, netfilterMessages: bad }), 'ENOENT');
    assert.ok(!fs.existsSync(`/run/netns/${name2}`));
    await rejects(Netns.create(uniq('nfb'), { netfilterMessages: ok }), 'EINVAL', /needs nftSocket/);
    await rejects(Netns.create(uniq('nfb'), { nftSocket: true, netfilterMessages: ['x'] as any }), 'ERR_INVALID_ARG_TYPE');
    await rejects(Netns.create(uniq('nfb'), { nftSocket: true, netfilterMessages: [Buffer.alloc(20)] }), 'EINVAL', /not one netlink message/);
  });

  it('set-up by the creating thread: sysctls, lo up, and an rtnetlink socket the first Rtnl.open adopts', async () => {
    const name = uniq('setup');
    const ns = await Netns.create(name, { sysctls: { 'ipv4.ip_forward': 1 }, loUp: true, rtnlSocket: true });
    try {
      assert.strictEqual(ns.sysctl('ipv4.ip_forward'), '1');
      assert.ok(ipj(['link', 'show', 'lo'], name)[0].flags.includes('UP'));
      const rt = await Rtnl.open({ netns: ns });
      assert.strictEqual(ns.takeRtnlSocket(), undefined, 'adopted');
      await rt.link.add({ kind: 'bridge', name: 'inside0' }, { echo: false });
      assert.deepStrictEqual(ipj(['link', 'show', 'inside0'], name).map((l: any) => l.ifname), ['inside0']);
      rt.close();
      // A bad sysctl fails the whole creation and leaves no namespace.
      await rejects(Netns.create(uniq('bad'), { sysctls: { 'ipv4.no_such_key': 1 } }), 'ENOENT');
      assert.ok(!Netns.list().some((n) => n.startsWith('bad')));
    } finally {
      await ns.delete();
    }
  });

  it('reads and writes sysctls of that namespace only', async () => {
    const ns = await Netns.create();
    const here = Netns.current();
    try {
      const before = here.sysctl('ipv4.ip_forward');
      assert.strictEqual(ns.sysctl('net.ipv4.ip_forward'), '0');
      ns.sysctl('ipv4.ip_forward', 1);
      assert.strictEqual(ns.sysctl('ipv4.ip_forward'), '1');
      assert.strictEqual(here.sysctl('ipv4.ip_forward'), before);
      ns.sysctl('ipv6.conf.all.disable_ipv6', '1');
      assert.strictEqual(ns.sysctl('ipv6/conf/all/disable_ipv6'), '1');
      assert.throws(() => ns.sysctl('../../etc/passwd'), ValidationError);
      assert.throws(() => ns.sysctl('ipv4.no_such_key'), (e: any) => e.code === 'ENOENT');
    } finally {
      ns.close();
      here.close();
    }
  });

  it('rejects bad names, duplicates and missing namespaces with typed errors', async () => {
    await rejects(Netns.create('a/b'), 'EINVAL');
    await rejects(Netns.create(''), 'EINVAL');
    await rejects(Netns.open('does-not-exist'), 'ENOENT');
    await rejects(Netns.open({ pid: 0 }), 'EINVAL');
    // A sysctl value that writes nothing, or several lines, is not one value: refused, not "written".
    for (const v of ['', '  ', '1\n2']) await rejects(Netns.create(uniq('sy'), { sysctls: { 'ipv4.ip_forward': v } }), 'EINVAL', /is not one value/);
    assert.ok(!Netns.list().some((n) => n.startsWith('sy')), 'none made');
    const name = uniq('dup');
    const ns = await Netns.create(name);
    const e = await rejects(Netns.create(name), 'EEXIST');
    assert.ok(e instanceof NetlinkError);
    await ns.delete();
    // The failed duplicate left nothing: the name is free again.
    const again = await Netns.create(name);
    await again.delete();
    await rejects(Netns.delete(name), 'ENOENT');
    // A file that is not a namespace is refused.
    fs.writeFileSync('/run/netns/plainfile', '');
    try {
      await rejects(Netns.open('plainfile'), 'EINVAL');
    } finally {
      fs.rmSync('/run/netns/plainfile');
    }
    // Another kind of namespace file is not a network namespace (it failed only at setns).
    await rejects(Netns.open({ path: '/proc/self/ns/mnt' }), 'EINVAL', /not a network namespace/);
    // socketHere is checked as socket() is (it returned a UDP socket for 'bogus').
    assert.throws(() => Netns.socketHere(4, 'bogus' as any, { address: '127.0.0.1', port: 0 }), (x: any) => x.code === 'EINVAL');
    assert.throws(() => Netns.socketHere('4' as any, 'tcp', { address: '127.0.0.1', port: 0 }), (x: any) => x.code === 'ERR_INVALID_ARG_TYPE');
    assert.throws(() => (Netns.socketHere as any)(4, 'tcp'), (x: any) => x.code === 'ERR_INVALID_ARG_TYPE');
    assert.throws(() => Netns.socketHere(4, 'tcp', { address: '127.0.0.1', port: 0, bogus: 1 } as any), (x: any) => x.code === 'EINVAL');
    // A closed handle's events are EBADF too (they opened a socket of their own).
    const rt = await Rtnl.open();
    const nft = await Nft.open();
    const ev = rt.events();
    const waiting = ev.waitFor(() => false, 60000);
    ev.close();
    await rejects(waiting, 'EBADF', /closed/);
    rt.close();
    nft.close();
    assert.throws(() => rt.events(), (x: any) => x.code === 'EBADF');
    assert.throws(() => nft.events(), (x: any) => x.code === 'EBADF');
  });
});
