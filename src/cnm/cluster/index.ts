// Cluster state of global (overlay) networks in etcd v3.
export * from './store';
export * from './service';
