// The null driver (`--network none`): loopback only, and no other network.
import type { Driver } from '../driver';

export const nullDriver: Driver = {
  name: 'null',
  caps: { iface: false, ports: false, names: false, namespace: 'sandbox', builtinOnly: true, exclusive: true },
  async validate() {},
  async createNetwork() {},
  async deleteNetwork() {},
  async restoreNetwork() {},
  async join() { return {}; },
  async leave() {},
};
