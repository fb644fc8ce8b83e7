/**
 * Who asked for a need, as demand counts it (durable-objects/subsetIndex.ts): the network a
 * request came from, not the device id it states, since any client can state any id. A network is
 * an IPv4 address or an IPv6 /64 (one phone often holds a whole /64), from CF-Connecting-IP,
 * which Cloudflare sets itself; kept only as a 16-hex-digit pseudonym, never the address. A
 * request with no such header (local development) is one network, "local".
 */
import { sha256Hex } from "../storage/sha256";

export async function networkOf(connectingIp: string | undefined): Promise<string> {
  const ip = connectingIp?.trim().toLowerCase();
  if (!ip) return "local";
  return (await sha256Hex(`d2c-edge network\n${ip.includes(":") ? ipv6Prefix(ip) : ip}`)).slice(0, 16);
}

/** The first four groups of an IPv6 address, `::` expanded. */
function ipv6Prefix(ip: string): string {
  const [head, tail = ""] = ip.split("::");
  const left = head ? head.split(":") : [];
  const right = ip.includes("::") && tail ? tail.split(":") : [];
  const groups = ip.includes("::")
    ? [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right]
    : left;
  return groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ""))
    .join(":");
}
