// The environment variables of a legacy link, as Docker's daemon/links
// ToEnv writes them (no kernel: a pure function of name, address, ports).
import * as assert from 'assert';
import { envOfLink } from '../../src/cnm/links';

describe('unit: legacy link environment (Docker\'s ToEnv)', () => {
  const ip = '172.17.0.2';
  const vars = (alias: string, p: number, proto: string) => {
    const k = `${alias}_PORT_${p}_${proto.toUpperCase()}`;
    return { [k]: `${proto}://${ip}:${p}`, [`${k}_ADDR`]: ip, [`${k}_PORT`]: String(p), [`${k}_PROTO`]: proto };
  };

  it('TCP first for ALIAS_PORT; runs of one protocol get _START/_END; other protocols by name', () => {
    const env = envOfLink('/web/db', ip, [
      { port: 53, proto: 'udp' }, { port: 443, proto: 'tcp' }, { port: 81, proto: 'tcp' }, { port: 80, proto: 'tcp' },
      { port: 6001, proto: 'sctp' }, { port: 6000, proto: 'sctp' }, { port: 54, proto: 'udp' },
    ]);
    assert.deepStrictEqual(env, {
      DB_PORT: `tcp://${ip}:80`,
      ...vars('DB', 80, 'tcp'), ...vars('DB', 81, 'tcp'), ...vars('DB', 443, 'tcp'),
      DB_PORT_80_TCP_START: `tcp://${ip}:80`, DB_PORT_80_TCP_PORT_START: '80', DB_PORT_80_TCP_END: `tcp://${ip}:81`, DB_PORT_80_TCP_PORT_END: '81',
      ...vars('DB', 6000, 'sctp'), ...vars('DB', 6001, 'sctp'),
      DB_PORT_6000_SCTP_START: `sctp://${ip}:6000`, DB_PORT_6000_SCTP_PORT_START: '6000', DB_PORT_6000_SCTP_END: `sctp://${ip}:6001`, DB_PORT_6000_SCTP_PORT_END: '6001',
      ...vars('DB', 53, 'udp'), ...vars('DB', 54, 'udp'),
      DB_PORT_53_UDP_START: `udp://${ip}:53`, DB_PORT_53_UDP_PORT_START: '53', DB_PORT_53_UDP_END: `udp://${ip}:54`, DB_PORT_53_UDP_PORT_END: '54',
      DB_NAME: '/web/db',
    });
  });

  it('the alias upper-cased with dashes as underscores (other characters kept, as Docker); no ports: the name only', () => {
    assert.deepStrictEqual(envOfLink('/web/my-db.1', ip, []), { 'MY_DB.1_NAME': '/web/my-db.1' });
    assert.deepStrictEqual(envOfLink('/web/cache', ip, [{ port: 6379, proto: 'tcp' }]), { CACHE_PORT: `tcp://${ip}:6379`, ...vars('CACHE', 6379, 'tcp'), CACHE_NAME: '/web/cache' });
  });
});
