/**
 * A UDP address: an IP literal (IPv4 or IPv6, no brackets) and a port. Every layer names a datagram's
 * source or destination with this one type; the (host, port) pair is a path's identity.
 */
export interface Address {
  readonly host: string;
  readonly port: number;
}
