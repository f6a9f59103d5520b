// Whether the loopback guard (nat.ts) is in place, asked of the kernel with
// one nfnetlink dump rather than an nft process, so that every container
// start on the bridge can afford to check: a firewall reload (`nft flush
// ruleset`, as Debian's nftables service does on restart) removes bunker's
// table while route_localnet stays on, and the guard goes with it.

import { attrString, concat, NetlinkSocket } from "../sys/netlink";
import { Errno } from "../sys/errno";
import { GUARD_CHAIN, GUARD_RULES, TABLE } from "./nat";

const NETLINK_NETFILTER = 12;
const NFNL_SUBSYS_NFTABLES = 10;
const NFT_MSG_GETRULE = 7;
const NFTA_RULE_TABLE = 1;
const NFTA_RULE_CHAIN = 2;
const NFPROTO_IPV4 = 2;

export function guardIntact(table = TABLE): boolean {
  const nl = NetlinkSocket.open(NETLINK_NETFILTER);
  try {
    // struct nfgenmsg: family, version 0, resource id 0; then the table and chain to list.
    const body = concat([Uint8Array.of(NFPROTO_IPV4, 0, 0, 0), attrString(NFTA_RULE_TABLE, table), attrString(NFTA_RULE_CHAIN, GUARD_CHAIN)]);
    return nl.dump(`list the rules of chain ${GUARD_CHAIN} of table ip ${table}`, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETRULE, body).length >= GUARD_RULES;
  } catch (e) {
    if ((e as { errno?: number }).errno === Errno.ENOENT) return false;
    throw e;
  } finally {
    nl.close();
  }
}
