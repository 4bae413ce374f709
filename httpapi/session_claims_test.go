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

	"github.com/usersync/usersync/clerk"
	"github.com/usersync/usersync/testkit"
)

// TestSessionTokensAreClerkSessions: beyond a valid signature, a session
// token must be one of a Clerk session: sid and exp present, a lifetime of
// at most CLERK_MAX_TOKEN_LIFETIME (10 minutes by default), and an active
// session (no sts is a version 1 token, so active); a pending one only with
// CLERK_ACCEPT_PENDING_SESSIONS. Every refusal is a 401.
func TestSessionTokensAreClerkSessions(t *testing.T) {
	t.Parallel()
	key := testkit.NewKey(t, "ins_claims")
	strict := startServer(t, sqliteDB(t), jwtKeyEnv(t, key))
	lenient := startServer(t, sqliteDB(t), map[string]string{"CLERK_JWT_KEY": key.PublicPEM(t), "CLERK_ACCEPT_PENDING_SESSIONS": "true"})
	shortLived := startServer(t, sqliteDB(t), map[string]string{"CLERK_JWT_KEY": key.PublicPEM(t), "CLERK_MAX_TOKEN_LIFETIME": "2m"})

	// lifetime is a token issued now that lives d.
	lifetime := func(c testkit.Claims, d time.Duration) testkit.Claims {
		now := time.Now()
		return c.With("iat", now).With("nbf", now.Add(-10*time.Second)).With("exp", now.Add(d))
	}
	tests := []struct {
		name string
		srv  *testServer
		edit func(c testkit.Claims) testkit.Claims
		want int
	}{
		{"no sid (a JWT template's token)", strict, func(c testkit.Claims) testkit.Claims { return c.With("sid", nil) }, 401},
		{"empty sid", strict, func(c testkit.Claims) testkit.Claims { return c.With("sid", "") }, 401},
		{"no exp", strict, func(c testkit.Claims) testkit.Claims { return c.With("exp", nil) }, 401},
		{"lives 10 min 1 s", strict, func(c testkit.Claims) testkit.Claims { return lifetime(c, 10*time.Minute+time.Second) }, 401},
		{"lives a day", strict, func(c testkit.Claims) testkit.Claims { return lifetime(c, 24*time.Hour) }, 401},
		{"lives 10 min", strict, func(c testkit.Claims) testkit.Claims { return lifetime(c, 10*time.Minute) }, 200},
		{"lives 60 s, as Clerk's", strict, func(c testkit.Claims) testkit.Claims { return lifetime(c, time.Minute) }, 200},
		{"lives 3 min, over a 2 min setting", shortLived, func(c testkit.Claims) testkit.Claims { return lifetime(c, 3*time.Minute) }, 401},
		{"lives 2 min, the setting", shortLived, func(c testkit.Claims) testkit.Claims { return lifetime(c, 2*time.Minute) }, 200},
		{"sts pending", strict, func(c testkit.Claims) testkit.Claims { return c.With("sts", "pending").With("v", 2) }, 401},
		{"sts pending, pending accepted", lenient, func(c testkit.Claims) testkit.Claims { return c.With("sts", "pending").With("v", 2) }, 200},
		{"sts active", strict, func(c testkit.Claims) testkit.Claims { return c.With("sts", "active").With("v", 2) }, 200},
		{"no sts (version 1)", strict, func(c testkit.Claims) testkit.Claims { return c }, 200},
		{"sts of an unknown status", strict, func(c testkit.Claims) testkit.Claims { return c.With("sts", "ended").With("v", 2) }, 401},
		{"sts not a string", lenient, func(c testkit.Claims) testkit.Claims { return c.With("sts", 1) }, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tok := key.Sign(t, tt.edit(testkit.SessionClaims("user_claims")))
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
	if v, err := clerk.NewSessionVerifier(clerk.SessionConfig{JWTKey: ecPEM}); err == nil {
		t.Errorf("NewSessionVerifier(EC key) = %v, nil; want an error", v)
	}
	if _, err := clerk.ParseJWTKey(ecPEM); err == nil {
		t.Error("ParseJWTKey(EC key): no error")
	}
}
