package web

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientKey is the key of a request's client address in the per-client
// limits: the address itself, or for IPv6 its /64, which one subscriber
// commonly holds whole. The address is the peer's, unless the peer is a
// trusted proxy: then it is the right-most address of X-Forwarded-For that
// is not a trusted proxy (the left part of the header is the client's to
// write, so only what the proxies appended is believed).
func clientKey(r *http.Request, trusted []netip.Prefix) string {
	peer := parseAddr(r.RemoteAddr)
	addr := peer
	if peer.IsValid() && isTrusted(peer, trusted) {
		hops := forwardedFor(r.Header.Values("X-Forwarded-For"))
		for i := len(hops) - 1; i >= 0; i-- {
			addr = hops[i]
			if !isTrusted(addr, trusted) {
				break
			}
		}
	}
	if !addr.IsValid() {
		return "unknown"
	}
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

// maxForwardedHops bounds how much of X-Forwarded-For is read.
const maxForwardedHops = 32

// forwardedFor parses the addresses of X-Forwarded-For headers, in order,
// at most maxForwardedHops of them (the right-most ones); a hop that is
// not an address ends the list read so far (nothing left of it can be
// believed).
func forwardedFor(values []string) []netip.Addr {
	var parts []string
	for _, v := range values {
		parts = append(parts, strings.Split(v, ",")...)
	}
	if len(parts) > maxForwardedHops {
		parts = parts[len(parts)-maxForwardedHops:]
	}
	var out []netip.Addr
	for _, p := range parts {
		a := parseAddr(strings.TrimSpace(p))
		if !a.IsValid() {
			out = out[:0]
			continue
		}
		out = append(out, a)
	}
	return out
}

// parseAddr reads an address with or without a port (and brackets).
func parseAddr(s string) netip.Addr {
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
