// Helpers for the nftables tests: a namespace per test, `nft` as an
// independent reader/writer inside it, JSON normalisation.
import { spawnSync } from 'child_process';
import { Netns, Nft } from '../src';
import { uniq } from './helpers';

export function nftCmd(ns: string, args: string[], input?: string): { status: number; stdout: string; stderr: string } {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'nft', ...args], { encoding: 'utf8', input });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** `nft -j list ruleset` in a namespace, without metainfo and handles (they differ by creation order). */
export function nftJson(ns: string): any[] {
  const r = nftCmd(ns, ['-j', 'list', 'ruleset']);
  if (r.status !== 0) throw new Error(`nft -j list ruleset: ${r.stderr}`);
  const items = (JSON.parse(r.stdout).nftables as any[]).filter((x) => !x.metainfo);
  return JSON.parse(JSON.stringify(items, (k, v) => (k === 'handle' ? undefined : v)));
}

export function nftFile(ns: string, text: string): void {
  const r = nftCmd(ns, ['-f', '-'], text);
  if (r.status !== 0) throw new Error(`nft -f: ${r.stderr}`);
}

/** Runs fn with a fresh named namespace and an Nft handle in it; always cleans up. */
export async function withNftNs<T>(fn: (nft: Nft, ns: Netns) => Promise<T>): Promise<T> {
  const ns = await Netns.create(uniq('nft'));
  const nft = await Nft.open({ netns: ns });
  try {
    return await fn(nft, ns);
  } finally {
    nft.close();
    await ns.delete();
  }
}

/** Drops read-only fields (handles, use counts) for comparisons. */
export function strip<T>(x: T): T {
  return JSON.parse(JSON.stringify(x, (k, v) => (k === 'handle' || k === 'use' ? undefined : v)));
}
