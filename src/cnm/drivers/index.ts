// The driver registry: adding a driver is one module and one line here.
import type { Driver } from '../driver';
import { invalid } from '../errors';
import { bridgeDriver } from './bridge';
import { hostDriver } from './host';
import { macvlanDriver } from './macvlan';
import { nullDriver } from './null';
import { overlayDriver } from './overlay/driver';

export const DRIVERS = {
  bridge: bridgeDriver,
  host: hostDriver,
  null: nullDriver,
  macvlan: macvlanDriver,
  overlay: overlayDriver,
} satisfies Record<string, Driver>;

export type DriverName = keyof typeof DRIVERS;

export const DRIVER_NAMES = Object.keys(DRIVERS) as DriverName[];

export function isDriverName(name: unknown): name is DriverName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(DRIVERS, name);
}

export function driverFor(name: string): Driver {
  if (!isDriverName(name)) throw invalid(`unknown network driver: ${JSON.stringify(name)} (${DRIVER_NAMES.join(', ')})`);
  return DRIVERS[name];
}
