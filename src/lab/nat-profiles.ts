/**
 * nftables rulesets for each router behaviour, one function per profile. Each ruleset is loaded into
 * the router's own namespace, so it affects that router only. Behaviours are named as in RFC 4787
 * (NAT Behavioral Requirements for Unicast UDP): mapping (§4.1), filtering (§5), hairpinning (§6),
 * mapping refresh / timeout (§4.3). spec/lab.md records what the integration tests verify.
 *
 * What Linux netfilter does (kernel >= 5.x, checked by test/lab/profiles.test.ts):
 * - `masquerade` keeps the internal source port whenever the resulting 5-tuple is unique
 *   (nf_nat get_unique_tuple). A second destination from the same internal endpoint therefore gets
 *   the same external port: endpoint-independent mapping (§4.1) with port preservation (§4.2.1).
 *   Only when another internal host already holds that external port towards the *same* remote
 *   endpoint does the kernel pick another port — the mapping is still per 5-tuple underneath.
 * - `masquerade fully-random` skips port preservation and draws a random port for every new 5-tuple:
 *   address-and-port-dependent mapping (§4.1), i.e. a "symmetric NAT".
 * - Inbound packets are translated back only when they match a conntrack entry, i.e. come from the
 *   exact remote address and port the mapping was created towards: address-and-port-dependent
 *   filtering (§5). Endpoint-independent filtering ("full cone") would need explicit DNAT rules; no
 *   NAT profile here has it — only `open`, which does not translate at all.
 * - Unsolicited inbound packets are dropped at the router's input hook (no ICMP port unreachable)
 *   and never confirmed in conntrack, so a punching packet that arrives early does not steal the
 *   port of the outbound mapping created a moment later.
 */
import type { NatKind, RouterPlan } from './topology.js';

export interface RouterRules {
  readonly router: RouterPlan;
  /** Drop every UDP packet from the inside (profile `udp-blocked`). */
  readonly blockUdp?: boolean;
  /** Add hairpinning (RFC 4787 §6) for LAN hosts addressing this router's own public mappings. */
  readonly hairpin?: boolean;
  /** Lifetime of learned hairpin targets, normally the UDP mapping timeout. */
  readonly hairpinTimeoutSeconds?: number;
  /** Let UDP from these server endpoints reach the router itself (miniupnpd's STUN self-check). */
  readonly allowStunFrom?: { readonly addresses: readonly string[]; readonly ports: readonly number[] };
}

/** The full ruleset for one router, chosen by its plan (`nat` and `filter`). */
export function routerRuleset(rules: RouterRules): string {
  const { router } = rules;
  if (router.nat === 'none') return router.filter === 'open' ? openRules() : firewallRules(router);
  return natRules(router, router.nat, rules);
}

/**
 * `open`: the LAN is a routed public subnet; no translation and no filtering. RFC 4787 terms do not
 * apply (there is no mapping); behaviour is that of endpoint-independent mapping and filtering.
 */
function openRules(): string {
  return `# profile open: public addresses, no NAT, no filtering
table ip punchline {
  chain forward {
    type filter hook forward priority filter; policy accept;
  }
}
`;
}

/**
 * `firewall`: a routed public subnet behind a stateful firewall. Addresses are not translated (the
 * mapping is the identity, so endpoint-independent); inbound packets pass only when they belong to a
 * flow the inside started — the same remote address and port: address-and-port-dependent filtering
 * in RFC 4787 §5 terms.
 */
function firewallRules(router: RouterPlan): string {
  return `# profile firewall: public addresses, stateful filtering (RFC 4787 §5 address-and-port-dependent)
table ip punchline {
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    ct state invalid drop
    iifname "${router.inside.iface}" accept
  }
}
`;
}

/**
 * `easy` / `hard` NAT (also the routers of `cgnat`, `udp-blocked` and `portmap`).
 * easy: endpoint-independent, port-preserving mapping (RFC 4787 §4.1, §4.2.1);
 * hard: address-and-port-dependent mapping with random ports (§4.1, "symmetric NAT").
 * Both: address-and-port-dependent filtering (§5). Hairpinning (§6) only when asked for.
 */
function natRules(router: RouterPlan, kind: NatKind, rules: RouterRules): string {
  const inside = router.inside.iface;
  const masquerade = kind === 'hard' ? 'masquerade fully-random' : 'masquerade';
  const blockUdp =
    rules.blockUdp === true ? `    iifname "${inside}" meta l4proto udp drop comment "udp-blocked"\n` : '';
  const hairpin =
    rules.hairpin === true ? hairpinRules(router, rules.hairpinTimeoutSeconds ?? 120) : hairpinOffComment();
  const stun = rules.allowStunFrom;
  const allowStun =
    stun === undefined
      ? ''
      : `    iifname "wan" ip saddr { ${stun.addresses.join(', ')} } udp sport { ${stun.ports.join(', ')} } accept comment "miniupnpd STUN check (RFC 5780 CHANGE-REQUEST answers)"\n`;
  return `# profile ${kind} NAT: ${kind === 'hard' ? 'address-and-port-dependent mapping, random ports' : 'endpoint-independent port-preserving mapping'}; address-and-port-dependent filtering
table ip punchline {
  chain forward {
    type filter hook forward priority filter; policy drop;
${blockUdp}    ct state established,related accept
    ct state invalid drop
    ct status dnat accept comment "port mappings (miniupnpd) and hairpinning"
    iifname "${inside}" oifname "wan" accept
  }
  chain input {
    type filter hook input priority filter; policy accept;
    iifname "wan" ct state established,related accept
${allowStun}    iifname "wan" drop comment "unsolicited inbound: silently dropped, never confirmed in conntrack"
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan" ip saddr != ${router.wan.address} ${masquerade} comment "forwarded traffic only: the router's own sockets keep their ports"
  }
${hairpin}}
`;
}

/**
 * Hairpinning (RFC 4787 §6, REQ-9): a packet from the LAN to this router's external address and a
 * mapped port is sent back into the LAN to the internal endpoint owning that mapping, with its source
 * translated to the sender's external address and port. Linux has no built-in hairpinning for
 * dynamic mappings, so the router learns "external port -> internal endpoint" in a dynamic map from
 * every outbound packet (after translation) and DNATs LAN packets for its own address through it.
 * The SNAT to the WAN address reuses the internal endpoint's existing mapping (nf_nat keeps the
 * mapping of the same original source where it can), so the packet comes from the sender's mapping.
 * This also covers a socket sending to its *own* mapping (RFC 5780 §4.5): the packet is routed back
 * out of `lan` and arrives from that mapping. It relies on the LAN bridge not calling the IPv4 hooks
 * (build.ts turns br_netfilter's bridge-nf-call-iptables off in router namespaces): otherwise the
 * DNATed packet is bridged back towards the port it came from, which a bridge never does.
 */
function hairpinRules(router: RouterPlan, timeoutSeconds: number): string {
  const inside = router.inside.iface;
  return `  map hairpin {
    type inet_service : ipv4_addr . inet_service
    flags dynamic,timeout
    timeout ${timeoutSeconds}s
  }
  chain learn {
    type filter hook postrouting priority srcnat + 10; policy accept;
    oifname "wan" meta l4proto udp ct direction original update @hairpin { ct reply proto-dst : ct original ip saddr . ct original proto-src }
  }
  chain hairpin {
    type nat hook prerouting priority dstnat; policy accept;
    iifname "${inside}" ip daddr ${router.wan.address} meta l4proto udp dnat ip to udp dport map @hairpin
  }
  chain hairpin_source {
    type nat hook postrouting priority srcnat - 10; policy accept;
    ip saddr ${router.inside.subnet} oifname "${inside}" ct status dnat snat ip to ${router.wan.address}
  }
`;
}

function hairpinOffComment(): string {
  return '  # hairpinning off (RFC 4787 §6): LAN packets to the external address reach the router itself and are dropped\n';
}
