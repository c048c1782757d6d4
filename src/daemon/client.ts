// A client of the daemon's socket, for the CLI (as the docker client talks to dockerd).
import * as http from 'http';
import { CnmError, ValidationError, checkKeys, errnoOf, typeError } from '../errors';
import { codeOfStatus } from './errors';
import { API_VERSION } from './server';

export class DaemonClient {
  constructor(readonly socket: string, private timeoutMs = 10 * 60 * 1000) {}

  /**
   * One request; a status of 400 or more rejects with Docker's message and
   * our code for the status. Bad arguments reject too (never a throw).
   */
  request<T = any>(method: string, path: string, o: { query?: Record<string, string | undefined>; body?: unknown; versioned?: boolean } = {}): Promise<T> {
    let full: string;
    let payload: Buffer | undefined;
    try {
      if (typeof method !== 'string' || !/^[A-Z]+$/.test(method)) throw typeError('method', 'an HTTP method ("GET", "POST", ...)', method);
      if (typeof path !== 'string' || !path.startsWith('/')) throw typeError('path', 'a string starting with /', path);
      if (o === null || typeof o !== 'object' || Array.isArray(o)) throw typeError('request options', 'an object', o);
      checkKeys(o, ['query', 'body', 'versioned'], 'request options');
      if (o.versioned !== undefined && typeof o.versioned !== 'boolean') throw typeError('versioned', 'a boolean', o.versioned);
      const q = new URLSearchParams();
      if (o.query !== undefined && (o.query === null || typeof o.query !== 'object' || Array.isArray(o.query))) throw typeError('query', 'an object of strings', o.query);
      for (const [k, v] of Object.entries(o.query ?? {})) {
        if (v === undefined) continue;
        if (typeof v !== 'string') throw typeError(`query.${k}`, 'a string', v);
        q.set(k, v);
      }
      full = `${o.versioned === false ? '' : `/v${API_VERSION}`}${path}${q.toString() ? `?${q}` : ''}`;
      if (o.body !== undefined) {
        let text: string | undefined;
        try { text = JSON.stringify(o.body); } catch (e) { throw new ValidationError(`request body is not JSON: ${(e as Error).message}`); }
        if (text === undefined) throw typeError('body', 'a JSON value', o.body);
        payload = Buffer.from(text);
      }
    } catch (e) {
      return Promise.reject(e);
    }
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
