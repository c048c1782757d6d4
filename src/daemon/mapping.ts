// The one place where Docker's request fields (from the Engine API or from
// the CLI's flags) become the library's options. A field the library cannot
// honour yet is refused here by name (ENOTSUP), never dropped: to wire one
// in, replace its `notYet` with the mapping.
import * as net from 'net';
import type { DriverName, EndpointCreateOptions, IpamSubnetConfig, NetworkCreateOptions, SandboxCreateOptions } from '../cnm/types';
import type { PortSpec } from '../cnm/ports';
import { badInput, badType, notYet, unsupported } from './errors';
import { check, Spec } from './validate';

// ------------------------------------------------------------ shapes

const str = 'string' as const;
const bool = 'boolean' as const;
const int = 'integer' as const;
const strMap: Spec = { nullable: { map: str } };
const strList: Spec = { nullable: { array: str } };

export interface IpamConfig { Subnet?: string; IPRange?: string; Gateway?: string; AuxiliaryAddresses?: Record<string, string> | null }
export interface NetworkCreateRequest {
  Name: string; CheckDuplicate?: boolean; Driver?: string; Scope?: string;
  EnableIPv4?: boolean | null; EnableIPv6?: boolean | null;
  IPAM?: { Driver?: string; Config?: IpamConfig[] | null; Options?: Record<string, string> | null } | null;
  Internal?: boolean; Attachable?: boolean; Ingress?: boolean; ConfigOnly?: boolean; ConfigFrom?: { Network?: string } | null;
  Options?: Record<string, string> | null; Labels?: Record<string, string> | null;
}

/** Docker's NetworkCreateRequest (API 1.44-1.48), every field it has. */
export const NETWORK_CREATE: Spec = { required: ['Name'], object: {
  Name: str, CheckDuplicate: bool, Driver: str, Scope: str,
  EnableIPv4: { nullable: bool }, EnableIPv6: { nullable: bool },
  IPAM: { nullable: { object: {
    Driver: str, Options: strMap,
    Config: { nullable: { array: { object: { Subnet: str, IPRange: str, Gateway: str, AuxiliaryAddresses: strMap } } } },
  } } },
  Internal: bool, Attachable: bool, Ingress: bool, ConfigOnly: bool,
  ConfigFrom: { nullable: { object: { Network: str } } },
  Options: strMap, Labels: strMap,
} };

export interface EndpointSettings {
  IPAMConfig?: { IPv4Address?: string; IPv6Address?: string; LinkLocalIPs?: string[] | null } | null;
  Links?: string[] | null; Aliases?: string[] | null; MacAddress?: string; DriverOpts?: Record<string, string> | null;
  GwPriority?: number; NetworkID?: string; EndpointID?: string; Gateway?: string; IPAddress?: string; IPPrefixLen?: number;
  IPv6Gateway?: string; GlobalIPv6Address?: string; GlobalIPv6PrefixLen?: number; DNSNames?: string[] | null;
}

/** Docker's EndpointSettings as a client sends it (the read-only fields come zeroed). */
export const ENDPOINT_SETTINGS: Spec = { nullable: { object: {
  IPAMConfig: { nullable: { object: { IPv4Address: str, IPv6Address: str, LinkLocalIPs: strList } } },
  Links: strList, Aliases: strList, MacAddress: str, DriverOpts: strMap, GwPriority: int,
  NetworkID: str, EndpointID: str, Gateway: str, IPAddress: str, IPPrefixLen: int,
  IPv6Gateway: str, GlobalIPv6Address: str, GlobalIPv6PrefixLen: int, DNSNames: strList,
} } };

export const NETWORK_CONNECT: Spec = { required: ['Container'], object: { Container: str, EndpointConfig: ENDPOINT_SETTINGS } };
export const NETWORK_DISCONNECT: Spec = { required: ['Container'], object: { Container: str, Force: bool } };

export type PortBindings = Record<string, { HostIp?: string; HostPort?: string }[] | null>;

/**
 * Our sandbox create request (POST /cnm/sandboxes): the network parts of
 * Docker's container create (HostConfig.NetworkMode, PortBindings, Dns...,
 * NetworkingConfig's EndpointSettings), so a runtime does its work in one call.
 */
export interface SandboxCreateRequest {
  Id: string; Name?: string; Hostname?: string;
  /** Adopt this namespace: a path (/proc/PID/ns/net) or a pid. */
  Key?: string | number | null;
  /** none | host | container:NAME | a network's name or id; omitted: no network. */
  NetworkMode?: string;
  EndpointConfig?: EndpointSettings | null;
  PortBindings?: PortBindings | null;
  PublishAllPorts?: boolean;
  ExposedPorts?: Record<string, Record<string, never>> | null;
  Dns?: string[] | null; DnsSearch?: string[] | null; DnsOptions?: string[] | null; ExtraHosts?: string[] | null; Links?: string[] | null;
}

export const SANDBOX_CREATE: Spec = { required: ['Id'], object: {
  Id: str, Name: str, Hostname: str, Key: { nullable: { oneOf: [str, int] } }, NetworkMode: str,
  EndpointConfig: ENDPOINT_SETTINGS,
  PortBindings: { nullable: { map: { nullable: { array: { object: { HostIp: str, HostPort: str } } } } } },
  PublishAllPorts: bool, ExposedPorts: { nullable: { map: 'any-empty-object' } },
  Dns: strList, DnsSearch: strList, DnsOptions: strList, ExtraHosts: strList, Links: strList,
} };

// ------------------------------------------------------------ not yet

/**
 * Docker features the library lacks today, by API field and CLI flag (the
 * CLI refuses the flag before it builds a request; the API the field).
 */
export const NOT_YET = {
  // Links belong to the sandbox (given when it is made): a connect cannot add any.
  connectLink: { field: 'network connect with EndpointConfig.Links', flag: 'network connect --link' },
  linkLocalIp: { field: 'EndpointConfig.IPAMConfig.LinkLocalIPs', flag: '--link-local-ip' },
  driverOpts: { field: 'EndpointConfig.DriverOpts', flag: '--driver-opt' },
  gwPriority: { field: 'EndpointConfig.GwPriority', flag: '--gw-priority' },
  configOnly: { field: 'ConfigOnly', flag: '--config-only' },
  configFrom: { field: 'ConfigFrom', flag: '--config-from' },
  noIpv4: { field: 'EnableIPv4=false', flag: '--ipv4=false' },
} as const;
export type NotYet = keyof typeof NOT_YET;

/** Refusal of a missing feature, named as the caller spelled it. */
export const refuse = (what: NotYet, surface: 'api' | 'cli' = 'api') => notYet(NOT_YET[what][surface === 'api' ? 'field' : 'flag']);

const nonEmpty = (v: unknown[] | Record<string, unknown> | null | undefined) => !!v && (Array.isArray(v) ? v.length > 0 : Object.keys(v).length > 0);

// ------------------------------------------------------------ networks

function checkCidr(cidr: string, where: string): void {
  const i = cidr.indexOf('/');
  if (i < 0 || !net.isIP(cidr.slice(0, i))) throw badInput(`${where}: invalid subnet ${JSON.stringify(cidr)} (CIDR expected)`);
}

/** Docker's network create body to the library's options (like the daemon's `NetworkCreate`). */
export function networkCreateOptions(body: unknown, surface: 'api' | 'cli' = 'api', apiVersion?: number): NetworkCreateOptions {
  const b = check(body, NETWORK_CREATE, '') as NetworkCreateRequest;
  // Before API 1.48, EnableIPv4 is not a field dockerd reads (it drops it).
  if (apiVersion !== undefined && apiVersion < 1048) delete b.EnableIPv4;
  if (!b.Name) throw badInput('Name is required');
  if (b.Scope && b.Scope !== 'local') throw unsupported(`scope ${JSON.stringify(b.Scope)} (only local)`);
  if (b.Attachable) throw unsupported('Attachable (a swarm feature)');
  if (b.Ingress) throw unsupported('Ingress (a swarm feature)');
  if (b.ConfigOnly) throw refuse('configOnly', surface);
  if (b.ConfigFrom?.Network) throw refuse('configFrom', surface);
  if (b.EnableIPv4 === false) throw refuse('noIpv4', surface);
  const ipam = b.IPAM ?? {};
  if (ipam.Driver && ipam.Driver !== 'default') throw unsupported(`IPAM driver ${JSON.stringify(ipam.Driver)} (only default)`);
  if (nonEmpty(ipam.Options)) throw unsupported('IPAM options');
  const o: NetworkCreateOptions = { name: b.Name, driver: (b.Driver || 'bridge') as DriverName };
  // Each entry as it is (empty strings are Go's absent fields); the library
  // checks the addresses, and refuses an IPv6 subnet without EnableIPv6 as Docker 28 does.
  const config = (ipam.Config ?? []).map((c, i): IpamSubnetConfig => {
    const where = `IPAM.Config[${i}]`;
    if (!c.Subnet) throw badInput(`${where}.Subnet is required${c.IPRange || c.Gateway || nonEmpty(c.AuxiliaryAddresses) ? ' (IPRange, Gateway and AuxiliaryAddresses belong to a subnet)' : ''}`);
    checkCidr(c.Subnet, where);
    const e: IpamSubnetConfig = { subnet: c.Subnet };
    if (c.Gateway) e.gateway = c.Gateway;
    if (c.IPRange) e.ipRange = c.IPRange;
    if (nonEmpty(c.AuxiliaryAddresses)) e.auxAddresses = Object.fromEntries(Object.entries(c.AuxiliaryAddresses!));
    return e;
  });
  if (config.length) o.ipam = config;
  // Given (true or false), it wins over -o com.docker.network.enable_ipv6, as in dockerd.
  if (typeof b.EnableIPv6 === 'boolean') o.ipv6 = b.EnableIPv6;
  if (b.Internal) o.internal = true;
  if (b.Options && Object.keys(b.Options).length) o.options = { ...b.Options };
  if (b.Labels && Object.keys(b.Labels).length) o.labels = { ...b.Labels };
  return o;
}

// ------------------------------------------------------------ endpoints

/** Docker's EndpointSettings to endpoint options (like `docker network connect --ip --ip6 --alias`). */
export function endpointOptions(name: string, s: EndpointSettings | null | undefined, where = 'EndpointConfig', surface: 'api' | 'cli' = 'api'): EndpointCreateOptions {
  const o: EndpointCreateOptions = { name };
  if (!s) return o;
  // Links are the sandbox's (sandboxPlan takes them out before this): a connect cannot add any.
  if (nonEmpty(s.Links)) throw refuse('connectLink', surface);
  if (nonEmpty(s.IPAMConfig?.LinkLocalIPs)) throw refuse('linkLocalIp', surface);
  if (nonEmpty(s.DriverOpts)) throw refuse('driverOpts', surface);
  if (s.GwPriority) throw refuse('gwPriority', surface);
  // What a daemon reports back; a client sends them empty.
  for (const k of ['NetworkID', 'EndpointID', 'Gateway', 'IPAddress', 'IPv6Gateway', 'GlobalIPv6Address'] as const) {
    if (s[k]) throw badInput(`${where}.${k} is set by the daemon, not by the client`);
  }
  if (s.IPPrefixLen || s.GlobalIPv6PrefixLen) throw badInput(`${where}: prefix lengths are set by the daemon, not by the client`);
  if (nonEmpty(s.DNSNames)) throw badInput(`${where}.DNSNames is set by the daemon (use Aliases)`);
  if (s.IPAMConfig?.IPv4Address) o.ip = s.IPAMConfig.IPv4Address;
  if (s.IPAMConfig?.IPv6Address) o.ip6 = s.IPAMConfig.IPv6Address;
  if (nonEmpty(s.Aliases)) o.aliases = [...s.Aliases!];
  if (s.MacAddress) o.mac = s.MacAddress;
  return o;
}

// ------------------------------------------------------------ ports

const PROTOS = ['tcp', 'udp', 'sctp'];

/** A PortBindings or ExposedPorts key: "80", "80/udp", or (PortBindings) a range "80-90/tcp". */
function portKey(key: string, where: string, ranges: boolean): { port: number | string; proto: 'tcp' | 'udp' | 'sctp' } {
  const m = /^(\d+)(-\d+)?(?:\/([a-z]+))?$/.exec(key);
  if (!m || (m[2] && !ranges)) throw badInput(`${where}: invalid port ${JSON.stringify(key)} (PORT${ranges ? '[-PORT]' : ''}[/PROTO] expected)`);
  const proto = m[3] ?? 'tcp';
  if (!PROTOS.includes(proto)) throw badInput(`${where}: invalid protocol ${JSON.stringify(proto)}`);
  const ends = [Number(m[1]), ...(m[2] ? [Number(m[2].slice(1))] : [])];
  for (const p of ends) if (p < 1 || p > 65535) throw badInput(`${where}: invalid port ${p} in ${JSON.stringify(key)}`);
  // Ranges of equal lengths are the library's to check.
  return { port: m[2] ? `${m[1]}${m[2]}` : ends[0], proto: proto as 'tcp' | 'udp' | 'sctp' };
}

/**
 * Docker's HostConfig.PortBindings to the library's port specs (a key may
 * be a container range, "80-90/tcp", with a HostPort range of its length).
 * PublishAllPorts is the library's `publishAll`, over the exposed ports.
 */
export function portSpecs(r: Pick<SandboxCreateRequest, 'PortBindings'>): PortSpec[] {
  const out: PortSpec[] = [];
  for (const [key, list] of Object.entries(r.PortBindings ?? {})) {
    const { port, proto } = portKey(key, `PortBindings`, true);
    for (const [i, b] of (list?.length ? list : [{}]).entries()) {
      const hp = b.HostPort ?? '';
      if (!/^(\d+(-\d+)?)?$/.test(hp)) throw badInput(`PortBindings.${key}[${i}].HostPort: invalid ${JSON.stringify(hp)}`);
      const spec: PortSpec = { containerPort: port, proto, hostPort: hp === '' ? 0 : hp.includes('-') ? hp : Number(hp) };
      if (b.HostIp) spec.hostIp = b.HostIp.replace(/^\[(.*)\]$/, '$1');
      out.push(spec);
    }
  }
  return out;
}

// ------------------------------------------------------------ sandboxes

export interface SandboxPlan {
  sandbox: SandboxCreateOptions;
  /** The network to join (none: no endpoint, as `container:` and an omitted mode). */
  network?: string;
  endpoint?: EndpointCreateOptions;
}

/**
 * A link as Docker's ParseLink reads it: 'NAME', 'NAME:ALIAS', or the
 * '/NAME:/PARENT/ALIAS' that container inspect shows in HostConfig.Links.
 */
export function parseLinkField(s: string, where: string): string {
  const parts = s.split(':');
  if (!s || parts.length > 2) throw badInput(`${where}: bad format for links: ${JSON.stringify(s)}`);
  if (parts.length === 2 && parts[0].startsWith('/')) return `${parts[0].slice(1)}:${parts[1].slice(parts[1].lastIndexOf('/') + 1)}`;
  return s;
}

/** Our sandbox create body to the library's sandbox and endpoint options. */
export function sandboxPlan(body: unknown): SandboxPlan {
  const b = check(body, SANDBOX_CREATE, '') as SandboxCreateRequest;
  const sandbox: SandboxCreateOptions = { id: b.Id };
  // HostConfig.Links, and the endpoint's (where Docker's CLI puts them on a user-defined network): the sandbox's links.
  const links = [...(b.Links ?? []).map((l) => parseLinkField(l, 'Links')), ...(b.EndpointConfig?.Links ?? []).map((l) => parseLinkField(l, 'EndpointConfig.Links'))];
  if (links.length) sandbox.links = [...new Set(links)];
  // Docker's HostConfig.Dns, DnsSearch, DnsOptions, ExtraHosts (checked by the library).
  if (nonEmpty(b.Dns)) sandbox.dns = b.Dns!;
  if (nonEmpty(b.DnsSearch)) sandbox.dnsSearch = b.DnsSearch!;
  if (nonEmpty(b.DnsOptions)) sandbox.dnsOptions = b.DnsOptions!;
  if (nonEmpty(b.ExtraHosts)) sandbox.extraHosts = b.ExtraHosts!;
  if (b.Name) sandbox.name = b.Name;
  if (b.Hostname) sandbox.hostname = b.Hostname;
  if (b.Key !== undefined && b.Key !== null) sandbox.key = b.Key;
  const mode = b.NetworkMode ?? '';
  const ports = portSpecs(b);
  const exposed = Object.keys(b.ExposedPorts ?? {});
  for (const k of exposed) portKey(k, 'ExposedPorts', false);
  const publishAll = !!b.PublishAllPorts && exposed.length > 0;
  const noEndpoint = () => {
    if (b.EndpointConfig) throw badInput(`EndpointConfig needs a network (NetworkMode is ${JSON.stringify(mode)})`);
    if (ports.length || publishAll) throw badInput(`published ports need a network (NetworkMode is ${JSON.stringify(mode)})`);
  };
  if (mode.startsWith('container:')) {
    if (sandbox.key !== undefined) throw badInput('Key and NetworkMode container: are exclusive');
    const other = mode.slice('container:'.length);
    if (!other) throw badInput('NetworkMode container: needs a sandbox');
    noEndpoint();
    sandbox.joinSandbox = other;
    return { sandbox };
  }
  if (mode === '') { noEndpoint(); return { sandbox }; }
  if (mode === 'host') {
    if (sandbox.key !== undefined) throw badInput('Key and NetworkMode host are exclusive');
    sandbox.host = true;
  }
  const endpoint = endpointOptions(sandbox.name ?? sandbox.id, b.EndpointConfig && { ...b.EndpointConfig, Links: null });
  if (ports.length) endpoint.ports = ports;
  // Docker's ExposedPorts: what links see, published or not (an image's
  // EXPOSE does not stop a host or none container); with PublishAllPorts,
  // what the library publishes, as -P (refused where no port can be).
  if (exposed.length && (publishAll || (mode !== 'host' && mode !== 'none'))) endpoint.exposedPorts = exposed;
  if (publishAll) endpoint.publishAll = true;
  return { sandbox, network: mode === 'none' ? 'none' : mode, endpoint };
}

/** Query booleans as Docker parses them. */
export function queryBool(v: string, name: string): boolean {
  if (['1', 'true', 'True', 'TRUE'].includes(v)) return true;
  if (['0', 'false', 'False', 'FALSE', ''].includes(v)) return false;
  throw badType(`query parameter ${name}`, 'a boolean (true, false, 1 or 0)');
}
