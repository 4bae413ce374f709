package bench

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"time"
)

// Issuer passes clerk-sdk-go's issuer check (an https://clerk.… issuer).
const Issuer = "https://clerk.bench.example"

// Clerk plays Clerk's instance key: it mints RS256 session tokens that the
// server verifies networklessly against PublicPEM (CLERK_JWT_KEY).
type Clerk struct {
	key *rsa.PrivateKey
}

// NewClerk generates a 2048-bit key, the size Clerk uses.
func NewClerk() (*Clerk, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	return &Clerk{key: k}, nil
}

// PublicPEM is the public key as CLERK_JWT_KEY holds it.
func (c *Clerk) PublicPEM() string {
	der, err := x509.MarshalPKIXPublicKey(&c.key.PublicKey)
	if err != nil {
		panic(err) // an RSA public key always marshals
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

var tokenHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","kid":"ins_bench","typ":"JWT"}`))

// MaxTokenLifetime is the CLERK_MAX_TOKEN_LIFETIME of every server the
// benchmarks start: their tokens are minted before a run and must outlive
// it, where Clerk's own live 60 s.
const MaxTokenLifetime = 3 * time.Hour

// Token returns a session token for user sub issued at iat and valid for
// ttl, shaped like Clerk's (sid, azp absent as from a native app).
func (c *Clerk) Token(sub string, iat time.Time, ttl time.Duration) (string, error) {
	claims, err := json.Marshal(map[string]any{
		"iss": Issuer,
		"sub": sub,
		"sid": "sess_bench",
		"iat": iat.Unix(),
		"nbf": iat.Unix() - 10,
		"exp": iat.Add(ttl).Unix(),
	})
	if err != nil {
		return "", err
	}
	signed := tokenHeader + "." + base64.RawURLEncoding.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(nil, c.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}
