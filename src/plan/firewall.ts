import type { Host } from "../common/inventory.js";
import { hostCidr } from "../common/ip.js";

/** Single-address CIDRs of these hosts, in order, without repeats: the `from` of a firewall rule. */
export function hostCidrs(hosts: readonly Host[]): string[] {
  return [...new Set(hosts.map((h) => hostCidr(h.address)))];
}
