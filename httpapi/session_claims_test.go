package httpapi_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"testing"
	"time"

	"github.com/usersync/usersync/httpapi"
)

// TestSessionTokensAreClerkSessions: beyond a valid signature, a session
// token must be one of a Clerk session: sid and exp present, a lifetime of
// at most CLERK_MAX_TOKEN_LIFETIME (10 minutes by default), and an active
// session (no sts is a version 1 token, so active); a pending one only with
// CLERK_ACCEPT_PENDING_SESSIONS. Every refusal is a 401.
func TestSessionTokensAreClerkSessions(t *testing.T) {
	t.Parallel()
	key := newSigningKey(t, "ins_claims")
	strict := startServer(t, sqliteDB(t), jwtKeyVerifier(t, key))
	pending, err := httpapi.NewSessionVerifier(httpapi.SessionConfig{JWTKey: key.publicPEM(t), AcceptPendingSessions: true})
	if err != nil {
		t.Fatal(err)
	}
	lenient := startServer(t, sqliteDB(t), pending)
	short, err := httpapi.NewSessionVerifier(httpapi.SessionConfig{JWTKey: key.publicPEM(t), MaxTokenLifetime: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	shortLived := startServer(t, sqliteDB(t), short)

	// lifetime is a token issued now that lives d.
	lifetime := func(c claims, d time.Duration) claims {
		now := time.Now()
		return c.with("iat", now).with("nbf", now.Add(-10*time.Second)).with("exp", now.Add(d))
	}
	tests := []struct {
		name string
		srv  *testServer
		edit func(c claims) claims
		want int
	}{
		{"no sid (a JWT template's token)", strict, func(c claims) claims { return c.with("sid", nil) }, 401},
		{"empty sid", strict, func(c claims) claims { return c.with("sid", "") }, 401},
		{"no exp", strict, func(c claims) claims { return c.with("exp", nil) }, 401},
		{"lives 10 min 1 s", strict, func(c claims) claims { return lifetime(c, 10*time.Minute+time.Second) }, 401},
		{"lives a day", strict, func(c claims) claims { return lifetime(c, 24*time.Hour) }, 401},
		{"lives 10 min", strict, func(c claims) claims { return lifetime(c, 10*time.Minute) }, 200},
		{"lives 60 s, as Clerk's", strict, func(c claims) claims { return lifetime(c, time.Minute) }, 200},
		{"lives 3 min, over a 2 min setting", shortLived, func(c claims) claims { return lifetime(c, 3*time.Minute) }, 401},
		{"lives 2 min, the setting", shortLived, func(c claims) claims { return lifetime(c, 2*time.Minute) }, 200},
		{"sts pending", strict, func(c claims) claims { return c.with("sts", "pending").with("v", 2) }, 401},
		{"sts pending, pending accepted", lenient, func(c claims) claims { return c.with("sts", "pending").with("v", 2) }, 200},
		{"sts active", strict, func(c claims) claims { return c.with("sts", "active").with("v", 2) }, 200},
		{"no sts (version 1)", strict, func(c claims) claims { return c }, 200},
		{"sts of an unknown status", strict, func(c claims) claims { return c.with("sts", "ended").with("v", 2) }, 401},
		{"sts not a string", lenient, func(c claims) claims { return c.with("sts", 1) }, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tok := key.sign(t, tt.edit(sessionClaims("user_claims")))
			res := tt.srv.sync(t, tok, syncBody("user_claims", "claims@example.com", ""))
			if tt.want == http.StatusOK {
				wantUser(t, res)
				return
			}
			wantError(t, res, tt.want, msgInvalidToken)
			// Refused again: a refusal is not cached as a session.
			wantError(t, tt.srv.sync(t, tok, syncBody("user_claims", "claims@example.com", "")), tt.want, msgInvalidToken)
		})
	}
}

// TestJWTKeyMustBeRSA: an EC public key is a valid PEM public key, but
// Clerk signs with RS256: it is refused when the verifier is built (the
// process stops at start) instead of answering 401 to everyone.
func TestJWTKeyMustBeRSA(t *testing.T) {
	t.Parallel()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	ecPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	if v, err := httpapi.NewSessionVerifier(httpapi.SessionConfig{JWTKey: ecPEM}); err == nil {
		t.Errorf("NewSessionVerifier(EC key) = %v, nil; want an error", v)
	}
	if _, err := httpapi.ParseJWTKey(ecPEM); err == nil {
		t.Error("ParseJWTKey(EC key): no error")
	}
}
