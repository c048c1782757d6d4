// Unit tier: pure logic, no root, no namespaces, no native addon.
import * as assert from 'assert';
import { parsePublish } from '../../src/cnm/ports';

describe('unit: -p parsing', () => {
  it('reads Docker forms', () => {
    assert.deepStrictEqual(parsePublish('8080:80'), { containerPort: 80, hostPort: 8080, proto: 'tcp' });
    assert.deepStrictEqual(parsePublish('127.0.0.1:9000:9000/udp'), { containerPort: 9000, hostPort: 9000, proto: 'udp', hostIp: '127.0.0.1' });
    assert.deepStrictEqual(parsePublish('80'), { containerPort: 80, hostPort: 0, proto: 'tcp' });
  });
  it('refuses garbage with EINVAL', () => {
    assert.throws(() => parsePublish('x:80'), (e: any) => e.code === 'EINVAL');
  });
});
