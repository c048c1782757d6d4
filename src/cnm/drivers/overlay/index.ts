// The overlay driver's per-host data path (bridge + VXLAN + static peer table).
export * from './datapath';
export * from './peersync';
