package testkit

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"maps"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/go-jose/go-jose/v3/jwt"

	"github.com/usersync/usersync/clerk"
)

// Issuer passes clerk-sdk-go's issuer check (an https://clerk.… issuer).
const Issuer = "https://clerk.example.com"

// Key plays a Clerk instance's signing key: an RSA pair whose public half
// the server gets as CLERK_JWT_KEY or through a JWKS.
type Key struct {
	Private *rsa.PrivateKey
	KID     string
}

// NewKey returns a new RSA-2048 key named kid.
func NewKey(t testing.TB, kid string) *Key {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &Key{Private: k, KID: kid}
}

// PublicPEM is the public key as CLERK_JWT_KEY holds it (PKIX PEM).
func (k *Key) PublicPEM(t testing.TB) string {
	t.Helper()
	s, err := clerk.PublicKeyPEM(&k.Private.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// JWK is the public key as Clerk's JWKS lists it.
func (k *Key) JWK() jose.JSONWebKey {
	return jose.JSONWebKey{Key: &k.Private.PublicKey, KeyID: k.KID, Algorithm: "RS256", Use: "sig"}
}

// Sign returns an RS256 token with the key's kid carrying c, signed the way
// `usersync dev token` signs.
func (k *Key) Sign(t testing.TB, c Claims) string {
	t.Helper()
	tok, err := clerk.SignToken(k.Private, k.KID, c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Token is a fresh session token for sub (SessionClaims).
func (k *Key) Token(t testing.TB, sub string) string {
	t.Helper()
	return k.Sign(t, SessionClaims(sub))
}

// TokenAt is a session token for sub issued at iat and valid for 10 minutes:
// iat is what a sync writes as the user's version.
func (k *Key) TokenAt(t testing.TB, sub string, iat time.Time) string {
	t.Helper()
	return k.Sign(t, SessionClaimsAt(sub, iat))
}

// Claims are a token's claims; times are Unix seconds.
type Claims map[string]any

// SessionClaims are the claims of a fresh Clerk session token for sub:
// issued now, valid from 10 s ago, for a minute, with a session id.
func SessionClaims(sub string) Claims {
	return sessionClaims(sub, time.Now(), time.Minute)
}

// SessionClaimsAt are the claims of a session token for sub issued at iat
// and valid for 10 minutes.
func SessionClaimsAt(sub string, iat time.Time) Claims {
	return sessionClaims(sub, iat, 10*time.Minute)
}

// sessionClaims are clerk.SessionClaims, issued by Issuer.
func sessionClaims(sub string, iat time.Time, ttl time.Duration) Claims {
	c := Claims(clerk.SessionClaims(sub, "", iat, ttl))
	c["iss"] = Issuer
	return c
}

// With returns a copy of c with key set to v (a time.Time becomes Unix
// seconds); a nil v removes key.
func (c Claims) With(key string, v any) Claims {
	out := maps.Clone(c)
	if v == nil {
		delete(out, key)
		return out
	}
	if t, ok := v.(time.Time); ok {
		v = t.Unix()
	}
	out[key] = v
	return out
}

// SignWith signs c with any key and algorithm go-jose knows, for the
// attacks a verifier must refuse (HS256 keyed with the public PEM, a key
// of another kind).
func SignWith(t testing.TB, key jose.SigningKey, kid string, c Claims) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	signer, err := jose.NewSigner(key, opts)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(signer).Claims(map[string]any(c)).CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Unsigned is an "alg": "none" token with the given claims.
func Unsigned(t testing.TB, kid string, c Claims) string {
	t.Helper()
	header, err := json.Marshal(map[string]string{"alg": "none", "typ": "JWT", "kid": kid})
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString(header) + "." + enc.EncodeToString(payload) + "."
}
