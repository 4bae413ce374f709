package app

import (
	"net/netip"
	"strconv"
	"time"

	"github.com/usersync/usersync/clerk"
	"github.com/usersync/usersync/httpapi"
	"github.com/usersync/usersync/migrations"
)

// facing holds the settings of a service that faces the internet: who the
// client is behind a proxy, how many buckets and connections anonymous
// traffic may take, and what counts as a Clerk session.
type facing struct {
	TrustedProxies        []netip.Prefix // TRUSTED_PROXIES
	RateLimitMaxBuckets   int            // RATE_LIMIT_MAX_BUCKETS
	DBMaxOpenConns        int            // DB_MAX_OPEN_CONNS
	MaxTokenLifetime      time.Duration  // CLERK_MAX_TOKEN_LIFETIME
	AcceptPendingSessions bool           // CLERK_ACCEPT_PENDING_SESSIONS
	RequireEmailClaim     bool           // CLERK_REQUIRE_EMAIL_CLAIM
	JWKSTTL               time.Duration  // CLERK_JWKS_TTL
}

// minAdminTokenLen is the shortest ADMIN_TOKEN accepted: 32 characters,
// e.g. `openssl rand -hex 16`, out of reach of guessing at any rate.
const minAdminTokenLen = 32

// loadFacing reads the settings of facing; bad reports a variable that is
// present but invalid, naming it, never echoing its value.
func loadFacing(getenv func(string) string, bad func(name, format string, args ...any)) facing {
	f := facing{
		RateLimitMaxBuckets: httpapi.DefaultMaxBuckets,
		DBMaxOpenConns:      migrations.DefaultMaxOpenConns,
		MaxTokenLifetime:    clerk.DefaultMaxTokenLifetime,
		JWKSTTL:             clerk.DefaultJWKSTTL,
	}
	if v := getenv("TRUSTED_PROXIES"); v != "" {
		proxies, err := httpapi.ParseTrustedProxies(v)
		if err != nil {
			bad("TRUSTED_PROXIES", "%v", err)
		}
		f.TrustedProxies = proxies
	}
	for _, n := range []struct {
		name string
		dst  *int
		max  int
	}{
		{"RATE_LIMIT_MAX_BUCKETS", &f.RateLimitMaxBuckets, httpapi.MaxBuckets},
		{"DB_MAX_OPEN_CONNS", &f.DBMaxOpenConns, 10_000},
	} {
		if v := getenv(n.name); v != "" {
			i, err := strconv.Atoi(v)
			if err != nil || i < 1 || i > n.max {
				bad(n.name, "want a whole number from 1 to %d, got %q", n.max, v)
			}
			*n.dst = i
		}
	}
	readDuration(getenv, bad, "CLERK_MAX_TOKEN_LIFETIME", &f.MaxTokenLifetime)
	readDuration(getenv, bad, "CLERK_JWKS_TTL", &f.JWKSTTL)
	readBool(getenv, bad, "CLERK_ACCEPT_PENDING_SESSIONS", &f.AcceptPendingSessions)
	readBool(getenv, bad, "CLERK_REQUIRE_EMAIL_CLAIM", &f.RequireEmailClaim)
	if v := getenv("ADMIN_TOKEN"); v != "" && len(v) < minAdminTokenLen {
		bad("ADMIN_TOKEN", "want at least %d characters (e.g. the output of `openssl rand -hex 32`)", minAdminTokenLen)
	}
	return f
}
