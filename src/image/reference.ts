// Image references as docker reads them: `alpine` is
// docker.io/library/alpine:latest, `ghcr.io/o/r:tag` names its registry,
// `name@sha256:...` pins a digest, `localhost:5000/x` is a registry with a
// port. Pure: no lookups.

import { BunkerError } from "../errors";

export const DEFAULT_DOMAIN = "docker.io";
const LEGACY_DOMAIN = "index.docker.io";

export interface Reference {
  /** The registry: docker.io, ghcr.io, localhost:5000. */
  domain: string;
  /** The repository within it: library/alpine, o/r. */
  path: string;
  tag?: string;
  /** sha256:<64 hex>. */
  digest?: string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_PART = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;

export class ReferenceError extends BunkerError {
  override name = "ReferenceError";
}

function checkDomain(domain: string, ref: string): void {
  const m = /^(.*?)(?::(\d+))?$/.exec(domain)!;
  const host = m[1]!;
  const ipv6 = /^\[[0-9a-fA-F:]+\]$/.test(host);
  if (!ipv6 && !host.split(".").every((p) => DOMAIN_PART.test(p))) throw new ReferenceError(`invalid reference "${ref}": "${domain}" is not a registry host`);
  if (m[2] !== undefined && (Number(m[2]) < 1 || Number(m[2]) > 65535)) throw new ReferenceError(`invalid reference "${ref}": port ${m[2]} is out of range`);
}

/** Parses a reference and fills in docker's defaults: the docker.io registry, library/ for its official images, the latest tag. */
export function parseReference(ref: string): Reference {
  if (ref === "") throw new ReferenceError("invalid reference: it is empty");
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw new ReferenceError(`invalid reference "${ref}": "${digest}" is not a sha256 digest (sha256: and 64 hex digits)`);
  }
  let tag: string | undefined;
  // A colon after the last slash starts the tag; one before it is a registry's port.
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw new ReferenceError(`invalid reference "${ref}": "${tag}" is not a tag (letters, digits, _ . -, at most 128, not starting with . or -)`);
  }
  let domain = DEFAULT_DOMAIN;
  let path = rest;
  const slash = rest.indexOf("/");
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first.includes(".") || first.includes(":") || first === "localhost" || first !== first.toLowerCase()) {
      domain = first === LEGACY_DOMAIN ? DEFAULT_DOMAIN : first;
      path = rest.slice(slash + 1);
      checkDomain(domain, ref);
    }
  }
  if (path === "") throw new ReferenceError(`invalid reference "${ref}": no repository name`);
  if (path !== path.toLowerCase()) throw new ReferenceError(`invalid reference "${ref}": repository names must be lowercase`);
  for (const c of path.split("/")) {
    if (!COMPONENT.test(c)) throw new ReferenceError(`invalid reference "${ref}": "${c}" is not a repository name component (lowercase letters and digits, with . _ __ or - between them)`);
  }
  if (domain === DEFAULT_DOMAIN && !path.includes("/")) path = `library/${path}`;
  if (`${domain}/${path}`.length > 255) throw new ReferenceError(`invalid reference "${ref}": the name is longer than 255 characters`);
  if (tag === undefined && digest === undefined) tag = "latest";
  return { domain, path, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/** The repository's full name: docker.io/library/alpine. */
export function repositoryName(r: Reference): string {
  return `${r.domain}/${r.path}`;
}

/** The full reference: docker.io/library/alpine:latest, with @digest when it has one. */
export function formatReference(r: Reference): string {
  return `${repositoryName(r)}${r.tag !== undefined ? `:${r.tag}` : ""}${r.digest !== undefined ? `@${r.digest}` : ""}`;
}

/** The short form docker shows: alpine:latest for docker.io/library/alpine:latest, o/r for docker.io/o/r. */
export function familiarName(r: Reference): string {
  let name = repositoryName(r);
  if (r.domain === DEFAULT_DOMAIN) name = r.path.startsWith("library/") ? r.path.slice("library/".length) : r.path;
  return `${name}${r.tag !== undefined ? `:${r.tag}` : ""}${r.digest !== undefined ? `@${r.digest}` : ""}`;
}

/** Where the registry answers: Docker Hub's API host for docker.io, else the domain itself. */
export function registryHost(r: Reference): string {
  return r.domain === DEFAULT_DOMAIN ? "registry-1.docker.io" : r.domain;
}

/** Registries reached over plain HTTP unless the user says otherwise: the loopback ones, as docker does. */
export function isLoopbackRegistry(domain: string): boolean {
  const host = domain.replace(/:\d+$/, "");
  return host === "localhost" || /^127\.\d+\.\d+\.\d+$/.test(host) || host === "[::1]";
}
