// The host driver (`--network host`): the sandbox is the host's own
// namespace; nothing is made.
import type { Driver } from '../driver';

export const hostDriver: Driver = {
  name: 'host',
  caps: { iface: false, ports: false, names: false, namespace: 'host', builtinOnly: true, exclusive: false },
  async validate() {},
  async createNetwork() {},
  async deleteNetwork() {},
  async restoreNetwork() {},
  async join() { return {}; },
  async leave() {},
};
