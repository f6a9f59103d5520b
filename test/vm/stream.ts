// Passes a byte stream through until an end mark, holding back only what could be the start of
// the mark, so output still streams and the mark never shows. The mark is random per run, so
// the command cannot print it by accident.

export class UntilMark {
  private held = new Uint8Array(0);
  private readonly mark: Uint8Array;
  /** true once the mark has gone by; anything after it is dropped */
  ended = false;

  constructor(mark: string) {
    this.mark = new TextEncoder().encode(mark);
  }

  /** The part of `chunk` (with what was held back) that is certainly output. */
  push(chunk: Uint8Array): Uint8Array {
    if (this.ended) return new Uint8Array(0);
    const buf = new Uint8Array(this.held.length + chunk.length);
    buf.set(this.held);
    buf.set(chunk, this.held.length);
    const at = Buffer.from(buf.buffer, buf.byteOffset, buf.length).indexOf(this.mark);
    if (at >= 0) {
      this.ended = true;
      this.held = new Uint8Array(0);
      return buf.subarray(0, at);
    }
    const keep = this.partial(buf);
    this.held = buf.slice(buf.length - keep);
    return buf.subarray(0, buf.length - keep);
  }

  /** What was held back, for a stream that ended without its mark. */
  flush(): Uint8Array {
    const rest = this.held;
    this.held = new Uint8Array(0);
    return rest;
  }

  /** The length of the longest tail of `buf` that is a head of the mark. */
  private partial(buf: Uint8Array): number {
    for (let n = Math.min(this.mark.length - 1, buf.length); n > 0; n--) {
      let ok = true;
      for (let i = 0; i < n && ok; i++) ok = buf[buf.length - n + i] === this.mark[i];
      if (ok) return n;
    }
    return 0;
  }
}
