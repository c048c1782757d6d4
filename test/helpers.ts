// Test helpers: real tools (ip, bridge, nft) as independent readers, and
// small utilities. Tests run only inside scripts/isolated.sh.
import { spawnSync } from 'child_process';
import * as assert from 'assert';

export function sh(cmd: string, args: string[], opts: { ns?: string; input?: string; allowFail?: boolean } = {}): string {
  const full = opts.ns ? ['ip', ['netns', 'exec', opts.ns, cmd, ...args]] as const : [cmd, args] as const;
  const r = spawnSync(full[0], full[1] as string[], { encoding: 'utf8', input: opts.input });
  if (r.status !== 0 && !opts.allowFail) throw new Error(`${full[0]} ${full[1].join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** `ip [-n ns] -j ARGS` parsed. */
export function ipj(args: string[], ns?: string): any[] {
  const out = sh('ip', [...(ns ? ['-n', ns] : []), '-j', ...args]);
  return out.trim() ? JSON.parse(out) : [];
}

/** `ip [-n ns] -d -j link show dev NAME` → the one object. */
export function ipLink(name: string, ns?: string): any {
  const r = ipj(['-d', 'link', 'show', 'dev', name], ns);
  assert.strictEqual(r.length, 1, `ip link show ${name}`);
  return r[0];
}

export function ip(args: string[], ns?: string): string {
  return sh('ip', [...(ns ? ['-n', ns] : []), ...args]);
}

export function bridgej(args: string[], ns?: string): any[] {
  const out = sh('bridge', [...(ns ? ['-n', ns] : []), '-j', ...args]);
  return out.trim() ? JSON.parse(out) : [];
}

/**
 * Pings from inside a namespace until `count` answers came, for at most
 * `deadlineS` seconds (short when no answer is expected); true if they came.
 */
export function ping(ns: string, addr: string, count = 1, deadlineS = 10): boolean {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'ping', '-c', String(count), '-i', '0.2', '-w', String(deadlineS), addr], { encoding: 'utf8' });
  return r.status === 0;
}

/** Links in the current namespace other than lo. */
export function hostLinks(): string[] {
  return ipj(['link', 'show']).map((l: any) => l.ifname).filter((n: string) => n !== 'lo');
}

/** Expects a promise to reject with an error having `code`. Returns the error. */
export async function rejects(p: Promise<any>, code: string, re?: RegExp): Promise<any> {
  try {
    await p;
  } catch (e: any) {
    assert.strictEqual(e.code, code, `expected ${code}, got ${e.code}: ${e.message}`);
    assert.ok(e instanceof Error);
    if (re) assert.match(e.message, re);
    return e;
  }
  assert.fail(`expected rejection with ${code}`);
}

let counter = 0;
/** A unique short name (interfaces allow 15 bytes). */
export function uniq(prefix: string): string {
  counter++;
  return `${prefix}${process.pid % 1000}x${counter}`.slice(0, 15);
}

/**
 * Retries an assertion until it passes or `ms` elapse. The default is long:
 * what is waited for is often the kernel's asynchronous namespace cleanup (a
 * workqueue), which on a loaded machine has taken over 5 s.
 */
export async function eventually(fn: () => void | Promise<void>, ms = 20000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      await fn();
      return;
    } catch (e) {
      if (Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
