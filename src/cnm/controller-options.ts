// Controller.open's options, checked before anything is made (no state
// directory, no nft table): wrong types are ERR_INVALID_ARG_TYPE, unknown
// fields and bad values EINVAL, as everywhere else.
import * as net from 'net';
import { validateIfname } from '../util/ip';
import { ClusterService } from './cluster/service';
import type { ControllerOptions } from './controller';
import { invalid, invalidType } from './errors';
import { parsePrefix } from './ipam';
import { checkFields, snapshot } from './validate';

const WHAT = 'controller options';
const FIREWALL_METHODS = ['addNetwork', 'removeNetwork', 'addPorts', 'removePorts', 'setLinks', 'reconcile', 'describe', 'destroy', 'close'];

function checkPath(v: string | undefined, field: string): void {
  if (v === undefined) return;
  if (!v.length || v.includes('\0')) throw invalid(`${WHAT}.${field}: ${JSON.stringify(v)} is not a path`);
}

export function checkControllerOptions(opts: unknown): ControllerOptions {
  if (opts === undefined) return {};
  opts = snapshot(opts);
  checkFields(opts, WHAT, {
    stateDir: 'string', runDir: 'string', pools: 'any', defaultBridge: 'string', icc: 'boolean', etcNetnsDir: 'string',
    firewall: 'any', resolvConf: 'string', upstreamDns: 'string[]', dns: 'boolean', lockTimeoutMs: 'integer', cluster: 'any',
  }, ['etcNetnsDir', 'firewall']);
  const o = opts as ControllerOptions;
  for (const k of ['stateDir', 'runDir', 'resolvConf'] as const) checkPath(o[k], k);
  checkPath(o.etcNetnsDir ?? undefined, 'etcNetnsDir');
  if (o.defaultBridge !== undefined) validateIfname(o.defaultBridge, `${WHAT}.defaultBridge`);
  if (o.lockTimeoutMs !== undefined && (o.lockTimeoutMs < 0 || o.lockTimeoutMs > 0x7fffffff)) {
    throw invalid(`${WHAT}.lockTimeoutMs: ${o.lockTimeoutMs} is out of range (0 to ${0x7fffffff} ms)`);
  }
  // (No zone index: the resolvers send to these from the sandboxes' namespaces.)
  for (const s of o.upstreamDns ?? []) if (!net.isIP(s) || s.includes('%')) throw invalid(`${WHAT}.upstreamDns: ${JSON.stringify(s)} is not an IP address`);
  if (o.pools !== undefined) {
    if (!Array.isArray(o.pools)) throw invalidType(`${WHAT}.pools`, 'a list of { base, size }', o.pools);
    o.pools.forEach((p, i) => {
      const what = `${WHAT}.pools[${i}]`;
      checkFields(p, what, { base: 'string', size: 'integer' });
      if (p.base === undefined || p.size === undefined) throw invalid(`${what}: base and size are required`);
      const base = parsePrefix(p.base, `${what}.base`);
      if (base.family !== 4) throw invalid(`${what}.base: ${p.base} is not an IPv4 pool (IPv6 subnets are given per network)`);
      if (p.size < base.len || p.size > 30) throw invalid(`${what}.size: ${p.size} does not fit ${p.base} (${base.len} to 30)`);
    });
  }
  if (o.firewall !== undefined && o.firewall !== null) {
    const fw = o.firewall as unknown;
    if (typeof fw !== 'object' || !FIREWALL_METHODS.every((m) => typeof (fw as Record<string, unknown>)[m] === 'function')) {
      throw invalidType(`${WHAT}.firewall`, `a Firewall (${FIREWALL_METHODS.join(', ')}) or null`, fw);
    }
  }
  if (o.cluster !== undefined) ClusterService.check(o.cluster);
  return o;
}

