// Names on networks made by `network create`: each container's name,
// aliases and short id, answered by aardvark-dns on the network's gateway.

import type { Lease } from "../net/ipam";
import type { NetworkRecord } from "../net/networks";

export function announce(_r: NetworkRecord, _l: Lease): void {}

export function withdraw(_r: NetworkRecord, _id: string): void {}
