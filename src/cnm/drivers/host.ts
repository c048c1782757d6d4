// The host driver (`--network host`): the sandbox is the host's own
// namespace; nothing is made.
import { NO_KERNEL_OBJECTS, type Driver } from '../driver';

export const hostDriver: Driver = {
  name: 'host',
  caps: { iface: false, ports: false, names: false, namespace: 'host', builtinOnly: true, exclusive: false },
  ...NO_KERNEL_OBJECTS,
};
