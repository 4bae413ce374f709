package httpapi_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"

	"github.com/usersync/usersync/clerk"
)

const (
	msgMissingToken = "missing bearer token"
	msgInvalidToken = "invalid or expired session token"
	appOrigin       = "https://app.example.com"
)

func TestSessionTokens(t *testing.T) {
	t.Parallel()
	key := newSigningKey(t, "ins_test")
	other := newSigningKey(t, "ins_test")
	pemBytes := key.publicPEM(t)
	srv := startServer(t, sqliteDB(t), jwtKeyVerifier(t, key, appOrigin, "https://admin.example.com"))

	// A header is built right before its request is sent: the leeway
	// cases have seconds of margin, and parallel subtests may wait longer.
	type header func(t *testing.T, now time.Time) string
	fixed := func(h string) header { return func(*testing.T, time.Time) string { return h } }
	bearer := func(k *signingKey, sub string, edit func(c claims, now time.Time) claims) header {
		return func(t *testing.T, now time.Time) string {
			c := sessionClaims(sub)
			if edit != nil {
				c = edit(c, now)
			}
			return "Bearer " + k.sign(t, c)
		}
	}
	set := func(key string, v any) func(claims, time.Time) claims {
		return func(c claims, _ time.Time) claims { return c.with(key, v) }
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
			return "Token " + key.sign(t, sessionClaims("user_tok"))
		}, msgMissingToken, "Bearer"},
		{"raw token without a scheme", func(t *testing.T, _ time.Time) string {
			return key.sign(t, sessionClaims("user_tok"))
		}, msgMissingToken, "Bearer"},
		{"Bearer without a token", fixed("Bearer"), msgMissingToken, "Bearer"},
		{"Bearer with blanks", fixed("Bearer   "), msgMissingToken, "Bearer"},
		{"malformed token", fixed("Bearer not-a-jwt"), msgInvalidToken, `Bearer error="invalid_token"`},
		{"three garbage segments", fixed("Bearer a.b.c"), msgInvalidToken, `Bearer error="invalid_token"`},
		{"alg none", func(t *testing.T, _ time.Time) string {
			return "Bearer " + unsignedToken(t, key.kid, sessionClaims("user_tok"))
		}, msgInvalidToken, `Bearer error="invalid_token"`},
		{"HS256 keyed with the public key PEM", func(t *testing.T, _ time.Time) string {
			hmac := jose.SigningKey{Algorithm: jose.HS256, Key: []byte(pemBytes)}
			return "Bearer " + signToken(t, hmac, key.kid, sessionClaims("user_tok"))
		}, msgInvalidToken, `Bearer error="invalid_token"`},
		{"signed by another key", bearer(other, "user_tok", nil), msgInvalidToken, `Bearer error="invalid_token"`},
		{"payload tampered", func(t *testing.T, _ time.Time) string {
			parts := strings.Split(key.sign(t, sessionClaims("user_tok")), ".")
			payload, err := json.Marshal(sessionClaims("user_other"))
			if err != nil {
				t.Fatal(err)
			}
			parts[1] = base64.RawURLEncoding.EncodeToString(payload)
			return "Bearer " + strings.Join(parts, ".")
		}, msgInvalidToken, `Bearer error="invalid_token"`},
		{"expired beyond the leeway", bearer(key, "user_tok", func(c claims, now time.Time) claims {
			return c.with("iat", now.Add(-2*time.Minute)).with("nbf", now.Add(-2*time.Minute)).with("exp", now.Add(-10*time.Second))
		}), msgInvalidToken, `Bearer error="invalid_token"`},
		{"not yet valid beyond the leeway", bearer(key, "user_tok", func(c claims, now time.Time) claims {
			return c.with("nbf", now.Add(time.Minute))
		}), msgInvalidToken, `Bearer error="invalid_token"`},
		{"issued in the future beyond the leeway", bearer(key, "user_tok", func(c claims, now time.Time) claims {
			return c.with("iat", now.Add(time.Minute))
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
		{"expired 3 s ago, within the leeway", "user_exp3", bearer(key, "user_exp3", func(c claims, now time.Time) claims {
			return c.with("iat", now.Add(-time.Minute)).with("nbf", now.Add(-time.Minute)).with("exp", now.Add(-3*time.Second))
		})},
		{"valid in 3 s, within the leeway", "user_nbf3", bearer(key, "user_nbf3", func(c claims, now time.Time) claims {
			return c.with("nbf", now.Add(3*time.Second))
		})},
		{"issued 3 s ahead, within the leeway", "user_iat3", bearer(key, "user_iat3", func(c claims, now time.Time) claims {
			return c.with("iat", now.Add(3*time.Second))
		})},
		{"allowed azp", "user_azp", bearer(key, "user_azp", set("azp", appOrigin))},
		{"no azp (native app)", "user_noazp", bearer(key, "user_noazp", nil)},
		{"accounts issuer", "user_acc", bearer(key, "user_acc", set("iss", "https://happy-hippo-1.clerk.accounts.dev"))},
		{"no kid header", "user_nokid", func(t *testing.T, _ time.Time) string {
			rs := jose.SigningKey{Algorithm: jose.RS256, Key: key.private}
			return "Bearer " + signToken(t, rs, "", sessionClaims("user_nokid"))
		}},
		{"lower-case scheme", "user_lower", func(t *testing.T, _ time.Time) string {
			return "bearer " + key.sign(t, sessionClaims("user_lower"))
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
	key := newSigningKey(t, "ins_test")
	srv := startServer(t, sqliteDB(t), jwtKeyVerifier(t, key))
	tok := key.sign(t, sessionClaims("user_azp").with("azp", "https://anything.example.com"))
	wantUser(t, srv.sync(t, tok, syncBody("user_azp", "azp@example.com", "")))
}

// TestSessionJWTKeyForms: CLERK_JWT_KEY as a full PEM, as the bare base64
// body the dashboard shows, and with literal \n as .env files hold it.
func TestSessionJWTKeyForms(t *testing.T) {
	t.Parallel()
	key := newSigningKey(t, "ins_test")
	full := key.publicPEM(t)
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
			s, err := v.Verify(t.Context(), key.sign(t, sessionClaims("user_forms").with("email", "f@example.com")))
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

// fakeClerk is Clerk's Backend API as far as the JWKS goes.
type fakeClerk struct {
	*httptest.Server
	fetches atomic.Int64
	status  atomic.Int64 // the status /v1/jwks answers; 0 is 200

	mu       sync.Mutex
	keys     []jose.JSONWebKey
	badAuths []string // Authorization headers that were not the secret key
}

const testSecretKey = "sk_test_x"

func startFakeClerk(t *testing.T, keys ...*signingKey) *fakeClerk {
	t.Helper()
	f := &fakeClerk{}
	for _, k := range keys {
		f.keys = append(f.keys, k.jwk())
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/jwks", func(w http.ResponseWriter, r *http.Request) {
		f.fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if got := r.Header.Get("Authorization"); got != "Bearer "+testSecretKey {
			f.mu.Lock()
			f.badAuths = append(f.badAuths, got)
			f.mu.Unlock()
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"errors":[{"message":"Unauthorized","code":"authentication_invalid"}]}`)
			return
		}
		if s := f.status.Load(); s != 0 {
			w.WriteHeader(int(s))
			fmt.Fprint(w, `{"errors":[{"message":"Internal error","code":"internal_clerk_error"}]}`)
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if err := json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: f.keys}); err != nil {
			t.Errorf("encode JWKS: %v", err)
		}
	})
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

func (f *fakeClerk) verifier(t *testing.T, secretKey string) *clerk.SessionVerifier {
	t.Helper()
	v, err := clerk.NewSessionVerifier(clerk.SessionConfig{SecretKey: secretKey, APIURL: f.URL + "/v1"})
	if err != nil || v == nil {
		t.Fatalf("NewSessionVerifier(secret key) = %v, %v", v, err)
	}
	return v
}

func (f *fakeClerk) wantFetches(t *testing.T, want int64) {
	t.Helper()
	if got := f.fetches.Load(); got != want {
		t.Errorf("JWKS fetched %d times, want %d", got, want)
	}
}

func TestSessionJWKS(t *testing.T) {
	t.Parallel()
	key := newSigningKey(t, "ins_jwks")
	stranger := newSigningKey(t, "ins_unknown")

	t.Run("fetches once per kid", func(t *testing.T) {
		t.Parallel()
		fc := startFakeClerk(t, key)
		srv := startServer(t, sqliteDB(t), fc.verifier(t, testSecretKey))
		t.Run("concurrently", func(t *testing.T) {
			for i := range 10 {
				t.Run(fmt.Sprint(i), func(t *testing.T) {
					t.Parallel()
					id := fmt.Sprintf("user_jwks_%d", i)
					wantUser(t, srv.sync(t, key.sign(t, sessionClaims(id)), syncBody(id, "j@example.com", "")))
				})
			}
		})
		for i := range 5 {
			id := fmt.Sprintf("user_jwks_seq_%d", i)
			wantUser(t, srv.sync(t, key.sign(t, sessionClaims(id)), syncBody(id, "j@example.com", "")))
		}
		fc.wantFetches(t, 1)
		fc.mu.Lock()
		defer fc.mu.Unlock()
		if len(fc.badAuths) != 0 {
			t.Errorf("JWKS requested with Authorization %q, want %q", fc.badAuths, "Bearer "+testSecretKey)
		}
	})

	t.Run("unknown kid", func(t *testing.T) {
		t.Parallel()
		fc := startFakeClerk(t, key)
		srv := startServer(t, sqliteDB(t), fc.verifier(t, testSecretKey))
		res := srv.sync(t, stranger.sign(t, sessionClaims("user_kid")), syncBody("user_kid", "k@example.com", ""))
		wantError(t, res, http.StatusUnauthorized, msgInvalidToken)
		fc.wantFetches(t, 1)
		// Forged kids do not make every request a fetch.
		for range 3 {
			res := srv.sync(t, stranger.sign(t, sessionClaims("user_kid")), syncBody("user_kid", "k@example.com", ""))
			wantError(t, res, http.StatusUnauthorized, msgInvalidToken)
		}
		fc.wantFetches(t, 1)
		// The known kid is still served from the cache.
		wantUser(t, srv.sync(t, key.sign(t, sessionClaims("user_kid")), syncBody("user_kid", "k@example.com", "")))
		fc.wantFetches(t, 1)
	})

	t.Run("a key of the set does not verify another key's token", func(t *testing.T) {
		t.Parallel()
		fc := startFakeClerk(t, key)
		srv := startServer(t, sqliteDB(t), fc.verifier(t, testSecretKey))
		forged := signToken(t, jose.SigningKey{Algorithm: jose.RS256, Key: stranger.private}, key.kid, sessionClaims("user_forged"))
		wantError(t, srv.sync(t, forged, syncBody("user_forged", "f@example.com", "")), http.StatusUnauthorized, msgInvalidToken)
	})

	t.Run("token without kid", func(t *testing.T) {
		t.Parallel()
		fc := startFakeClerk(t, key)
		srv := startServer(t, sqliteDB(t), fc.verifier(t, testSecretKey))
		tok := signToken(t, jose.SigningKey{Algorithm: jose.RS256, Key: key.private}, "", sessionClaims("user_nokid"))
		wantError(t, srv.sync(t, tok, syncBody("user_nokid", "n@example.com", "")), http.StatusUnauthorized, msgInvalidToken)
		fc.wantFetches(t, 0)
	})

	t.Run("JWKS server error is 503", func(t *testing.T) {
		t.Parallel()
		fc := startFakeClerk(t, key)
		fc.status.Store(http.StatusInternalServerError)
		srv := startServer(t, sqliteDB(t), fc.verifier(t, testSecretKey))
		res := srv.sync(t, key.sign(t, sessionClaims("user_down")), syncBody("user_down", "d@example.com", ""))
		wantError(t, res, http.StatusServiceUnavailable, "session verification is unavailable, try again")
		srv.wantNoUser(t, "user_down")
		// Right after a failure requests answer 503 without asking Clerk again.
		fc.status.Store(0)
		res = srv.sync(t, key.sign(t, sessionClaims("user_down")), syncBody("user_down", "d@example.com", ""))
		wantError(t, res, http.StatusServiceUnavailable, "session verification is unavailable, try again")
		fc.wantFetches(t, 1)
		// After the back-off the same token verifies.
		time.Sleep(clerk.JWKSFailureBackoff + 100*time.Millisecond)
		wantUser(t, srv.sync(t, key.sign(t, sessionClaims("user_down")), syncBody("user_down", "d@example.com", "")))
		fc.wantFetches(t, 2)
	})

	t.Run("wrong secret key is 503", func(t *testing.T) {
		t.Parallel()
		fc := startFakeClerk(t, key)
		srv := startServer(t, sqliteDB(t), fc.verifier(t, "sk_test_wrong"))
		res := srv.sync(t, key.sign(t, sessionClaims("user_sk")), syncBody("user_sk", "s@example.com", ""))
		wantError(t, res, http.StatusServiceUnavailable, "session verification is unavailable, try again")
		fc.mu.Lock()
		defer fc.mu.Unlock()
		if want := []string{"Bearer sk_test_wrong"}; fmt.Sprint(fc.badAuths) != fmt.Sprint(want) {
			t.Errorf("Authorization headers seen = %q, want %q", fc.badAuths, want)
		}
	})

	t.Run("Clerk unreachable is 503", func(t *testing.T) {
		t.Parallel()
		fc := startFakeClerk(t, key)
		v := fc.verifier(t, testSecretKey)
		fc.Close()
		srv := startServer(t, sqliteDB(t), v)
		res := srv.sync(t, key.sign(t, sessionClaims("user_gone_clerk")), syncBody("user_gone_clerk", "g@example.com", ""))
		wantError(t, res, http.StatusServiceUnavailable, "session verification is unavailable, try again")
	})
}
