// Malformed netlink messages through the addon's parsers: every one ends in
// an EBADMSG-coded error naming what was wrong, never a crash, an exit(),
// a hang or a read past the message. Each case crashed, exited, hung or
// decoded garbage before the parsers validated with libmnl first (run the
// suite under `npm run test:asan` to see the reads past the end too).
// Messages are decoded with native.nlParse, the decoder NetlinkSocket.read()
// uses for each datagram; real kernel replies (the fuzz seed corpus, dumped
// by scripts/fuzz.sh --corpus) must decode with nothing malformed.
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { native } from '../src/native';

const NETLINK_ROUTE = 0;
const NETLINK_NETFILTER = 12;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const RTM_NEWLINK = 16;
const RTM_NEWROUTE = 24;
const NFT = (msg: number) => (10 << 8) | msg;  // NFNL_SUBSYS_NFTABLES
const NFT_MSG_NEWTABLE = 0, NFT_MSG_NEWRULE = 6, NFT_MSG_NEWSET = 9, NFT_MSG_NEWSETELEM = 12;
const NESTED = 0x8000;

function attr(type: number, payload: Buffer, opts: { pad?: boolean } = {}): Buffer {
  const len = 4 + payload.length;
  const h = Buffer.alloc(4);
  h.writeUInt16LE(len, 0);
  h.writeUInt16LE(type, 2);
  const pad = opts.pad === false ? 0 : (4 - (len % 4)) % 4;
  return Buffer.concat([h, payload, Buffer.alloc(pad)]);
}
const nest = (type: number, ...kids: Buffer[]) => attr(type | NESTED, Buffer.concat(kids));
const strz = (s: string) => Buffer.from(s + '\0');
const u32be = (v: number) => { const b = Buffer.alloc(4); b.writeInt32BE(v); return b; };
const u64be = (v: number) => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(v)); return b; };

function msg(type: number, body: Buffer, flags = 0, seq = 1): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt32LE(16 + body.length, 0);
  h.writeUInt16LE(type, 4);
  h.writeUInt16LE(flags, 6);
  h.writeUInt32LE(seq, 8);
  return Buffer.concat([h, body]);
}
const nfgen = (family = 2) => Buffer.from([family, 0, 0, 0]);
const ifinfo = () => Buffer.alloc(16);
const rtmsg = () => Buffer.from([2, 24, 0, 0, 254, 3, 0, 1, 0, 0, 0, 0]);

/** The single message nlParse decodes from `buf`, asserted malformed with EBADMSG naming `what`. */
function assertMalformed(protocol: number, buf: Buffer, what: RegExp): any {
  const ms = native.nlParse(protocol, buf);
  assert.strictEqual(ms.length, 1);
  const m = ms[0];
  assert.ok(m.malformed, `expected a malformed message, got ${JSON.stringify(m)}`);
  assert.strictEqual(m.malformed.code, 'EBADMSG');
  assert.strictEqual(m.malformed.errno, 74);
  assert.match(m.malformed.message, what);
  assert.strictEqual(m.body, undefined);
  assert.ok(Buffer.isBuffer(m.raw) && m.raw.equals(buf.subarray(0, m.raw.length)));
  return m;
}

function assertExprsMalformed(list: Buffer, what: RegExp): void {
  assert.throws(() => native.nftRuleExprs(list), (e: any) => {
    assert.strictEqual(e.code, 'EBADMSG');
    assert.strictEqual(e.errno, 74);
    assert.match(e.message, what);
    return true;
  });
}

// One NFTA_LIST_ELEM expression: {NFTA_EXPR_NAME, NFTA_EXPR_DATA}.
const expr = (name: Buffer | string, ...data: Buffer[]) =>
  nest(1, attr(1, typeof name === 'string' ? strz(name) : name), nest(2, ...data));
const exprList = (...elems: Buffer[]) => nest(4 /* NFTA_RULE_EXPRESSIONS */, ...elems);

describe('native parsers: malformed messages', () => {
  describe('nftRuleExprs', () => {
    it('an expression without NFTA_EXPR_NAME (segfaulted in libnftnl)', () => {
      assertExprsMalformed(Buffer.from([12, 0, 4, 0x80, 8, 0, 1, 0x80, 4, 0, 2, 0x80]), /without NFTA_EXPR_NAME/);
    });

    it('a jump verdict without its chain (libnftnl strdup()ed a missing string)', () => {
      // immediate { dreg 0, data { verdict { code NFT_JUMP } } }
      const l = exprList(expr('immediate', attr(1, u32be(0)), nest(2, nest(2 /* VERDICT */, attr(1, u32be(-3))))));
      assertExprsMalformed(l, /jump\/goto verdict without NFTA_VERDICT_CHAIN/);
    });

    it('a verdict without a code (libnftnl read an uninitialised table)', () => {
      const l = exprList(expr('immediate', attr(1, u32be(0)), nest(2, nest(2, attr(2, strz('c'))))));
      assertExprsMalformed(l, /without NFTA_VERDICT_CODE/);
    });

    it('an attribute of the wrong size (libnftnl exit(1)ed: "kernel ABI is broken")', () => {
      // payload with a 2-byte NFTA_PAYLOAD_DREG
      const l = exprList(expr('payload', attr(1, Buffer.from([1, 0]))));
      assertExprsMalformed(l, /NFTA_PAYLOAD_DREG: 2 bytes, expected 4/);
    });

    it('an expression name without its NUL (decoded from bytes past the attribute)', () => {
      const l = exprList(expr(Buffer.from('cmp'), attr(1, u32be(1))));
      assertExprsMalformed(l, /NFTA_EXPR_NAME: string without terminating NUL/);
    });

    it('a cmp value longer than libnftnl\'s 64-byte register', () => {
      const l = exprList(expr('cmp', attr(1, u32be(1)), attr(2, u32be(0)), nest(3, attr(1, Buffer.alloc(65)))));
      assertExprsMalformed(l, /NFTA_DATA_VALUE: 65 bytes, at most 64/);
    });

    it('a list whose length disagrees with the buffer, or that is not an expression list', () => {
      const good = exprList(expr('counter', attr(1, u64be(1)), attr(2, u64be(2))));
      assertExprsMalformed(good.subarray(0, good.length - 4), /attribute length/);
      assertExprsMalformed(Buffer.from([3, 0]), /not an attribute/);
      const other = Buffer.from(good);
      other.writeUInt16LE(5 | NESTED, 2);
      assertExprsMalformed(other, /not an NFTA_RULE_EXPRESSIONS attribute/);
      // An element whose length runs past the list.
      const past = Buffer.from(good);
      past.writeUInt16LE(200, 4);
      assertExprsMalformed(past, /past the end/);
    });

    it('a wrong argument type is ERR_INVALID_ARG_TYPE', () => {
      assert.throws(() => native.nftRuleExprs('x'), { code: 'ERR_INVALID_ARG_TYPE' });
    });

    it('valid lists still decode, unknown expressions kept raw', () => {
      const l = exprList(
        expr('counter', attr(1, u64be(10)), attr(2, u64be(2))),
        expr('dynset', attr(1, u32be(7))),
        expr('immediate', attr(1, u32be(0)), nest(2, nest(2, attr(1, u32be(-3)), attr(2, strz('fw'))))),
      );
      const out = native.nftRuleExprs(l);
      assert.strictEqual(out.length, 3);
      assert.strictEqual(out[0].type, 'counter');
      assert.strictEqual(out[0].bytes, 10);
      assert.strictEqual(out[0].packets, 2);
      assert.strictEqual(out[1].type, 'dynset');
      assert.ok(out[1].raw.equals(attr(1, u32be(7))));
      assert.strictEqual(out[2].type, 'immediate');
      assert.strictEqual(out[2].verdict, -3);
      assert.strictEqual(out[2].chain, 'fw');
    });
  });

  describe('nftables messages', () => {
    it('a rule without a table is malformed, not "Error in native callback" out of read()', () => {
      const bad = msg(NFT(NFT_MSG_NEWRULE), Buffer.concat([nfgen(), attr(2, strz('c'))]), 0, 5);
      const good = msg(NFT(NFT_MSG_NEWRULE), Buffer.concat([nfgen(), attr(1, strz('t')), attr(2, strz('c')), attr(3, u64be(9))]), 0, 6);
      const ms = native.nlParse(NETLINK_NETFILTER, Buffer.concat([bad, good]));
      assert.strictEqual(ms.length, 2);
      assert.strictEqual(ms[0].malformed!.code, 'EBADMSG');
      assert.match(ms[0].malformed!.message, /NFTA_RULE_TABLE missing/);
      assert.strictEqual(ms[0].seq, 5);
      // The next message of the same datagram is unaffected.
      assert.deepStrictEqual([ms[1].body.kind, ms[1].body.table, ms[1].body.chain, ms[1].body.handle], ['rule', 't', 'c', 9]);
    });

    it('a rule handle of the wrong size (libnftnl exit(1)ed)', () => {
      assertMalformed(NETLINK_NETFILTER, msg(NFT(NFT_MSG_NEWRULE), Buffer.concat([nfgen(), attr(1, strz('t')), attr(3, u32be(1))])),
        /NFTA_RULE_HANDLE: 4 bytes, expected 8/);
    });

    it('a rule whose last attribute is unpadded: nothing read past the message', () => {
      // nlmsg_len ends at the attribute's own end, not its aligned end; the
      // old copy took MNL_ALIGN(nla_len) bytes, two past the message.
      const body = Buffer.concat([nfgen(), attr(2, strz('c')), attr(1, strz('t'), { pad: false })]);
      const [m] = native.nlParse(NETLINK_NETFILTER, msg(NFT(NFT_MSG_NEWRULE), body));
      assert.strictEqual(m.malformed, undefined);
      assert.strictEqual(m.body.table, 't');
      assert.strictEqual(m.body.chain, 'c');
    });

    it('a table name without NUL, an attribute running past the message', () => {
      assertMalformed(NETLINK_NETFILTER, msg(NFT(NFT_MSG_NEWTABLE), Buffer.concat([nfgen(), attr(1, Buffer.from('tabl'))])),
        /NFTA_TABLE_NAME: string without terminating NUL/);
      const past = Buffer.concat([nfgen(), attr(1, strz('t'))]);
      past.writeUInt16LE(40, 4);
      assertMalformed(NETLINK_NETFILTER, msg(NFT(NFT_MSG_NEWTABLE), past), /past the end of NFTA_TABLE/);
    });

    it('a message shorter than its nfgenmsg', () => {
      assertMalformed(NETLINK_NETFILTER, msg(NFT(NFT_MSG_NEWTABLE), Buffer.from([2, 0])), /shorter than its header/);
    });

    it('a set with more concatenated fields than libnftnl\'s 16-entry array', () => {
      const field = nest(1, attr(1, u32be(4)));
      const fields = Array.from({ length: 17 }, () => field);
      const desc = nest(9 /* NFTA_SET_DESC */, nest(2 /* CONCAT */, ...fields));
      assertMalformed(NETLINK_NETFILTER, msg(NFT(NFT_MSG_NEWSET), Buffer.concat([nfgen(), attr(1, strz('t')), attr(2, strz('s')), desc])),
        /more than 16 fields/);
    });

    const elems = (...e: Buffer[]) => msg(NFT(NFT_MSG_NEWSETELEM), Buffer.concat([nfgen(), attr(1, strz('t')), attr(2, strz('s')), nest(3, ...e)]));
    it('an element whose data is neither a value nor a verdict (libnftnl read a chain through an uninitialised type; found by fuzzing)', () => {
      const elem = nest(1, nest(1 /* KEY */, attr(1, u32be(80))), nest(2 /* DATA */, attr(247, u32be(1))));
      assertMalformed(NETLINK_NETFILTER, elems(elem), /NFTA_DATA: neither a value nor a verdict/);
    });

    it('an element whose key is a verdict (libnftnl leaked its chain; found by fuzzing)', () => {
      const elem = nest(1, nest(1 /* KEY */, nest(2 /* VERDICT */, attr(1, u32be(-3)), attr(2, strz('c')))));
      assertMalformed(NETLINK_NETFILTER, elems(elem), /a verdict where only a value fits/);
    });

    it('a verdict map element still decodes', () => {
      const elem = nest(1, nest(1, attr(1, Buffer.from([0, 80]))), nest(2, nest(2, attr(1, u32be(-3)), attr(2, strz('c2')))));
      const [m] = native.nlParse(NETLINK_NETFILTER, elems(elem));
      assert.strictEqual(m.malformed, undefined);
      assert.deepStrictEqual([m.body.elements.length, m.body.elements[0].verdict, m.body.elements[0].chain], [1, -3, 'c2']);
      assert.ok(m.body.elements[0].key.equals(Buffer.from([0, 80])));
    });
  });

  describe('rtnetlink messages', () => {
    it('a multipath nexthop of length 0 (libnl looped forever)', () => {
      const mp = attr(9 /* RTA_MULTIPATH */, Buffer.alloc(8));
      assertMalformed(NETLINK_ROUTE, msg(RTM_NEWROUTE, Buffer.concat([rtmsg(), mp])), /RTA_MULTIPATH: nexthop length 0/);
    });

    it('a metric of the wrong size (libnl read it as a u32 past the attribute)', () => {
      const metrics = nest(8 /* RTA_METRICS */, attr(2 /* RTAX_MTU */, Buffer.from([1])));
      assertMalformed(NETLINK_ROUTE, msg(RTM_NEWROUTE, Buffer.concat([rtmsg(), metrics])), /RTA_METRICS attribute 2: 1 bytes, expected 4/);
    });

    it('a link netnsid of one byte, a link name without NUL', () => {
      assertMalformed(NETLINK_ROUTE, msg(RTM_NEWLINK, Buffer.concat([ifinfo(), attr(3, strz('x0')), attr(37 /* IFLA_LINK_NETNSID */, Buffer.from([1]))])),
        /IFLA_LINK_NETNSID: 1 bytes, expected 4/);
      assertMalformed(NETLINK_ROUTE, msg(RTM_NEWLINK, Buffer.concat([ifinfo(), attr(3, Buffer.from('x0x0'))])),
        /IFLA_IFNAME: string without terminating NUL/);
    });

    it('a link without a name is refused by name', () => {
      assertMalformed(NETLINK_ROUTE, msg(RTM_NEWLINK, Buffer.concat([ifinfo(), attr(4, u32be(1500))])), /RTM_NEWLINK: libnl refused it/);
    });

    it('a macvlan or vxlan link without kind data (libnl dereferenced its NULL kind data; found by fuzzing)', () => {
      for (const kind of ['macvlan', 'vxlan']) {
        const info = nest(18 /* IFLA_LINKINFO */, attr(1, strz(kind)));
        const [m] = native.nlParse(NETLINK_ROUTE, msg(RTM_NEWLINK, Buffer.concat([ifinfo(), attr(3, strz('k0')), info])));
        assert.strictEqual(m.malformed, undefined);
        assert.strictEqual(m.body.kind, kind);
        assert.strictEqual(m.body.macvlan, undefined);
        assert.strictEqual(m.body.vxlan, undefined);
      }
    });

    it('a link with valid bridge data still decodes', () => {
      const info = nest(18 /* IFLA_LINKINFO */, attr(1, strz('bridge')), nest(2, attr(5 /* STP_STATE */, Buffer.from([1, 0, 0, 0]))));
      const [m] = native.nlParse(NETLINK_ROUTE, msg(RTM_NEWLINK, Buffer.concat([ifinfo(), attr(3, strz('br9')), info])));
      assert.strictEqual(m.malformed, undefined);
      assert.strictEqual(m.body.name, 'br9');
      assert.strictEqual(m.body.kind, 'bridge');
      assert.strictEqual(m.body.bridge.stp, true);
    });
  });

  describe('errors and dump ends', () => {
    it('an error of INT_MIN is EBADMSG, not a negated INT_MIN (UBSan)', () => {
      const body = Buffer.alloc(20);
      body.writeInt32LE(-2147483648, 0);
      const m = assertMalformed(NETLINK_ROUTE, msg(NLMSG_ERROR, body), /-2147483648 is not a negative errno/);
      // Never mistaken for an ACK: the request it answers fails.
      assert.strictEqual(m.error, 74);
      assert.strictEqual(m.code, 'EBADMSG');
      assert.match(m.extack, /malformed reply/);
    });

    it('a truncated error is not an ACK', () => {
      const m = assertMalformed(NETLINK_ROUTE, msg(NLMSG_ERROR, Buffer.from([0xfe, 0xff, 0xff, 0xff])), /shorter than struct nlmsgerr/);
      assert.strictEqual(m.error, 74);
    });

    it('a dump end with INT_MIN', () => {
      const m = assertMalformed(NETLINK_ROUTE, msg(NLMSG_DONE, Buffer.from([0, 0, 0, 0x80])), /NLMSG_DONE: -2147483648/);
      assert.strictEqual(m.code, 'EBADMSG');
    });

    it('an extended ACK whose text lacks its NUL is refused, the errno kept out of a half-read message', () => {
      const body = Buffer.concat([Buffer.alloc(20), attr(1 /* NLMSGERR_ATTR_MSG */, Buffer.from('abc'))]);
      body.writeInt32LE(-22, 0);
      const m = assertMalformed(NETLINK_ROUTE, msg(NLMSG_ERROR, body, 0x100 | 0x200), /NLMSGERR_ATTR_MSG: string without terminating NUL/);
      assert.strictEqual(m.error, 74);
    });

    it('a valid error keeps its errno and extended ACK', () => {
      const body = Buffer.concat([Buffer.alloc(20), attr(1, strz('bad thing')), attr(2, Buffer.from([20, 0, 0, 0]))]);
      body.writeInt32LE(-54, 0);  // EXFULL: named, not EUNKNOWN
      const [m] = native.nlParse(NETLINK_ROUTE, msg(NLMSG_ERROR, body, 0x100 | 0x200));
      assert.strictEqual(m.malformed, undefined);
      assert.deepStrictEqual([m.error, m.code, m.extack, m.extackOffset], [54, 'EXFULL', 'bad thing', 20]);
    });
  });

  describe('nlParse itself', () => {
    it('trailing bytes that are no whole message are an EBADMSG error', () => {
      const good = msg(NLMSG_DONE, Buffer.alloc(4));
      assert.throws(() => native.nlParse(NETLINK_ROUTE, Buffer.concat([good, Buffer.from([1, 2, 3])])), { code: 'EBADMSG' });
      assert.throws(() => native.nlParse(NETLINK_ROUTE, 'x' as unknown as Buffer), TypeError);
    });

    it('every errno has its name', () => {
      assert.strictEqual(native.strerror(54).code, 'EXFULL');
      assert.strictEqual(native.strerror(74).code, 'EBADMSG');
      assert.strictEqual(native.strerror(11).code, 'EAGAIN');
      assert.strictEqual(native.strerror(95).code, 'EOPNOTSUPP');
    });
  });

  describe('inputs the fuzzers found (native/fuzz/regressions)', () => {
    // Framed as harness.cc frames them: the harness's message type around the payload.
    const frame: Record<string, [number, number]> = {
      link: [NETLINK_ROUTE, RTM_NEWLINK], nft_setelem: [NETLINK_NETFILTER, NFT(NFT_MSG_NEWSETELEM)],
      nft_set: [NETLINK_NETFILTER, NFT(NFT_MSG_NEWSET)], nft_rule: [NETLINK_NETFILTER, NFT(NFT_MSG_NEWRULE)],
      route: [NETLINK_ROUTE, RTM_NEWROUTE],
    };
    const root = path.join(__dirname, '..', '..', 'native', 'fuzz', 'regressions');
    it('each decodes or is malformed, without crashing', () => {
      let n = 0;
      for (const h of fs.readdirSync(root)) {
        for (const f of fs.readdirSync(path.join(root, h))) {
          const data = fs.readFileSync(path.join(root, h, f));
          n++;
          if (h === 'nft_exprs') { try { native.nftRuleExprs(data); } catch (e: any) { assert.strictEqual(e.code, 'EBADMSG'); } continue; }
          const ms = h.startsWith('datagram_')
            ? (() => { try { return native.nlParse(h === 'datagram_nft' ? NETLINK_NETFILTER : NETLINK_ROUTE, data); } catch (e: any) { assert.strictEqual(e.code, 'EBADMSG'); return []; } })()
            : native.nlParse(frame[h][0], msg(frame[h][1], data));
          for (const m of ms) if (m.malformed) assert.strictEqual(m.malformed.code, 'EBADMSG');
        }
      }
      assert.ok(n >= 3);
    });
  });

  describe('real kernel replies (fuzz seed corpus)', () => {
    const root = path.join(__dirname, '..', '..', 'native', 'fuzz', 'corpus');
    for (const [dir, proto] of [['datagram_route', NETLINK_ROUTE], ['datagram_nft', NETLINK_NETFILTER]] as const) {
      it(`${dir}: every message decodes, nothing malformed`, function () {
        const files = fs.readdirSync(path.join(root, dir));
        assert.ok(files.length > 5, `seed corpus ${dir} present`);
        let bodies = 0;
        for (const f of files) {
          for (const m of native.nlParse(proto, fs.readFileSync(path.join(root, dir, f)))) {
            assert.strictEqual(m.malformed, undefined, `${f}: ${m.malformed?.message}`);
            if (m.type >= 16) {
              assert.ok(m.body, `${f}: type ${m.type} decoded`);
              bodies++;
              if (m.body.exprList) assert.ok(native.nftRuleExprs(m.body.exprList).every((e: any) => !e.raw), `${f}: expressions decoded`);
            } else if (m.type === NLMSG_ERROR) {
              assert.ok(typeof m.error === 'number');
            }
          }
        }
        assert.ok(bodies > 10);
      });
    }
  });
});

// The other direction: what callers hand the builders. Raw expressions go to
// the addon nearly as given (a long type name and a `raw` getter that grew
// between sizing and writing each wrote past its buffer): random ones, with
// random field values, must all end in a Buffer or a coded error.
describe('addon: random input to the nftables rule builder', () => {
  it('3,000 random raw expressions: each encodes or fails with a code, none crashes', () => {
    const { Nft } = require('../src') as typeof import('../src');
    let seed = 12345;
    const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
    const types = ['counter', 'limit', 'payload', 'meta', 'cmp', 'lookup', 'immediate', 'log', 'nat', 'masq', 'ct', 'zzz', '', 'x'.repeat(300), 'a\0b'];
    const values = (): unknown => [0, -1, 255, 256, 65536, 2 ** 32, 2 ** 32 + 7, 2 ** 53, NaN, Infinity, 1.5, 'x', 'y'.repeat(300), null, true, [], {},
      Buffer.alloc(rnd(100)), Buffer.alloc(70000), 10n][rnd(20)];
    const fields = ['sreg', 'dreg', 'base', 'offset', 'len', 'key', 'op', 'data', 'rate', 'unit', 'burst', 'type', 'flags', 'set', 'prefix', 'group', 'chain', 'verdict', 'raw'];
    let encoded = 0;
    let failed = 0;
    for (let i = 0; i < 3000; i++) {
      const expr: Record<string, unknown> = { type: types[rnd(types.length)] };
      for (let k = rnd(5); k > 0; k--) expr[fields[rnd(fields.length)]] = values();
      if (rnd(10) === 0) {
        let n = 0;
        Object.defineProperty(expr, 'raw', { get: () => (++n === 1 ? Buffer.alloc(0) : Buffer.alloc(rnd(66000))), enumerable: true });
      }
      const stmts = Array.from({ length: 1 + rnd(3) }, () => ({ expr }));
      try {
        Nft.encode((tx) => tx.addRule({ family: 'ip', table: 't', chain: 'c', stmts } as any));
        encoded++;
      } catch (e: any) {
        assert.ok(e instanceof Error && typeof (e as any).code === 'string', `case ${i} (${JSON.stringify(Object.keys(expr))}): ${e?.constructor?.name} ${e?.message}`);
        failed++;
      }
    }
    assert.ok(encoded > 0 && failed > 0, `${encoded} encoded, ${failed} refused`);
  });
});
