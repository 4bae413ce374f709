package httpapi_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"

	"github.com/usersync/usersync/clerk"
	"github.com/usersync/usersync/testkit"
)

const (
	msgMissingToken = "missing bearer token"
	msgInvalidToken = "invalid or expired session token"
	appOrigin       = "https://app.example.com"
)

func TestSessionTokens(t *testing.T) {
	t.Parallel()
	key := testkit.NewKey(t, "ins_test")
	other := testkit.NewKey(t, "ins_test")
	pemBytes := key.PublicPEM(t)
	srv := startServer(t, sqliteDB(t), jwtKeyEnv(t, key, appOrigin, "https://admin.example.com"))

	// A header is built right before its request is sent: the leeway
	// cases have seconds of margin, and parallel subtests may wait longer.
	type header func(t *testing.T, now time.Time) string
	fixed := func(h string) header { return func(*testing.T, time.Time) string { return h } }
	bearer := func(k *testkit.Key, sub string, edit func(c testkit.Claims, now time.Time) testkit.Claims) header {
		return func(t *testing.T, now time.Time) string {
			c := testkit.SessionClaims(sub)
			if edit != nil {
				c = edit(c, now)
			}
			return "Bearer " + k.Sign(t, c)
		}
	}
	set := func(key string, v any) func(testkit.Claims, time.Time) testkit.Claims {
		return func(c testkit.Claims, _ time.Time) testkit.Claims { return c.With(key, v) }
	}

	rejected := []struct {
		name          string
		authorization header // the whole header; "" sends none
		msg           string
		challenge     string
	}{
		{"no Authorization header", fixed(""), msgMissingToken, "Bearer"},
		{"Basic scheme", fixed("Basic dXNlcjpwYXNz"), msgMissingToken, "Bearer"},
		{"valid token under another scheme", func(t *testing.T, _ time.Time) string {
			return "Token " + key.Sign(t, testkit.SessionClaims("user_tok"))
		}, msgMissingToken, "Bearer"},
		{"raw token without a scheme", func(t *testing.T, _ time.Time) string {
			return key.Sign(t, testkit.SessionClaims("user_tok"))
		}, msgMissingToken, "Bearer"},
		{"Bearer without a token", fixed("Bearer"), msgMissingToken, "Bearer"},
		{"Bearer with blanks", fixed("Bearer   "), msgMissingToken, "Bearer"},
		{"malformed token", fixed("Bearer not-a-jwt"), msgInvalidToken, `Bearer error="invalid_token"`},
		{"three garbage segments", fixed("Bearer a.b.c"), msgInvalidToken, `Bearer error="invalid_token"`},
		{"alg none", func(t *testing.T, _ time.Time) string {
			return "Bearer " + testkit.Unsigned(t, key.KID, testkit.SessionClaims("user_tok"))
		}, msgInvalidToken, `Bearer error="invalid_token"`},
		{"HS256 keyed with the public key PEM", func(t *testing.T, _ time.Time) string {
			hmac := jose.SigningKey{Algorithm: jose.HS256, Key: []byte(pemBytes)}
			return "Bearer " + testkit.SignWith(t, hmac, key.KID, testkit.SessionClaims("user_tok"))
		}, msgInvalidToken, `Bearer error="invalid_token"`},
		{"signed by another key", bearer(other, "user_tok", nil), msgInvalidToken, `Bearer error="invalid_token"`},
		{"payload tampered", func(t *testing.T, _ time.Time) string {
			parts := strings.Split(key.Sign(t, testkit.SessionClaims("user_tok")), ".")
			payload, err := json.Marshal(testkit.SessionClaims("user_other"))
			if err != nil {
				t.Fatal(err)
			}
			parts[1] = base64.RawURLEncoding.EncodeToString(payload)
			return "Bearer " + strings.Join(parts, ".")
		}, msgInvalidToken, `Bearer error="invalid_token"`},
		{"expired beyond the leeway", bearer(key, "user_tok", func(c testkit.Claims, now time.Time) testkit.Claims {
			return c.With("iat", now.Add(-2*time.Minute)).With("nbf", now.Add(-2*time.Minute)).With("exp", now.Add(-10*time.Second))
		}), msgInvalidToken, `Bearer error="invalid_token"`},
		{"not yet valid beyond the leeway", bearer(key, "user_tok", func(c testkit.Claims, now time.Time) testkit.Claims {
			return c.With("nbf", now.Add(time.Minute))
		}), msgInvalidToken, `Bearer error="invalid_token"`},
		{"issued in the future beyond the leeway", bearer(key, "user_tok", func(c testkit.Claims, now time.Time) testkit.Claims {
			return c.With("iat", now.Add(time.Minute))
		}), msgInvalidToken, `Bearer error="invalid_token"`},
		{"wrong issuer", bearer(key, "user_tok", set("iss", "https://evil.example.com")),
			msgInvalidToken, `Bearer error="invalid_token"`},
		{"issuer over http", bearer(key, "user_tok", set("iss", "http://clerk.example.com")),
			msgInvalidToken, `Bearer error="invalid_token"`},
		{"no issuer", bearer(key, "user_tok", set("iss", nil)), msgInvalidToken, `Bearer error="invalid_token"`},
		{"azp not allowed", bearer(key, "user_tok", set("azp", "https://evil.example.com")),
			msgInvalidToken, `Bearer error="invalid_token"`},
		{"no sub", bearer(key, "user_tok", set("sub", nil)), msgInvalidToken, `Bearer error="invalid_token"`},
		{"no iat", bearer(key, "user_tok", set("iat", nil)), msgInvalidToken, `Bearer error="invalid_token"`},
	}
	for _, tt := range rejected {
		t.Run("401 "+tt.name, func(t *testing.T) {
			t.Parallel()
			req := srv.newRequest(t, http.MethodPost, "/api/auth/sync", syncBody("user_tok", "tok@example.com", "Tok"))
			if h := tt.authorization(t, time.Now()); h != "" {
				req.Header.Set("Authorization", h)
			}
			res := srv.send(t, req)
			wantError(t, res, http.StatusUnauthorized, tt.msg)
			if got := res.header.Get("WWW-Authenticate"); got != tt.challenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.challenge)
			}
		})
	}

	accepted := []struct {
		name          string
		sub           string
		authorization header
	}{
		{"expired 3 s ago, within the leeway", "user_exp3", bearer(key, "user_exp3", func(c testkit.Claims, now time.Time) testkit.Claims {
			return c.With("iat", now.Add(-time.Minute)).With("nbf", now.Add(-time.Minute)).With("exp", now.Add(-3*time.Second))
		})},
		{"valid in 3 s, within the leeway", "user_nbf3", bearer(key, "user_nbf3", func(c testkit.Claims, now time.Time) testkit.Claims {
			return c.With("nbf", now.Add(3*time.Second))
		})},
		{"issued 3 s ahead, within the leeway", "user_iat3", bearer(key, "user_iat3", func(c testkit.Claims, now time.Time) testkit.Claims {
			return c.With("iat", now.Add(3*time.Second))
		})},
		{"allowed azp", "user_azp", bearer(key, "user_azp", set("azp", appOrigin))},
		{"no azp (native app)", "user_noazp", bearer(key, "user_noazp", nil)},
		{"accounts issuer", "user_acc", bearer(key, "user_acc", set("iss", "https://happy-hippo-1.clerk.accounts.dev"))},
		{"no kid header", "user_nokid", func(t *testing.T, _ time.Time) string {
			rs := jose.SigningKey{Algorithm: jose.RS256, Key: key.Private}
			return "Bearer " + testkit.SignWith(t, rs, "", testkit.SessionClaims("user_nokid"))
		}},
		{"lower-case scheme", "user_lower", func(t *testing.T, _ time.Time) string {
			return "bearer " + key.Sign(t, testkit.SessionClaims("user_lower"))
		}},
	}
	for _, tt := range accepted {
		t.Run("200 "+tt.name, func(t *testing.T) {
			t.Parallel()
			req := srv.newRequest(t, http.MethodPost, "/api/auth/sync", syncBody(tt.sub, "ok@example.com", "Ok"))
			req.Header.Set("Authorization", tt.authorization(t, time.Now()))
			got := wantUser(t, srv.send(t, req))
			if got.ClerkUserID != tt.sub {
				t.Errorf("clerk_user_id = %q, want %q", got.ClerkUserID, tt.sub)
			}
		})
	}

	// Cleanups run once the parallel subtests above are done.
	t.Cleanup(func() { srv.wantNoUser(t, "user_tok") })
}

// TestSessionAnyAzpWithoutList: with no CLERK_AUTHORIZED_PARTIES, azp is not checked.
func TestSessionAnyAzpWithoutList(t *testing.T) {
	t.Parallel()
	key := testkit.NewKey(t, "ins_test")
	srv := startServer(t, sqliteDB(t), jwtKeyEnv(t, key))
	tok := key.Sign(t, testkit.SessionClaims("user_azp").With("azp", "https://anything.example.com"))
	wantUser(t, srv.sync(t, tok, syncBody("user_azp", "azp@example.com", "")))
}

// TestSessionJWTKeyForms: CLERK_JWT_KEY as a full PEM, as the bare base64
// body the dashboard shows, and with literal \n as .env files hold it.
func TestSessionJWTKeyForms(t *testing.T) {
	t.Parallel()
	key := testkit.NewKey(t, "ins_test")
	full := key.PublicPEM(t)
	lines := strings.Split(strings.TrimSpace(full), "\n")
	bare := strings.Join(lines[1:len(lines)-1], "")

	for name, jwtKey := range map[string]string{
		"full PEM":        full,
		"bare body":       bare,
		"literal newline": strings.ReplaceAll(strings.TrimSpace(full), "\n", `\n`),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			v, err := clerk.NewSessionVerifier(clerk.SessionConfig{JWTKey: jwtKey})
			if err != nil || v == nil {
				t.Fatalf("NewSessionVerifier = %v, %v", v, err)
			}
			s, err := v.Verify(t.Context(), key.Sign(t, testkit.SessionClaims("user_forms").With("email", "f@example.com")))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if s.UserID != "user_forms" || s.Email != "f@example.com" || s.IssuedAt.IsZero() {
				t.Errorf("session = %+v", s)
			}
		})
	}

	for name, jwtKey := range map[string]string{
		"not PEM":         "not a key",
		"private key PEM": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
	} {
		t.Run("invalid "+name, func(t *testing.T) {
			t.Parallel()
			if v, err := clerk.NewSessionVerifier(clerk.SessionConfig{JWTKey: jwtKey}); err == nil {
				t.Errorf("NewSessionVerifier(%q) = %v, nil; want an error", jwtKey, v)
			}
		})
	}
}

// jwksEnv has tokens verified against fc's JWKS, fetched with secretKey.
func jwksEnv(fc *testkit.FakeClerk, secretKey string) map[string]string {
	return map[string]string{"CLERK_SECRET_KEY": secretKey, "CLERK_API_URL": fc.APIURL()}
}

func wantFetches(t *testing.T, fc *testkit.FakeClerk, want int64) {
	t.Helper()
	if got := fc.JWKSFetches.Load(); got != want {
		t.Errorf("JWKS fetched %d times, want %d", got, want)
	}
}

func TestSessionJWKS(t *testing.T) {
	t.Parallel()
	key := testkit.NewKey(t, "ins_jwks")
	stranger := testkit.NewKey(t, "ins_unknown")

	t.Run("fetches once per kid", func(t *testing.T) {
		t.Parallel()
		fc := testkit.StartFakeClerk(t, key)
		srv := startServer(t, sqliteDB(t), jwksEnv(fc, fc.SecretKey))
		t.Run("concurrently", func(t *testing.T) {
			for i := range 10 {
				t.Run(fmt.Sprint(i), func(t *testing.T) {
					t.Parallel()
					id := fmt.Sprintf("user_jwks_%d", i)
					wantUser(t, srv.sync(t, key.Sign(t, testkit.SessionClaims(id)), syncBody(id, "j@example.com", "")))
				})
			}
		})
		for i := range 5 {
			id := fmt.Sprintf("user_jwks_seq_%d", i)
			wantUser(t, srv.sync(t, key.Sign(t, testkit.SessionClaims(id)), syncBody(id, "j@example.com", "")))
		}
		wantFetches(t, fc, 1)
		if bad := fc.BadAuths(); len(bad) != 0 {
			t.Errorf("JWKS requested with Authorization %q, want %q", bad, "Bearer "+fc.SecretKey)
		}
	})

	t.Run("unknown kid", func(t *testing.T) {
		t.Parallel()
		fc := testkit.StartFakeClerk(t, key)
		srv := startServer(t, sqliteDB(t), jwksEnv(fc, fc.SecretKey))
		res := srv.sync(t, stranger.Sign(t, testkit.SessionClaims("user_kid")), syncBody("user_kid", "k@example.com", ""))
		wantError(t, res, http.StatusUnauthorized, msgInvalidToken)
		wantFetches(t, fc, 1)
		// Forged kids do not make every request a fetch.
		for range 3 {
			res := srv.sync(t, stranger.Sign(t, testkit.SessionClaims("user_kid")), syncBody("user_kid", "k@example.com", ""))
			wantError(t, res, http.StatusUnauthorized, msgInvalidToken)
		}
		wantFetches(t, fc, 1)
		// The known kid is still served from the cache.
		wantUser(t, srv.sync(t, key.Sign(t, testkit.SessionClaims("user_kid")), syncBody("user_kid", "k@example.com", "")))
		wantFetches(t, fc, 1)
	})

	t.Run("a key of the set does not verify another key's token", func(t *testing.T) {
		t.Parallel()
		fc := testkit.StartFakeClerk(t, key)
		srv := startServer(t, sqliteDB(t), jwksEnv(fc, fc.SecretKey))
		forged := testkit.SignWith(t, jose.SigningKey{Algorithm: jose.RS256, Key: stranger.Private}, key.KID, testkit.SessionClaims("user_forged"))
		wantError(t, srv.sync(t, forged, syncBody("user_forged", "f@example.com", "")), http.StatusUnauthorized, msgInvalidToken)
	})

	t.Run("token without kid", func(t *testing.T) {
		t.Parallel()
		fc := testkit.StartFakeClerk(t, key)
		srv := startServer(t, sqliteDB(t), jwksEnv(fc, fc.SecretKey))
		tok := testkit.SignWith(t, jose.SigningKey{Algorithm: jose.RS256, Key: key.Private}, "", testkit.SessionClaims("user_nokid"))
		wantError(t, srv.sync(t, tok, syncBody("user_nokid", "n@example.com", "")), http.StatusUnauthorized, msgInvalidToken)
		wantFetches(t, fc, 0)
	})

	t.Run("JWKS server error is 503", func(t *testing.T) {
		t.Parallel()
		fc := testkit.StartFakeClerk(t, key)
		fc.JWKSStatus.Store(http.StatusInternalServerError)
		srv := startServer(t, sqliteDB(t), jwksEnv(fc, fc.SecretKey))
		res := srv.sync(t, key.Sign(t, testkit.SessionClaims("user_down")), syncBody("user_down", "d@example.com", ""))
		wantError(t, res, http.StatusServiceUnavailable, "session verification is unavailable, try again")
		srv.wantNoUser(t, "user_down")
		// Right after a failure requests answer 503 without asking Clerk again.
		fc.JWKSStatus.Store(0)
		res = srv.sync(t, key.Sign(t, testkit.SessionClaims("user_down")), syncBody("user_down", "d@example.com", ""))
		wantError(t, res, http.StatusServiceUnavailable, "session verification is unavailable, try again")
		wantFetches(t, fc, 1)
		// After the back-off the same token verifies.
		time.Sleep(clerk.JWKSFailureBackoff + 100*time.Millisecond)
		wantUser(t, srv.sync(t, key.Sign(t, testkit.SessionClaims("user_down")), syncBody("user_down", "d@example.com", "")))
		wantFetches(t, fc, 2)
	})

	t.Run("wrong secret key is 503", func(t *testing.T) {
		t.Parallel()
		fc := testkit.StartFakeClerk(t, key)
		srv := startServer(t, sqliteDB(t), jwksEnv(fc, "sk_test_wrong"))
		res := srv.sync(t, key.Sign(t, testkit.SessionClaims("user_sk")), syncBody("user_sk", "s@example.com", ""))
		wantError(t, res, http.StatusServiceUnavailable, "session verification is unavailable, try again")
		if want, bad := []string{"Bearer sk_test_wrong"}, fc.BadAuths(); fmt.Sprint(bad) != fmt.Sprint(want) {
			t.Errorf("Authorization headers seen = %q, want %q", bad, want)
		}
	})

	t.Run("Clerk unreachable is 503", func(t *testing.T) {
		t.Parallel()
		fc := testkit.StartFakeClerk(t, key)
		env := jwksEnv(fc, fc.SecretKey)
		fc.Close()
		srv := startServer(t, sqliteDB(t), env)
		res := srv.sync(t, key.Sign(t, testkit.SessionClaims("user_gone_clerk")), syncBody("user_gone_clerk", "g@example.com", ""))
		wantError(t, res, http.StatusServiceUnavailable, "session verification is unavailable, try again")
	})
}

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
