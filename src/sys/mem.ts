// Memory the child reads: strings, pointer arrays and structs laid out in
// chunks that stay referenced (and so at fixed addresses) for as long as the
// arena is alive. The child gets a copy-on-write snapshot at clone time.

import { ptr } from "bun:ffi";

const CHUNK = 16 * 1024;
const encoder = new TextEncoder();

export class Arena {
  private chunks: Uint8Array[] = [];
  private cur: Uint8Array | null = null;
  private base = 0;
  private off = 0;

  /** Reserves `size` zeroed bytes; returns the address and a view onto them. */
  alloc(size: number, align = 8): { addr: number; view: Uint8Array } {
    let start = (this.off + align - 1) & ~(align - 1);
    if (this.cur === null || start + size > this.cur.length) {
      this.cur = new Uint8Array(Math.max(CHUNK, size + align));
      this.chunks.push(this.cur);
      this.base = ptr(this.cur);
      start = (align - (this.base % align)) % align;
    }
    this.off = start + size;
    return { addr: this.base + start, view: this.cur.subarray(start, start + size) };
  }

  /** A NUL-terminated UTF-8 copy of `s`. Strings with NUL bytes are refused. */
  cstr(s: string): number {
    if (s.includes("\0")) throw new Error(`string contains a NUL byte: ${JSON.stringify(s)}`);
    const bytes = encoder.encode(s);
    const { addr, view } = this.alloc(bytes.length + 1, 1);
    view.set(bytes);
    return addr;
  }

  bytes(data: Uint8Array): number {
    const { addr, view } = this.alloc(Math.max(1, data.length), 8);
    view.set(data);
    return addr;
  }

  /** A NULL-terminated array of C strings (argv, envp). */
  strv(list: readonly string[]): number {
    const addrs = list.map((s) => this.cstr(s));
    return this.words([...addrs, 0]);
  }

  /** 64-bit little-endian words. */
  words(values: readonly (number | bigint)[]): number {
    const { addr, view } = this.alloc(values.length * 8, 8);
    const dv = new DataView(view.buffer, view.byteOffset, view.byteLength);
    values.forEach((v, i) => dv.setBigUint64(i * 8, BigInt.asUintN(64, BigInt(v)), true));
    return addr;
  }

  get size(): number {
    return this.chunks.reduce((n, c) => n + c.length, 0);
  }
}
