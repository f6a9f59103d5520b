// aardvark-dns's network files as bunker writes and reads them, the DNS
// messages bunker asks with, and finding the binary.

import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { checkNetworkName, formatNetworkFile, normalEntry, parseNetworkFile } from "../../src/net/aardvark-config";
import { aardvarkBinary, aardvarkPath } from "../../src/net/aardvark";
import { dnsQuery, dnsReply } from "../../src/net/dns-message";

const ID = `0123456789ab${"c".repeat(52)}`;

describe("network file", () => {
  test("first line the gateways; then id, IPv4 list, IPv6 list, names, an empty list an empty field", () => {
    const text = formatNetworkFile({
      gateways: ["10.89.0.1", "fd89::1"],
      entries: [
        { id: ID, ipv4: ["10.89.0.2"], ipv6: ["fd89::2"], names: ["web", "front", "0123456789ab"] },
        { id: "ffffffffffff", ipv4: ["10.89.0.3", "10.89.0.4"], ipv6: [], names: ["db"] },
      ],
    });
    expect(text).toBe(`10.89.0.1,fd89::1\n${ID} 10.89.0.2 fd89::2 web,front,0123456789ab\nffffffffffff 10.89.0.3,10.89.0.4  db\n`);
  });

  test("an entry is written in lower case with its short id among its names, once", () => {
    expect(normalEntry({ id: ID.toUpperCase(), ipv4: ["10.89.0.2"], ipv6: [], names: ["Web", "web", "My.Alias"] })).toEqual({
      id: ID,
      ipv4: ["10.89.0.2"],
      ipv6: [],
      names: ["web", "my.alias", "0123456789ab"],
    });
  });

  test("what would break the file's format, or aardvark-dns's parse of it, is refused", () => {
    const entry = { id: ID, ipv4: ["10.89.0.2"], ipv6: [], names: ["web"] };
    expect(() => normalEntry({ ...entry, names: ["two words"] })).toThrow(`"two words" cannot be a container's DNS name`);
    expect(() => normalEntry({ ...entry, names: ["a,b"] })).toThrow(`"a,b" cannot be a container's DNS name`);
    expect(() => normalEntry({ ...entry, names: ["line\nbreak"] })).toThrow("cannot be a container's DNS name");
    expect(() => normalEntry({ ...entry, id: "not-hex" })).toThrow(`"not-hex" is not a container id`);
    expect(() => normalEntry({ ...entry, ipv4: ["10.89.0.300"] })).toThrow(`"10.89.0.300" is not an IPv4 address`);
    expect(() => normalEntry({ ...entry, ipv6: ["fd89::2 x"] })).toThrow(`"fd89::2 x" is not an IPv6 address`);
    expect(() => normalEntry({ ...entry, ipv4: [] })).toThrow("container 0123456789ab has no address to resolve to");
    for (const bad of ["aardvark.pid", "../up", "a/b", ".hidden", "two words", ""]) expect(() => checkNetworkName(bad)).toThrow("cannot name a network's DNS file");
    expect(() => checkNetworkName("my-net_1.0")).not.toThrow();
  });

  test("a file read back gives what was written; a mangled line is dropped, a mangled gateway line makes it no file", () => {
    const f = { gateways: ["10.89.0.1"], entries: [{ id: ID, ipv4: ["10.89.0.2"], ipv6: ["fd89::2"], names: ["web", "0123456789ab"] }] };
    expect(parseNetworkFile(formatNetworkFile(f))).toEqual(f);
    expect(parseNetworkFile(`10.89.0.1\n${ID} 10.89.0.2  web\nnonsense\n`)).toEqual({
      gateways: ["10.89.0.1"],
      entries: [{ id: ID, ipv4: ["10.89.0.2"], ipv6: [], names: ["web", "0123456789ab"] }],
    });
    expect(parseNetworkFile("not-an-address\n")).toBeNull();
    expect(parseNetworkFile("")).toBeNull();
  });
});

describe("DNS messages", () => {
  test("a question for web's A records, recursion desired", () => {
    expect([...dnsQuery(0x1234, "web", 1)]).toEqual([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 3, 119, 101, 98, 0, 0, 1, 0, 1]);
    expect([...dnsQuery(7, "a.b.", 28)].slice(12)).toEqual([1, 97, 1, 98, 0, 0, 28, 0, 1]);
  });

  test("a reply's status and its A and AAAA records, names by pointer or in full", () => {
    const question = [3, 119, 101, 98, 0, 0, 1, 0, 1];
    const a = [0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 89, 0, 2];
    const aaaa = [3, 119, 101, 98, 0, 0, 28, 0, 1, 0, 0, 0, 60, 0, 16, 0xfd, 0x89, ...Array(13).fill(0), 2];
    const reply = Uint8Array.from([0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0, ...question, ...a, ...aaaa]);
    expect(dnsReply(reply)).toEqual({ id: 0x1234, rcode: 0, addresses: ["10.89.0.2", "fd89::2"] });
    const nx = Uint8Array.from([0, 9, 0x81, 0x83, 0, 1, 0, 0, 0, 0, 0, 0, ...question]);
    expect(dnsReply(nx)).toEqual({ id: 9, rcode: 3, addresses: [] });
    // a question (QR clear) and a message cut short are no reply
    expect(dnsReply(Uint8Array.from([0, 9, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, ...question]))).toBeNull();
    expect(dnsReply(reply.subarray(0, reply.length - 3))).toBeNull();
  });
});

describe("the binary", () => {
  const tmp = mkdtempSync("/tmp/bunker-aardvark-unit-");
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  test("found along PATH when not where podman's packages put it", () => {
    writeFileSync(`${tmp}/aardvark-dns`, "#!/bin/sh\n");
    chmodSync(`${tmp}/aardvark-dns`, 0o755);
    expect(aardvarkPath(`/nonexistent:${tmp}`, [])).toBe(`${tmp}/aardvark-dns`);
    expect(aardvarkPath(`/nonexistent:${tmp}`, ["/nonexistent2"])).toBe(`${tmp}/aardvark-dns`);
  });

  test("missing: one line that says which package to install", () => {
    expect(aardvarkPath("/nonexistent", ["/nonexistent2"])).toBeUndefined();
    expect(() => aardvarkBinary("/nonexistent", ["/nonexistent2"])).toThrow(
      "aardvark-dns not found: install the aardvark-dns package (containers on a user-defined network find each other by name through it)",
    );
  });
});
