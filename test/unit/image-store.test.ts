import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { chainIds } from "../../src/image/store";

const sha = (s: string) => `sha256:${createHash("sha256").update(s).digest("hex")}`;

describe("ChainIDs", () => {
  test("the first is the DiffID; each next the digest of the one below, a space, and its DiffID (image-spec)", () => {
    const [a, b, c] = [sha("a"), sha("b"), sha("c")];
    const ab = sha(`${a} ${b}`);
    expect(chainIds([a, b, c])).toEqual([a, ab, sha(`${ab} ${c}`)]);
    expect(chainIds([])).toEqual([]);
  });
});
