// Failures bunker reports as one line and an exit status (docker's codes).

export const EXIT_BUNKER = 125;
export const EXIT_NOT_EXECUTABLE = 126;
export const EXIT_NOT_FOUND = 127;

export class BunkerError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_BUNKER,
  ) {
    super(message);
    this.name = "BunkerError";
  }
}
