// The names a shell offers when it completes a container or an image: read
// on every TAB, so nothing is made, fixed or waited for, and a store that is
// not there (or cannot be read) has none.

import { fileType } from "../sys/fs";
import { stateDirPath } from "./state";
import { currentStatus, listStates } from "./store";
import { hexOf, listImages, storeRoot } from "../image/store";
import { familiarName, parseReference } from "../image/reference";

/** Each container's id and name (running ones only, with `running`). */
export function containerNames(running: boolean): string[] {
  if (fileType(stateDirPath()) !== "dir") return [];
  try {
    return listStates()
      .filter((s) => !running || currentStatus(s) === "running")
      .flatMap((s) => (s.name !== undefined ? [s.name, s.id] : [s.id]));
  } catch {
    return [];
  }
}

/** Each image's names as `images` shows them, and the short id of one without a name. */
export function imageNames(): string[] {
  const root = storeRoot();
  if (fileType(`${root}/images`) !== "dir") return [];
  try {
    return listImages(root).flatMap((i) => (i.names.length ? i.names.map((n) => familiarName(parseReference(n))) : [hexOf(i.id).slice(0, 12)]));
  } catch {
    return [];
  }
}
