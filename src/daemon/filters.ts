// Docker's `filters` query parameter: JSON, {"name": {"x": true}} or the
// older {"name": ["x"]}; keys checked against what the endpoint accepts.
import { badInput } from './errors';

export type Filters = Map<string, string[]>;

export function parseFilters(raw: string | undefined, accepted: string[]): Filters {
  const out: Filters = new Map();
  if (raw === undefined || raw === '') return out;
  let v: unknown;
  try { v = JSON.parse(raw); } catch { throw badInput('invalid filters: not JSON'); }
  // (null is no filter, as Go's json.Unmarshal leaves the map empty.)
  if (v === null) return out;
  if (typeof v !== 'object' || Array.isArray(v)) throw badInput('invalid filters: an object expected');
  for (const [k, vals] of Object.entries(v)) {
    if (!accepted.includes(k)) throw badInput(`invalid filter '${k}'`);
    let list: string[];
    if (Array.isArray(vals) && vals.every((x) => typeof x === 'string')) list = vals;
    // Docker's map form takes the keys, whatever their booleans say.
    else if (typeof vals === 'object' && vals !== null && !Array.isArray(vals) && Object.values(vals).every((x) => typeof x === 'boolean')) list = Object.keys(vals);
    else throw badInput(`invalid filter '${k}': {"value": true} or ["value"] expected`);
    if (list.length) out.set(k, list);
  }
  return out;
}

/** Filters as the docker client sends them, from `--filter key=value` pairs. */
export function filtersFromPairs(pairs: string[]): string {
  const m: Record<string, Record<string, true>> = {};
  for (const p of pairs) {
    const i = p.indexOf('=');
    if (i <= 0) throw badInput(`bad format of filter (expected name=value): ${p}`);
    (m[p.slice(0, i)] ??= {})[p.slice(i + 1)] = true;
  }
  return JSON.stringify(m);
}

/**
 * Docker matches `name` and `id` as regular expressions (Go's RE2, linear).
 * JavaScript's are not, and a client's pattern must not stall the daemon: a
 * linear subset, literal text with `.`, `^` and `$`; anything else is refused.
 */
export function matchPattern(pattern: string, s: string): boolean {
  if (pattern === s) return true;
  if (/[*+?()[\]{}|\\]/.test(pattern)) throw badInput(`filter value ${JSON.stringify(pattern)}: only literal text with '.', '^' and '$' is supported`);
  const start = pattern.startsWith('^');
  const end = pattern.endsWith('$') && pattern.length > (start ? 1 : 0);
  const body = pattern.slice(start ? 1 : 0, end ? -1 : undefined);
  const at = (i: number) => {
    if (i + body.length > s.length) return false;
    for (let j = 0; j < body.length; j++) if (body[j] !== '.' && body[j] !== s[i + j]) return false;
    return true;
  };
  if (start) return at(0) && (!end || body.length === s.length);
  if (end) return at(s.length - body.length);
  for (let i = 0; i + body.length <= s.length; i++) if (at(i)) return true;
  return false;
}

/** `label=key` or `label=key=value`: every one must match (Docker's MatchKVList). */
export function matchLabels(wanted: string[], labels: Record<string, string>): boolean {
  return wanted.every((w) => {
    const i = w.indexOf('=');
    if (i < 0) return w in labels;
    return labels[w.slice(0, i)] === w.slice(i + 1);
  });
}

/** Docker's `until`: a Go duration before now ("24h", "1h30m", "90s") or a timestamp (unix seconds or RFC 3339). */
export function parseUntil(v: string, now = Date.now()): number {
  if (/^(\d+(\.\d+)?(h|m|s|ms))+$/.test(v)) {
    let ms = 0;
    for (const [, n, , u] of v.matchAll(/(\d+(\.\d+)?)(h|ms|m|s)/g)) ms += Number(n) * { h: 3600e3, m: 60e3, s: 1e3, ms: 1 }[u as 'h' | 'm' | 's' | 'ms'];
    return now - ms;
  }
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  if (/^\d{4}-\d{2}-\d{2}/.test(v) && !Number.isNaN(t)) return t;
  throw badInput(`invalid filter 'until=${v}': a duration (24h) or a timestamp expected`);
}

export function oneBool(f: Filters, key: string): boolean | undefined {
  const v = f.get(key);
  if (!v) return undefined;
  if (v.length > 1) throw badInput(`got more than one value for filter key "${key}"`);
  if (v[0] === '1' || v[0] === 'true') return true;
  if (v[0] === '0' || v[0] === 'false') return false;
  throw badInput(`invalid value for filter '${key}', must be "true" (or "1"), or "false" (or "0")`);
}
