// A client of the OCI distribution API on Bun's fetch: manifests and image
// indexes (OCI and Docker schema 2), blobs, the Bearer token flow a 401's
// WWW-Authenticate starts (Docker Hub, ghcr.io, quay.io, distribution's own)
// and Basic auth, retries with back-off on transient failures, and redirects
// to blob storage followed without the registry's credentials.

import { BunkerError } from "../errors";
import type { Credentials } from "./auth";

export const MANIFEST_TYPES = {
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
} as const;

const ACCEPT = Object.values(MANIFEST_TYPES).join(", ");

export class RegistryError extends BunkerError {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = "RegistryError";
  }
}

export interface RegistryOptions {
  /** http:// instead of https:// (loopback registries, or ones named insecure). */
  plainHttp: boolean;
  /** Check the registry's certificate (off only when asked). */
  tlsVerify: boolean;
  credentials?: Credentials;
  /** How many times a transient failure is tried again. */
  retries?: number;
}

interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** WWW-Authenticate: Bearer realm="...",service="...",scope="..." */
export function parseChallenge(header: string): Challenge | null {
  const m = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!m) return null;
  const params: Record<string, string> = {};
  for (const p of m[2]!.matchAll(/(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) params[p[1]!.toLowerCase()] = (p[2] ?? p[3] ?? "").replace(/\\(.)/g, "$1");
  return { scheme: m[1]!.toLowerCase(), params };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const NETWORK_REASONS: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ENOTFOUND: "no such host",
  ETIMEDOUT: "timed out",
  ECONNRESET: "the connection was reset",
  EHOSTUNREACH: "no route to the host",
  ENETUNREACH: "no route to the network",
  CERT_HAS_EXPIRED: "its certificate has expired",
  DEPTH_ZERO_SELF_SIGNED_CERT: "its certificate is self-signed (--tls-verify=false to accept it)",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "its certificate cannot be verified (--tls-verify=false to accept it)",
};

/** A fetch failure in a few words. */
function networkReason(e: unknown): string {
  const code = (e as { code?: string }).code;
  return (code && NETWORK_REASONS[code]) ?? (e as Error).message;
}

/** Whether a status is worth trying again: the registry or something before it was busy. */
const transient = (status: number) => status === 429 || status === 502 || status === 503 || status === 504;

export class Registry {
  private token: string | undefined;
  private readonly base: string;

  constructor(
    readonly host: string,
    private readonly o: RegistryOptions,
  ) {
    this.base = `${o.plainHttp ? "http" : "https"}://${host}`;
  }

  private tls(): { tls?: { rejectUnauthorized: boolean } } {
    return this.o.tlsVerify ? {} : { tls: { rejectUnauthorized: false } };
  }

  private authHeader(): Record<string, string> {
    if (this.token) return { Authorization: `Bearer ${this.token}` };
    return {};
  }

  /** A token for `challenge`'s scope, with the user's credentials when there are some. */
  private async authenticate(challenge: Challenge, what: string): Promise<void> {
    if (challenge.scheme === "basic") {
      if (!this.o.credentials) throw new RegistryError(`${what}: the registry ${this.host} asks for a login (bunker login ${this.host})`, 401);
      this.token = undefined;
      this.basic = true;
      return;
    }
    if (challenge.scheme !== "bearer" || !challenge.params.realm) throw new RegistryError(`${what}: the registry ${this.host} asks for ${challenge.scheme} authentication, which bunker does not speak`, 401);
    const url = new URL(challenge.params.realm);
    if (challenge.params.service) url.searchParams.set("service", challenge.params.service);
    if (challenge.params.scope) url.searchParams.set("scope", challenge.params.scope);
    const headers: Record<string, string> = this.o.credentials ? { Authorization: `Basic ${btoa(`${this.o.credentials.username}:${this.o.credentials.password}`)}` } : {};
    let res: Response;
    try {
      res = await fetch(url, { headers, ...this.tls() });
    } catch (e) {
      throw new RegistryError(`${what}: the token service ${url.origin}: ${networkReason(e)}`);
    }
    if (res.status === 401 || res.status === 403) throw new RegistryError(`${what}: the registry ${this.host} refused ${this.o.credentials ? "the login" : "an anonymous pull"} (${res.status})${this.o.credentials ? "" : `: log in with bunker login ${this.host}`}`, res.status);
    if (!res.ok) throw new RegistryError(`${what}: the token service ${url.origin} answered ${res.status}`, res.status);
    let body: { token?: string; access_token?: string };
    try {
      body = (await res.json()) as typeof body;
    } catch {
      throw new RegistryError(`${what}: the token service ${url.origin} answered something that is not JSON`);
    }
    const token = body.token ?? body.access_token;
    if (!token) throw new RegistryError(`${what}: the token service ${url.origin} gave no token`);
    this.token = token;
  }

  private basic = false;

  /**
   * GET `path` below /v2/, authenticating when the registry asks, trying
   * again on transient failures. A redirect (blob storage elsewhere) is
   * followed without the registry's credentials.
   */
  async get(path: string, accept: string | undefined, what: string): Promise<Response> {
    const retries = this.o.retries ?? 3;
    let authed = false;
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { ...(accept ? { Accept: accept } : {}), ...this.authHeader() };
      if (this.basic && this.o.credentials) headers.Authorization = `Basic ${btoa(`${this.o.credentials.username}:${this.o.credentials.password}`)}`;
      let res: Response;
      try {
        res = await fetch(`${this.base}/v2/${path}`, { headers, redirect: "manual", ...this.tls() });
        if (res.status >= 300 && res.status < 400 && res.headers.get("location")) {
          const to = new URL(res.headers.get("location")!, `${this.base}/v2/${path}`);
          // Another host holds the blob: it gets none of the registry's credentials.
          res = await fetch(to, { headers: accept ? { Accept: accept } : {}, ...this.tls() });
        }
      } catch (e) {
        if (attempt < retries) {
          await sleep(200 * 2 ** attempt);
          continue;
        }
        throw new RegistryError(`${what}: cannot reach ${this.base}: ${networkReason(e)}`);
      }
      if (res.status === 401 && !authed) {
        const challenge = parseChallenge(res.headers.get("www-authenticate") ?? "");
        if (!challenge) throw new RegistryError(`${what}: the registry ${this.host} refused it (401) without saying how to authenticate`, 401);
        await this.authenticate(challenge, what);
        authed = true;
        continue;
      }
      if (transient(res.status) && attempt < retries) {
        await sleep(200 * 2 ** attempt);
        continue;
      }
      return res;
    }
  }
}

/** What a failed answer means, in a line: not found, unauthorized, or the registry's own words. */
export async function failure(res: Response, what: string): Promise<RegistryError> {
  let detail = "";
  try {
    const body = (await res.json()) as { errors?: { code?: string; message?: string }[] };
    detail = body.errors?.map((e) => e.message ?? e.code).filter(Boolean).join("; ") ?? "";
  } catch {
    // not a JSON error body
  }
  const word = res.status === 404 ? "not found" : res.status === 401 ? "unauthorized" : res.status === 403 ? "denied" : `the registry answered ${res.status}`;
  return new RegistryError(`${what}: ${word} (${res.status})${detail && res.status !== 404 ? `: ${detail}` : ""}`, res.status);
}

export { ACCEPT };
