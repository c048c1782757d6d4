// The null driver (`--network none`): loopback only, and no other network.
import { NO_KERNEL_OBJECTS, type Driver } from '../driver';

export const nullDriver: Driver = {
  name: 'null',
  caps: { iface: false, ports: false, names: false, namespace: 'sandbox', builtinOnly: true, exclusive: true },
  ...NO_KERNEL_OBJECTS,
};
