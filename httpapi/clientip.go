package httpapi

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// trustedProxies are the networks of TRUSTED_PROXIES: load balancers and
// proxies whose X-Forwarded-For the client IP is read from.
type trustedProxies []netip.Prefix

// ParseTrustedProxies reads TRUSTED_PROXIES: comma-separated CIDRs; a bare
// address stands for itself (a /32 or /128).
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if p, err := netip.ParsePrefix(part); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(part)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR such as 10.0.0.0/8 or an IP address", part)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

func (t trustedProxies) trusts(a netip.Addr) bool {
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientIP is the address the request came from. It is the peer, unless
// the peer is a trusted proxy: then it is the right-most address of
// X-Forwarded-For that is not itself trusted (each proxy appends the
// address it got the request from, so everything left of that address
// was written by the client and proves nothing). If every address is
// trusted, it is the left-most; if the walk meets an entry that is not an
// address, it stops at the last trusted hop, which wrote what follows it.
func (t trustedProxies) clientIP(r *http.Request) (netip.Addr, bool) {
	peer, ok := parseHop(r.RemoteAddr)
	if !ok || len(t) == 0 || !t.trusts(peer) {
		return peer, ok
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			break
		}
		client = a
		if !t.trusts(a) {
			break
		}
	}
	return client, true
}

// parseHop reads an address as RemoteAddr or X-Forwarded-For gives it:
// with or without a port, IPv6 with or without brackets.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	if err != nil {
		return netip.Addr{}, false
	}
	return a.WithZone("").Unmap(), true
}

// clientKey is the client IP as a bucket key. An IPv6 client is keyed by
// its /64: one subscriber gets a whole /64, and could otherwise take a new
// bucket with every request.
func (t trustedProxies) clientKey(r *http.Request) string {
	a, ok := t.clientIP(r)
	switch {
	case !ok:
		return r.RemoteAddr
	case a.Is6():
		return netip.PrefixFrom(a, 64).Masked().String()
	}
	return a.String()
}
