// A client of the daemon's socket, for the CLI (as the docker client talks to dockerd).
import * as http from 'http';
import { CnmError, errnoOf } from '../errors';
import { codeOfStatus } from './errors';
import { API_VERSION } from './server';

export class DaemonClient {
  constructor(readonly socket: string, private timeoutMs = 10 * 60 * 1000) {}

  /** One request; a status of 400 or more rejects with Docker's message and our code for the status. */
  request<T = any>(method: string, path: string, o: { query?: Record<string, string | undefined>; body?: unknown; versioned?: boolean } = {}): Promise<T> {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(o.query ?? {})) if (v !== undefined) q.set(k, v);
    const full = `${o.versioned === false ? '' : `/v${API_VERSION}`}${path}${q.toString() ? `?${q}` : ''}`;
    const payload = o.body === undefined ? undefined : Buffer.from(JSON.stringify(o.body));
    return new Promise((resolve, reject) => {
      const req = http.request({
        socketPath: this.socket, method, path: full, timeout: this.timeoutMs,
        headers: { 'User-Agent': 'cnm-cli', ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': payload.length } : {}) },
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let v: any;
          try { v = text ? JSON.parse(text) : undefined; } catch { v = text; }
          const status = res.statusCode ?? 500;
          if (status >= 400) {
            const code = codeOfStatus(status);
            const e = new CnmError(typeof v?.message === 'string' ? v.message : `daemon answered ${status}`, code, errnoOf(code));
            (e as CnmError & { httpStatus: number }).httpStatus = status;
            reject(e);
          } else resolve(v as T);
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new CnmError(`no answer from the daemon at ${this.socket}`, 'ETIMEDOUT', errnoOf('ETIMEDOUT'))));
      req.on('error', reject);
      req.end(payload);
    });
  }
}
