// TCP requests a test makes to a server in a container (or on the host's side), as a client would.

/** A TCP request to the host side; resolves with what the server sent before closing. */
export async function fetchTcp(host: string, port: number): Promise<string> {
  let got = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer from ${host}:${port}`)), 5000);
    Bun.connect({
      hostname: host,
      port,
      socket: {
        data(_s, d) {
          got += new TextDecoder().decode(d);
        },
        close() {
          clearTimeout(timer);
          resolve(got);
        },
        error(_s, e) {
          clearTimeout(timer);
          reject(e);
        },
        connectError(_s, e) {
          clearTimeout(timer);
          reject(e);
        },
      },
    });
  });
}

/** Retries until a server in a just-started container answers. */
export async function fetchWhenUp(host: string, port: number, expected: string): Promise<string> {
  let last = "";
  for (let i = 0; i < 100; i++) {
    try {
      last = await fetchTcp(host, port);
      if (last.includes(expected)) return last;
    } catch (e) {
      last = String(e);
    }
    await Bun.sleep(30);
  }
  return last;
}
