// Registry credentials where docker and podman keep them: $REGISTRY_AUTH_FILE,
// podman's $XDG_RUNTIME_DIR/containers/auth.json, then docker's
// ~/.docker/config.json ($DOCKER_CONFIG). Each holds
// {"auths": {"HOST": {"auth": base64("user:password")}}}; Docker Hub's entry
// may be named https://index.docker.io/v1/. Never printed or logged.

import { readText } from "../sys/fs";

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
