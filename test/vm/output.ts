// The harness's own output: the command's bytes pass through here, so the harness's last line
// ("vm: kernel ..., boot ..., command ...") starts on a line of its own.

let atLineStart = true;

export function passThrough(stream: "stdout" | "stderr", bytes: Uint8Array): void {
  if (bytes.length === 0) return;
  atLineStart = bytes[bytes.length - 1] === 10;
  (stream === "stdout" ? process.stdout : process.stderr).write(bytes);
}

/** One line of the harness's own, on stderr. */
export function report(line: string): void {
  process.stderr.write(`${atLineStart ? "" : "\n"}${line}\n`);
  atLineStart = true;
}
