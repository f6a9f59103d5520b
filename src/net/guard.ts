// Whether the loopback guard (nat.ts) is in place, asked of the kernel with
// one nfnetlink dump rather than an nft process, so that every container
// start on the bridge can afford to check: a firewall reload (`nft flush
// ruleset`, as Debian's nftables service does on restart) removes bunker's
// table while route_localnet stays on, and the guard goes with it.

import { NETLINK_NETFILTER, NFNL_SUBSYS_NFTABLES, NFPROTO_IPV4, NFT_MSG_GETRULE, NFTA_RULE } from "../sys/constants";
import { attrString, concat, NetlinkSocket } from "../sys/netlink";
import { Errno } from "../sys/errno";
import { GUARD_CHAIN, GUARD_RULES, TABLE } from "./nat";

export function guardIntact(table = TABLE): boolean {
  const nl = NetlinkSocket.open(NETLINK_NETFILTER);
  try {
    // struct nfgenmsg: family, version 0, resource id 0; then the table and chain to list.
    const body = concat([Uint8Array.of(NFPROTO_IPV4, 0, 0, 0), attrString(NFTA_RULE.TABLE, table), attrString(NFTA_RULE.CHAIN, GUARD_CHAIN)]);
    return nl.dump(`list the rules of chain ${GUARD_CHAIN} of table ip ${table}`, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETRULE, body).length >= GUARD_RULES;
  } catch (e) {
    if ((e as { errno?: number }).errno === Errno.ENOENT) return false;
    throw e;
  } finally {
    nl.close();
  }
}
