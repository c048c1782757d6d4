// Output as the docker client prints it: tab-aligned tables, `--format`
// Go templates (the subset people use), and Go's time and value spellings.

/** Docker's tabwriter (min width 10, padding 3; the last column is not padded). */
export function table(rows: string[][]): string {
  if (!rows.length) return '';
  const cols = Math.max(...rows.map((r) => r.length));
  const w = Array.from({ length: cols }, (_, i) => Math.max(10, ...rows.map((r) => (r[i] ?? '').length + 3)));
  return rows.map((r) => r.map((c, i) => (i < r.length - 1 ? c.padEnd(w[i]) : c)).join('')).join('\n') + '\n';
}

/** Go's time.Time.String() of an RFC 3339 UTC time: "2024-01-01 10:00:00.123 +0000 UTC". */
export function goTime(iso: string): string {
  const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(iso);
  if (!m) return iso;
  const frac = (m[3] ?? '').replace(/0+$/, '');
  return `${m[1]} ${m[2]}${frac ? `.${frac}` : ''} +0000 UTC`;
}

/** How Go's fmt prints a value in a template. */
function goText(v: unknown): string {
  if (v === null || v === undefined) return '<no value>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) return `[${v.map(goText).join(' ')}]`;
  if (typeof v === 'object') return `map[${Object.keys(v).sort().map((k) => `${k}:${goText((v as Record<string, unknown>)[k])}`).join(' ')}]`;
  return String(v);
}

export class TemplateError extends Error {
  code = 'EINVAL';
  constructor(msg: string) { super(`template: ${msg}`); }
}

type Node =
  | { t: 'text'; s: string }
  | { t: 'out'; pipe: string }
  | { t: 'set'; name: string; pipe: string }
  | { t: 'range' | 'if' | 'with'; pipe: string; body: Node[]; else: Node[]; vars?: string[] };

/** Docker's `\t` and `\n` in the text around actions (inside one, a string literal's escapes are its own). */
const unescape = (text: string) => text.replace(/\\t/g, '\t').replace(/\\n/g, '\n');

function parse(src: string): Node[] {
  const toks: ({ text: string } | { act: string })[] = [];
  let i = 0;
  while (i < src.length) {
    const o = src.indexOf('{{', i);
    if (o < 0) { toks.push({ text: unescape(src.slice(i)) }); break; }
    let text = src.slice(i, o);
    const c = src.indexOf('}}', o);
    if (c < 0) throw new TemplateError(`unclosed action in ${JSON.stringify(src)}`);
    let act = src.slice(o + 2, c);
    let next = c + 2;
    if (act.startsWith('-')) { act = act.slice(1); text = text.replace(/\s+$/, ''); }
    if (act.endsWith('-')) { act = act.slice(0, -1); const m = /^\s*/.exec(src.slice(next)); next += m ? m[0].length : 0; }
    if (text) toks.push({ text: unescape(text) });
    toks.push({ act: act.trim() });
    i = next;
  }
  let k = 0;
  // `range $i, $v := PIPE` / `range $v := PIPE` / `if|with $v := PIPE`: variables for the body (and else).
  const control = (kind: string, rest: string): Node => {
    const d = /^(\$\w+)(?:\s*,\s*(\$\w+))?\s*:=\s*(.+)$/.exec(rest);
    const vars = d ? (d[2] ? [d[1], d[2]] : [d[1]]) : undefined;
    if (vars?.length === 2 && kind !== 'range') throw new TemplateError(`too many declarations in ${kind}`);
    const b = block(true);
    return { t: kind as 'range' | 'if' | 'with', pipe: d ? d[3] : rest, body: b.body, else: b.else, vars };
  };
  const block = (inner: boolean): { body: Node[]; else: Node[] } => {
    const body: Node[] = [];
    const other: Node[] = [];
    let cur = body;
    while (k < toks.length) {
      const tk = toks[k++];
      if ('text' in tk) { cur.push({ t: 'text', s: tk.text }); continue; }
      const a = tk.act;
      if (a === 'end') { if (!inner) throw new TemplateError('unexpected {{end}}'); return { body, else: other }; }
      if (a === 'else') { if (!inner || cur === other) throw new TemplateError('unexpected {{else}}'); cur = other; continue; }
      // `else if P` / `else with P`: a control in the else branch that ends at this one's {{end}}.
      const chained = /^else\s+(if|with)\s+(.+)$/.exec(a);
      if (chained) {
        if (!inner || cur === other) throw new TemplateError('unexpected {{else}}');
        other.push(control(chained[1], chained[2]));
        return { body, else: other };
      }
      const m = /^(range|if|with)\s+(.+)$/.exec(a);
      if (m) { cur.push(control(m[1], m[2])); continue; }
      // `$x := PIPE`: a variable for the rest of the enclosing control.
      const d = /^(\$\w+)\s*:=\s*(.+)$/.exec(a);
      if (d) { cur.push({ t: 'set', name: d[1], pipe: d[2] }); continue; }
      cur.push({ t: 'out', pipe: a });
    }
    if (inner) throw new TemplateError('missing {{end}}');
    return { body, else: other };
  };
  return block(false).body;
}

function words(cmd: string): string[] {
  const out: string[] = [];
  // ('|' its own token outside string literals: `{{.Name|upper}}` is a pipe too.)
  const re = /\s*("(?:[^"\\]|\\.)*"|`[^`]*`|\||[^\s"`|]+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(cmd))) out.push(m[1]);
  return out;
}

/** Go's fmt verbs as templates use them: %s %v %d %q %t %x %%, with a width. */
function printf(f: unknown, ...args: unknown[]): string {
  let i = 0;
  return String(f).replace(/%([-+ 0#]*\d*)([svdqtx%])/g, (_all, flags: string, verb: string) => {
    if (verb === '%') return '%';
    if (i >= args.length) return `%!${verb}(MISSING)`;
    const a = args[i++];
    let out: string;
    if (verb === 'q') out = JSON.stringify(goText(a));
    else if (verb === 'd') out = typeof a === 'number' || typeof a === 'bigint' ? String(a) : `%!d(${goText(a)})`;
    else if (verb === 'x') out = typeof a === 'number' ? a.toString(16) : Buffer.from(goText(a)).toString('hex');
    else out = goText(a);
    const w = /\d+/.exec(flags);
    if (w && Number(w[0]) > 1e6) return '%!(BADWIDTH)';
    if (w) out = flags.includes('-') ? out.padEnd(Number(w[0])) : out.padStart(Number(w[0]), flags.includes('0') && verb === 'd' ? '0' : ' ');
    return out;
  });
}

export interface TemplateContext {
  /** Methods callable as `.Name ARG` (Docker's `.Label "key"`). */
  methods?: Record<string, (...args: unknown[]) => unknown>;
  /** Fields that are computed (the top-level object of `network ls`), else looked up. */
  strict?: boolean;
}

const FUNCS: Record<string, (...a: any[]) => unknown> = {
  json: (v) => JSON.stringify(v ?? null),
  upper: (s) => String(s).toUpperCase(),
  lower: (s) => String(s).toLowerCase(),
  title: (s) => String(s).replace(/\b\w/g, (c) => c.toUpperCase()),
  len: (v) => (Array.isArray(v) || typeof v === 'string' ? v.length : v && typeof v === 'object' ? Object.keys(v).length : 0),
  join: (a, sep) => (Array.isArray(a) ? a.map(goText).join(String(sep)) : goText(a)),
  index: (v, ...keys) => keys.reduce((o: any, k) => (o === null || o === undefined ? undefined : o[k as string]), v),
  println: (...a) => a.map(goText).join(' ') + '\n',
  print: (...a) => a.map(goText).join(''),
  split: (s, sep) => String(s).split(String(sep)),
  truncate: (s, n) => String(s).slice(0, Number(n)),
  pad: (s, l, r) => {
    const [a, b] = [Number(l), Number(r)];
    if (!Number.isInteger(a) || !Number.isInteger(b) || a < 0 || b < 0 || a > 1e6 || b > 1e6) throw new TemplateError(`pad: counts must be integers in 0..1000000 (${l}, ${r})`);
    return ' '.repeat(a) + String(s) + ' '.repeat(b);
  },
  printf,
};

type Vars = Record<string, unknown>;

/** A Go string literal: JSON's escapes plus Go's \\xHH, \\a \\v and \\'; anything else is a template error. */
function goString(lit: string): string {
  const json = lit.replace(/\\(x[0-9a-fA-F]{2}|a|v|')/g, (_m, e: string) => (e[0] === 'x' ? `\\u00${e.slice(1)}` : e === 'a' ? '\\u0007' : e === 'v' ? '\\u000b' : "'"));
  try { return JSON.parse(json); } catch { throw new TemplateError(`malformed string literal ${lit}`); }
}

/** How many arguments each function takes (the piped value counts), as Go checks them. */
const ARITY: Record<string, [number, number]> = {
  json: [1, 1], upper: [1, 1], lower: [1, 1], title: [1, 1], len: [1, 1], join: [2, 2], index: [1, Infinity],
  println: [0, Infinity], print: [0, Infinity], split: [2, 2], truncate: [2, 2], pad: [3, 3], printf: [1, Infinity],
};

function evalPipe(pipe: string, dot: unknown, root: unknown, ctx: TemplateContext, vars: Vars): unknown {
  let prev: unknown;
  let first = true;
  // Commands split on bare | tokens (one inside a string literal is text).
  const commands: string[][] = [[]];
  for (const w of words(pipe)) { if (w === '|') commands.push([]); else commands[commands.length - 1].push(w); }
  for (const w of commands) {
    if (!w.length) throw new TemplateError(`missing command in ${JSON.stringify(pipe)}`);
    const arg = (s: string): unknown => {
      if (s.startsWith('"')) return goString(s);
      if (s.startsWith('`')) return s.slice(1, -1);
      if (/^-?\d+$/.test(s)) return Number(s);
      if (s === 'true' || s === 'false') return s === 'true';
      if (s === '.') return dot;
      if (s === '$') return root;
      if (s.startsWith('.') || s.startsWith('$.')) return field(s.startsWith('$') ? root : dot, s.startsWith('$') ? s.slice(1) : s, dot === root && ctx.strict === true);
      const v = /^(\$\w+)(\..*)?$/.exec(s);
      if (v) {
        if (!(v[1] in vars)) throw new TemplateError(`undefined variable "${v[1]}"`);
        return v[2] ? field(vars[v[1]], v[2], false) : vars[v[1]];
      }
      throw new TemplateError(`function ${JSON.stringify(s)} not defined`);
    };
    const extra = first ? [] : [prev];
    const [head, ...rest] = w;
    // A method of the root (`.Label "k"` at the top, `$.Label "k"` anywhere).
    const method = head.startsWith('$.') ? head.slice(2) : head.startsWith('.') && dot === root ? head.slice(1) : undefined;
    if (FUNCS[head]) {
      const n = rest.length + extra.length;
      const [lo, hi] = ARITY[head] ?? [0, Infinity];
      if (n < lo || n > hi) throw new TemplateError(`wrong number of args for ${head}: want ${lo === hi ? lo : `at least ${lo}`} got ${n}`);
      prev = FUNCS[head](...rest.map(arg), ...extra);
    } else if (method !== undefined && ctx.methods?.[method]) prev = ctx.methods[method](...rest.map(arg), ...extra);
    else if (/^[A-Za-z_]\w*$/.test(head) && head !== 'true' && head !== 'false') throw new TemplateError(`function ${JSON.stringify(head)} not defined`);
    else if (rest.length || !first) throw new TemplateError(`can't give arguments to non-function ${head}`);
    else prev = arg(head);
    first = false;
  }
  return prev;
}

function field(v: unknown, p: string, strict: boolean): unknown {
  const parts = p.split('.').slice(1);
  let cur = v;
  for (const [i, k] of parts.entries()) {
    if (cur === null || cur === undefined || typeof cur !== 'object') return undefined;
    // Own fields only: `.constructor` is no field of a JSON object.
    if (!Object.hasOwn(cur as object, k)) {
      if (i === 0 && strict) throw new TemplateError(`can't evaluate field ${k}`);
      return undefined;
    }
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

const truthy = (v: unknown) => !(v === undefined || v === null || v === false || v === 0 || v === '' || (Array.isArray(v) && !v.length) || (typeof v === 'object' && v !== null && !Object.keys(v).length));

/** A scope for a control's body: the outer variables, and the ones declared here (Go: until its {{end}}, else included). */
const scope = (outer: Vars, names: string[] = [], values: unknown[] = []): Vars => {
  const s: Vars = Object.create(outer);
  names.forEach((n, i) => { s[n] = values[i]; });
  return s;
};

function exec(nodes: Node[], dot: unknown, root: unknown, ctx: TemplateContext, outer: Vars): string {
  let out = '';
  // `$x := ...` here lasts to the end of this list of nodes.
  const vars = scope(outer);
  for (const n of nodes) {
    if (n.t === 'text') out += n.s;
    else if (n.t === 'out') out += goText(evalPipe(n.pipe, dot, root, ctx, vars));
    else if (n.t === 'set') vars[n.name] = evalPipe(n.pipe, dot, root, ctx, vars);
    else if (n.t === 'if' || n.t === 'with') {
      const v = evalPipe(n.pipe, dot, root, ctx, vars);
      const inner = scope(vars, n.vars, [v]);
      if (truthy(v)) out += exec(n.body, n.t === 'with' ? v : dot, root, ctx, inner);
      else out += exec(n.else, dot, root, ctx, inner);
    } else {
      const v = evalPipe(n.pipe, dot, root, ctx, vars);
      // (A map's keys sorted, as Go ranges over one; a list's indexes.)
      const items: [unknown, unknown][] = Array.isArray(v) ? v.map((x, i) => [i, x]) : v && typeof v === 'object' ? Object.keys(v).sort().map((k) => [k, (v as Record<string, unknown>)[k]]) : [];
      const bind = ([k, x]: [unknown, unknown]): Vars => scope(vars, n.vars, n.vars?.length === 2 ? [k, x] : [x]);
      out += items.length ? items.map((it) => exec(n.body, it[1], root, ctx, bind(it))).join('') : exec(n.else, dot, root, ctx, scope(vars, n.vars, []));
    }
  }
  return out;
}

/** A compiled `--format`: `table ...`, `json`, or a template (Docker's `\t` and `\n` escapes). */
export class Format {
  readonly table: boolean;
  private nodes: Node[];
  constructor(format: string) {
    let f = format === 'json' ? '{{json .}}' : format;
    this.table = f.startsWith('table');
    if (this.table) f = f.replace(/^table\s*/, '');
    this.nodes = parse(f);
  }
  render(v: unknown, ctx: TemplateContext = {}): string { return exec(this.nodes, v, v, ctx, Object.create(null)); }
}

/**
 * Rows through a format: a table gets a header made by rendering the same
 * template on the headers (Docker's way) and is aligned; otherwise a line each.
 */
export function formatRows(format: string, rows: unknown[], headers: Record<string, string>, ctx: (row: unknown) => TemplateContext = () => ({})): string {
  const f = new Format(format);
  if (!f.table) return rows.map((r) => f.render(r, ctx(r)) + '\n').join('');
  const header = (k: string | symbol) => headers[String(k)] ?? String(k).toUpperCase();
  const head = new Proxy({}, { has: () => true, get: (_, k) => header(k), getOwnPropertyDescriptor: (_, k) => ({ value: header(k), enumerable: true, configurable: true, writable: true }) });
  const lines = [f.render(head, { strict: false, methods: { Label: (k: unknown) => String(k).split('.').pop()!.replace(/[-_]/g, ' ') } }), ...rows.map((r) => f.render(r, ctx(r)))];
  return table(lines.map((l) => l.split('\t')));
}
