// Registry credentials where docker and podman keep them: $REGISTRY_AUTH_FILE,
// podman's $XDG_RUNTIME_DIR/containers/auth.json, then docker's
// ~/.docker/config.json ($DOCKER_CONFIG). Each holds
// {"auths": {"HOST": {"auth": base64("user:password")}}}; Docker Hub's entry
// may be named https://index.docker.io/v1/. Never printed or logged.

import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { readText, writeAtomic } from "../sys/fs";

export interface Credentials {
  username: string;
  password: string;
}

/** The files credentials are looked up in, in order. */
export function authFiles(env: Record<string, string | undefined> = process.env): string[] {
  const out: string[] = [];
  if (env.REGISTRY_AUTH_FILE) out.push(env.REGISTRY_AUTH_FILE);
  if (env.XDG_RUNTIME_DIR) out.push(`${env.XDG_RUNTIME_DIR}/containers/auth.json`);
  const docker = env.DOCKER_CONFIG ?? (env.HOME ? `${env.HOME}/.docker` : undefined);
  if (docker) out.push(`${docker}/config.json`);
  return out;
}

/** The names an entry for `domain` may go by. */
function keysFor(domain: string): string[] {
  if (domain === "docker.io") return ["docker.io", "index.docker.io", "registry-1.docker.io", "https://index.docker.io/v1/", "https://index.docker.io/v1"];
  return [domain, `https://${domain}`, `http://${domain}`, `https://${domain}/v1/`, `https://${domain}/v2/`];
}

/** Credentials for `domain` from the first file that has an entry for it. */
export function credentialsFor(domain: string, files: readonly string[] = authFiles()): Credentials | undefined {
  for (const file of files) {
    let config: { auths?: Record<string, { auth?: string; username?: string; password?: string }> };
    try {
      config = JSON.parse(readText(file, 1 << 20));
    } catch {
      // missing or not JSON: the next file
      continue;
    }
    for (const key of keysFor(domain)) {
      const entry = config.auths?.[key];
      if (!entry) continue;
      if (entry.username && entry.password) return { username: entry.username, password: entry.password };
      if (entry.auth) {
        const text = Buffer.from(entry.auth, "base64").toString("utf8");
        const colon = text.indexOf(":");
        if (colon > 0) return { username: text.slice(0, colon), password: text.slice(colon + 1) };
      }
    }
  }
  return undefined;
}

/** Where bunker login writes: $REGISTRY_AUTH_FILE, else docker's config.json, which docker, podman and bunker all read. */
export function loginFile(env: Record<string, string | undefined> = process.env): string {
  if (env.REGISTRY_AUTH_FILE) return env.REGISTRY_AUTH_FILE;
  const docker = env.DOCKER_CONFIG ?? `${env.HOME ?? "/root"}/.docker`;
  return `${docker}/config.json`;
}

type AuthConfig = { auths?: Record<string, unknown> } & Record<string, unknown>;

function readConfig(file: string): AuthConfig {
  let text: string;
  try {
    text = readText(file, 1 << 20);
  } catch {
    // none yet
    return {};
  }
  try {
    const v = JSON.parse(text);
    if (typeof v === "object" && v !== null && !Array.isArray(v)) return v as AuthConfig;
  } catch {
    // fall through: not JSON
  }
  throw new Error(`${file} is not a JSON object: bunker will not overwrite it`);
}

/** Records `creds` for `domain` in `file`, keeping whatever else it holds; the file is the user's alone (0600). */
export function saveCredentials(file: string, domain: string, creds: Credentials): void {
  const config = readConfig(file);
  const key = domain === "docker.io" ? "https://index.docker.io/v1/" : domain;
  config.auths = { ...config.auths, [key]: { auth: Buffer.from(`${creds.username}:${creds.password}`).toString("base64") } };
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeAtomic(file, `${JSON.stringify(config, null, "\t")}\n`, 0o600);
}

/** Removes `domain`'s entries from every file that has one; returns the files changed. */
export function removeCredentials(domain: string, files: readonly string[] = authFiles()): string[] {
  const changed: string[] = [];
  for (const file of files) {
    let config: AuthConfig;
    try {
      config = readConfig(file);
    } catch {
      // not JSON: not ours to rewrite
      continue;
    }
    const auths = { ...(config.auths ?? {}) } as Record<string, unknown>;
    let removed = false;
    for (const key of keysFor(domain)) if (key in auths) removed = delete auths[key];
    if (!removed) continue;
    writeAtomic(file, `${JSON.stringify({ ...config, auths }, null, "\t")}\n`, 0o600);
    changed.push(file);
  }
  return changed;
}
