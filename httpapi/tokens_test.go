package httpapi_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"maps"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/go-jose/go-jose/v3/jwt"
)

// testIssuer passes the SDK's issuer check (an https://clerk.… issuer).
const testIssuer = "https://clerk.example.com"

// signingKey plays Clerk's instance key: an RSA pair whose public half is
// given to the server as CLERK_JWT_KEY or through a JWKS.
type signingKey struct {
	private *rsa.PrivateKey
	kid     string
}

func newSigningKey(t *testing.T, kid string) *signingKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &signingKey{private: k, kid: kid}
}

// publicPEM is the public key as CLERK_JWT_KEY holds it (PKIX PEM).
func (k *signingKey) publicPEM(t *testing.T) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&k.private.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// jwk is the public key as Clerk's JWKS lists it.
func (k *signingKey) jwk() jose.JSONWebKey {
	return jose.JSONWebKey{Key: &k.private.PublicKey, KeyID: k.kid, Algorithm: "RS256", Use: "sig"}
}

// sign returns an RS256 session token with the key's kid header.
func (k *signingKey) sign(t *testing.T, c claims) string {
	t.Helper()
	return signToken(t, jose.SigningKey{Algorithm: jose.RS256, Key: k.private}, k.kid, c)
}

func signToken(t *testing.T, key jose.SigningKey, kid string, c claims) string {
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

// unsignedToken is an "alg": "none" token with the given claims.
func unsignedToken(t *testing.T, kid string, c claims) string {
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

// claims are a session token's claims; times are Unix seconds.
type claims map[string]any

// sessionClaims are the claims of a fresh Clerk session token for sub:
// issued now, valid from 10 s ago, for a minute.
func sessionClaims(sub string) claims {
	now := time.Now()
	return claims{
		"iss": testIssuer,
		"sub": sub,
		"iat": now.Unix(),
		"nbf": now.Add(-10 * time.Second).Unix(),
		"exp": now.Add(time.Minute).Unix(),
		"sid": "sess_test",
	}
}

// with returns a copy of c with key set to v; a nil v removes key.
func (c claims) with(key string, v any) claims {
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
