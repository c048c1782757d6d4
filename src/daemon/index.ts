// The daemon (Docker's Engine API, network part) and what it is made of.
export { Daemon, API_VERSION, MIN_API_VERSION, DEFAULT_SOCKET, socketAnswers } from './server';
export type { DaemonOptions } from './server';
export { DaemonClient } from './client';
export * as service from './service';
export * as mapping from './mapping';
export { statusOf } from './errors';
