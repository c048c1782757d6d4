// cnm-netlink: container networking over netlink and nftables, from Node.
export { Netns, netnsRunDir } from './netns';
export { Rtnl } from './rtnl';
export type { RtnlOptions } from './rtnl';
export * from './rtnl/link';
export * from './rtnl/addr';
export * from './rtnl/route';
export * from './rtnl/neigh';
export * from './rtnl/events';
export { CnmError, NetlinkError, ValidationError } from './errors';
export { NetlinkConnection } from './netlink/connection';
export * as constants from './netlink/constants';
export { Controller, Network, Sandbox, Endpoint, macFromIp, CNM_LINK_GROUP } from './cnm/controller';
export type { ControllerOptions } from './cnm/controller';
export type * from './cnm/types';
export { parsePublish } from './cnm/ports';
export type { PortSpec, PortBinding } from './cnm/ports';
export { DEFAULT_POOLS } from './cnm/ipam';
export type { AddressPool } from './cnm/ipam';
