// Unit tier: option checks of the CNM layer and the daemon (no addon, no kernel).
import * as assert from 'assert';
import { code } from './coded';
import { checkControllerOptions } from '../../src/cnm/controller-options';
import { checkDnsServers, checkExtraHosts } from '../../src/cnm/resolv-conf';
import { checkFields } from '../../src/cnm/validate';
import { check } from '../../src/daemon/validate';
import { statusOf } from '../../src/daemon/errors';
import { NETWORK_CREATE } from '../../src/daemon/mapping';


describe('unit: option checks', () => {
  it('Controller.open options: types, unknown fields, paths, pools, upstreams, firewall, all before anything is made', () => {
    assert.deepStrictEqual(checkControllerOptions(undefined), {});
    const bad: [unknown, string, RegExp][] = [
      [null, 'ERR_INVALID_ARG_TYPE', /controller options must be an object/],
      [5, 'ERR_INVALID_ARG_TYPE', /controller options must be an object/],
      [{ stateDirr: '/x' }, 'EINVAL', /unknown field "stateDirr"/],
      [{ constructor: 1 }, 'EINVAL', /unknown field "constructor"/],
      [{ lockTimeoutMs: 'abc' }, 'ERR_INVALID_ARG_TYPE', /lockTimeoutMs must be an integer/],
      [{ lockTimeoutMs: -1 }, 'EINVAL', /lockTimeoutMs/],
      [{ dns: 'no' }, 'ERR_INVALID_ARG_TYPE', /dns must be a boolean/],
      [{ icc: 'no' }, 'ERR_INVALID_ARG_TYPE', /icc/],
      [{ stateDir: '' }, 'EINVAL', /stateDir/],
      [{ runDir: 'a\0b' }, 'EINVAL', /runDir/],
      [{ defaultBridge: 'x'.repeat(20) }, 'EINVAL', /defaultBridge.*15 bytes/],
      [{ upstreamDns: '8.8.8.8' }, 'ERR_INVALID_ARG_TYPE', /upstreamDns must be a list of strings/],
      [{ upstreamDns: ['notanip'] }, 'EINVAL', /"notanip" is not an IP address/],
      [{ upstreamDns: ['fe80::1%eth0'] }, 'EINVAL', /not an IP address/],
      [{ pools: {} }, 'ERR_INVALID_ARG_TYPE', /pools/],
      [{ pools: [{ size: 'x' }] }, 'ERR_INVALID_ARG_TYPE', /pools\[0\]\.size must be an integer/],
      [{ pools: [{ base: '10.0.0.0/8' }] }, 'EINVAL', /base and size are required/],
      [{ pools: [{ base: '10.0.0.0/8', size: 4 }] }, 'EINVAL', /size: 4 does not fit/],
      [{ pools: [{ base: 'fd00::/8', size: 64 }] }, 'EINVAL', /not an IPv4 pool/],
      [{ firewall: 'x' }, 'ERR_INVALID_ARG_TYPE', /firewall must be a Firewall/],
      [{ cluster: 'etcd://x' }, 'ERR_INVALID_ARG_TYPE', /cluster must be an object/],
      [{ cluster: { toString: 1 } }, 'EINVAL', /unknown cluster option "toString"/],
    ];
    for (const [o, c, re] of bad) assert.throws(() => checkControllerOptions(o as any), code(c, re), JSON.stringify(o));
    const good = { stateDir: '/var/lib/x', pools: [{ base: '10.10.0.0/16', size: 24 }], upstreamDns: ['192.0.2.1', '2001:db8::1'], etcNetnsDir: null, firewall: null, lockTimeoutMs: 0 };
    assert.deepStrictEqual(checkControllerOptions(good), good, 'a copy of what was given, read once');
  });

  it('field checks look at own fields only: Object.prototype\'s names and a JSON __proto__ key are unknown', () => {
    const spec = { name: 'string' } as const;
    for (const k of ['constructor', 'toString', 'valueOf', 'hasOwnProperty', '__proto__']) {
      const o = JSON.parse(`{"${k}": 1}`);
      assert.throws(() => checkFields(o, 'x', spec), code('EINVAL', new RegExp(`unknown field "${k}"`)));
      assert.throws(() => check({ Name: 'n', ...o }, NETWORK_CREATE, ''), (e: any) => statusOf(e) === 400 && new RegExp(`unknown field ${k}`).test(e.message));
    }
    assert.throws(() => check({ Name: 'n', IPAM: { Config: [{ Subnet: '10.9.0.0/24', toString: 'x' }] } }, NETWORK_CREATE, ''), /unknown field IPAM\.Config\[0\]\.toString/);
  });

  it('--dns and --add-host take no zone index (resolv.conf and Docker\'s net.ParseIP take none)', () => {
    assert.throws(() => checkDnsServers(['fe80::1%eth0']), code('EINVAL', /not an IP address/));
    assert.throws(() => checkExtraHosts(['db:fe80::1%eth0']), code('EINVAL', /NAME:IP/));
    assert.deepStrictEqual(checkDnsServers(['fe80::1']), ['fe80::1']);
  });
});
