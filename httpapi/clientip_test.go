package httpapi

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

// TestClientIP: the client IP is the peer unless the peer is a trusted
// proxy; then it is the right-most X-Forwarded-For address that is not
// itself trusted.
func TestClientIP(t *testing.T) {
	trusted, err := ParseTrustedProxies("10.0.0.0/8, 192.0.2.10, 2001:db8:ffff::/48")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		proxies trustedProxies
		peer    string
		xff     []string // header lines
		want    string   // the bucket key
	}{
		{"no proxies: the peer", nil, "203.0.113.5:4000", []string{"198.51.100.1"}, "203.0.113.5"},
		{"untrusted peer: header ignored", trusted, "203.0.113.5:4000", []string{"198.51.100.1"}, "203.0.113.5"},
		{"trusted peer, one hop", trusted, "10.1.1.1:4000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"right-most untrusted", trusted, "10.1.1.1:4000", []string{"6.6.6.6, 198.51.100.1"}, "198.51.100.1"},
		{"trusted hops skipped", trusted, "10.1.1.1:4000", []string{"6.6.6.6, 198.51.100.1, 192.0.2.10, 10.9.9.9"}, "198.51.100.1"},
		{"several header lines", trusted, "10.1.1.1:4000", []string{"6.6.6.6", "198.51.100.1, 10.2.2.2"}, "198.51.100.1"},
		{"every hop trusted: the left-most", trusted, "10.1.1.1:4000", []string{"10.3.3.3, 10.2.2.2"}, "10.3.3.3"},
		{"no header: the proxy", trusted, "10.1.1.1:4000", nil, "10.1.1.1"},
		{"garbage stops the walk at the proxy that passed it", trusted, "10.1.1.1:4000", []string{"198.51.100.1, garbage, 10.2.2.2"}, "10.2.2.2"},
		{"with a port", trusted, "10.1.1.1:4000", []string{"198.51.100.1:5555"}, "198.51.100.1"},
		{"IPv4-mapped peer", trusted, "[::ffff:10.1.1.1]:4000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"IPv6 client: its /64", trusted, "[2001:db8:ffff::1]:4000", []string{"2001:db8:1:2:3:4:5:6"}, "2001:db8:1:2::/64"},
		{"IPv6 in brackets with a port", trusted, "10.1.1.1:4000", []string{"[2001:db8:1:2::9]:443"}, "2001:db8:1:2::/64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.peer
			for _, line := range tt.xff {
				r.Header.Add("X-Forwarded-For", line)
			}
			if got := tt.proxies.clientKey(r); got != tt.want {
				t.Errorf("client = %q, want %q", got, tt.want)
			}
		})
	}
	for _, bad := range []string{"10.0.0.0/33", "a load balancer", "10.0.0.0/8,,300.1.1.1"} {
		if _, err := ParseTrustedProxies(bad); err == nil {
			t.Errorf("ParseTrustedProxies(%q): no error", bad)
		}
	}
	if got, _ := ParseTrustedProxies("10.1.2.3/8"); len(got) != 1 || got[0] != netip.MustParsePrefix("10.0.0.0/8") {
		t.Errorf("ParseTrustedProxies(10.1.2.3/8) = %v, want 10.0.0.0/8", got)
	}
}
