// Docker's bridge driver options, checked strictly: a key of ours that is
// unknown, or a bad value, is EINVAL naming it; nothing is ignored.
import * as net from 'net';
import { validateIfname } from '../../../util/ip';
import { isNetworkOption, parseBoolOption } from '../../driver';
import { invalid } from '../../errors';
import { GATEWAY_MODES, type GatewayMode } from '../../firewall';

export const BRIDGE_NAME = 'com.docker.network.bridge.name';
export const ENABLE_ICC = 'com.docker.network.bridge.enable_icc';
export const ENABLE_MASQ = 'com.docker.network.bridge.enable_ip_masquerade';
export const HOST_BINDING = 'com.docker.network.bridge.host_binding_ipv4';
export const MTU = 'com.docker.network.driver.mtu';
export const HOST_IPV4 = 'com.docker.network.host_ipv4';
export const GATEWAY_MODE_IPV4 = 'com.docker.network.bridge.gateway_mode_ipv4';
export const GATEWAY_MODE_IPV6 = 'com.docker.network.bridge.gateway_mode_ipv6';

const KNOWN = new Set([BRIDGE_NAME, ENABLE_ICC, ENABLE_MASQ, HOST_BINDING, MTU, HOST_IPV4, GATEWAY_MODE_IPV4, GATEWAY_MODE_IPV6]);

export interface BridgeOptions {
  bridge?: string;
  icc: boolean;
  masquerade: boolean;
  hostBindingIpv4?: string;
  hostIpv4?: string;
  mtu?: number;
  gatewayMode4?: GatewayMode;
  gatewayMode6?: GatewayMode;
}

export function parseBridgeOptions(o: Record<string, string>): BridgeOptions {
  for (const k of Object.keys(o)) {
    if (k.startsWith('com.docker.') && !KNOWN.has(k) && !isNetworkOption(k)) throw invalid(`unknown option for the bridge driver: ${k}`);
  }
  const out: BridgeOptions = {
    icc: o[ENABLE_ICC] === undefined ? true : parseBoolOption(ENABLE_ICC, o[ENABLE_ICC]),
    masquerade: o[ENABLE_MASQ] === undefined ? true : parseBoolOption(ENABLE_MASQ, o[ENABLE_MASQ]),
  };
  if (o[BRIDGE_NAME] !== undefined) out.bridge = validateIfname(o[BRIDGE_NAME], BRIDGE_NAME);
  for (const [key, field] of [[HOST_BINDING, 'hostBindingIpv4'], [HOST_IPV4, 'hostIpv4']] as const) {
    if (o[key] === undefined) continue;
    if (!net.isIPv4(o[key])) throw invalid(`invalid ${key}: ${JSON.stringify(o[key])} (an IPv4 address)`);
    out[field] = o[key];
  }
  for (const [key, field] of [[GATEWAY_MODE_IPV4, 'gatewayMode4'], [GATEWAY_MODE_IPV6, 'gatewayMode6']] as const) {
    if (o[key] === undefined) continue;
    if (!GATEWAY_MODES.includes(o[key] as GatewayMode)) throw invalid(`invalid ${key}: ${JSON.stringify(o[key])} (${GATEWAY_MODES.join(', ')})`);
    out[field] = o[key] as GatewayMode;
  }
  if (o[MTU] !== undefined) {
    // Decimal digits only, as Docker's strconv.Atoi ('0x5dc' and ' 1500' are refused).
    const mtu = /^[0-9]+$/.test(o[MTU]) ? Number(o[MTU]) : NaN;
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw invalid(`invalid ${MTU}: ${JSON.stringify(o[MTU])} (68 to 65535)`);
    out.mtu = mtu;
  }
  return out;
}
