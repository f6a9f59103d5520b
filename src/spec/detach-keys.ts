// --detach-keys: docker's key sequence that leaves an attached container
// running ("ctrl-p,ctrl-q" by default): keys separated by commas, each one
// character or ctrl- and a letter or one of @ [ \ ] ^ _.

import { SpecError } from "./validate";

export const DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q";

export function parseDetachKeys(value: string): number[] {
  if (value === "") return parseDetachKeys(DEFAULT_DETACH_KEYS);
  return value.split(",").map((key) => {
    const ctrl = key.match(/^ctrl-(.)$/i);
    if (ctrl) {
      const c = ctrl[1]!;
      if (/^[a-z]$/i.test(c)) return c.toLowerCase().charCodeAt(0) - 96;
      const i = "@[\\]^_".indexOf(c);
      if (i >= 0) return i === 0 ? 0 : 26 + i;
    } else if (key.length === 1) return key.charCodeAt(0);
    throw new SpecError(`--detach-keys ${value}: "${key}" is not a key (use one character, or ctrl- with a-z, @, [, \\, ], ^ or _)`);
  });
}

/**
 * Watches input for the key sequence: feed gives back what to pass on (a
 * partial match is held until it is known not to be one) and whether the
 * sequence was typed.
 */
export class DetachKeys {
  private held: number[] = [];
  constructor(private readonly keys: readonly number[]) {}

  feed(bytes: Uint8Array): { pass: Uint8Array; detach: boolean } {
    const out: number[] = [];
    for (const b of bytes) {
      if (b === this.keys[this.held.length]) {
        this.held.push(b);
        if (this.held.length === this.keys.length) return { pass: new Uint8Array(out), detach: true };
        continue;
      }
      out.push(...this.held);
      this.held = [];
      if (b === this.keys[0]) this.held.push(b);
      else out.push(b);
    }
    return { pass: new Uint8Array(out), detach: false };
  }
}
