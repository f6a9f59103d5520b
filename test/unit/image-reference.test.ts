import { describe, expect, test } from "bun:test";
import { familiarName, formatReference, isLoopbackRegistry, parseReference, registryHost } from "../../src/image/reference";

const D = `sha256:${"a".repeat(64)}`;

describe("image references, as docker reads them", () => {
  test("docker's defaults: docker.io, library/ for official images, latest", () => {
    expect(parseReference("alpine")).toEqual({ domain: "docker.io", path: "library/alpine", tag: "latest" });
    expect(parseReference("alpine:3.20")).toEqual({ domain: "docker.io", path: "library/alpine", tag: "3.20" });
    expect(parseReference("bitnami/redis")).toEqual({ domain: "docker.io", path: "bitnami/redis", tag: "latest" });
    expect(parseReference("index.docker.io/library/debian:12")).toEqual({ domain: "docker.io", path: "library/debian", tag: "12" });
    expect(registryHost(parseReference("alpine"))).toBe("registry-1.docker.io");
  });

  test("a first component with a dot, a port or localhost is the registry", () => {
    expect(parseReference("ghcr.io/o/r:tag")).toEqual({ domain: "ghcr.io", path: "o/r", tag: "tag" });
    expect(parseReference("localhost:5000/x")).toEqual({ domain: "localhost:5000", path: "x", tag: "latest" });
    expect(parseReference("localhost/x")).toEqual({ domain: "localhost", path: "x", tag: "latest" });
    expect(parseReference("127.0.0.1:5000/a/b/c:v1")).toEqual({ domain: "127.0.0.1:5000", path: "a/b/c", tag: "v1" });
    expect(registryHost(parseReference("quay.io/x/y"))).toBe("quay.io");
  });

  test("digests, alone or with a tag", () => {
    expect(parseReference(`alpine@${D}`)).toEqual({ domain: "docker.io", path: "library/alpine", digest: D });
    expect(parseReference(`ghcr.io/o/r:1@${D}`)).toEqual({ domain: "ghcr.io", path: "o/r", tag: "1", digest: D });
    expect(formatReference(parseReference(`alpine@${D}`))).toBe(`docker.io/library/alpine@${D}`);
  });

  test("familiar names drop docker.io and library/", () => {
    expect(familiarName(parseReference("alpine"))).toBe("alpine:latest");
    expect(familiarName(parseReference("bitnami/redis:7"))).toBe("bitnami/redis:7");
    expect(familiarName(parseReference("ghcr.io/o/r:t"))).toBe("ghcr.io/o/r:t");
  });

  test("what docker refuses is a one-line error saying why", () => {
    const refused = (r: string) => {
      try {
        parseReference(r);
      } catch (e) {
        return (e as Error).message;
      }
      return "accepted";
    };
    expect(refused("")).toBe("invalid reference: it is empty");
    expect(refused("Alpine")).toMatch(/must be lowercase/);
    expect(refused("alpine:")).toMatch(/"" is not a tag/);
    expect(refused("alpine:-x")).toMatch(/is not a tag/);
    expect(refused("alpine@sha256:abc")).toMatch(/is not a sha256 digest/);
    expect(refused("a//b")).toMatch(/"" is not a repository name component/);
    expect(refused("a/-b")).toMatch(/"-b" is not a repository name component/);
    expect(refused("bad_host.:5000/x")).toMatch(/is not a registry host/);
    expect(refused("localhost:99999/x")).toMatch(/port 99999 is out of range/);
    expect(refused(`${"a".repeat(300)}`)).toMatch(/longer than 255/);
  });

  test("loopback registries are the ones reached over plain HTTP by default", () => {
    expect(["localhost:5000", "127.0.0.1:5000", "localhost", "[::1]:5000"].map(isLoopbackRegistry)).toEqual([true, true, true, true]);
    expect(["docker.io", "10.0.0.1:5000", "localhost.example.com"].map(isLoopbackRegistry)).toEqual([false, false, false]);
  });
});
