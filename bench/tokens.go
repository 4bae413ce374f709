package bench

import (
	"crypto/rand"
	"crypto/rsa"
	"time"

	"github.com/usersync/usersync/clerk"
)

// Issuer passes clerk-sdk-go's issuer check (an https://clerk.… issuer).
const Issuer = "https://clerk.bench.example"

// Clerk plays Clerk's instance key: it mints RS256 session tokens (with
// clerk.SignToken, as `usersync dev token` does) that the server verifies
// networklessly against PublicPEM (CLERK_JWT_KEY).
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
	s, err := clerk.PublicKeyPEM(&c.key.PublicKey)
	if err != nil {
		panic(err) // an RSA public key always marshals
	}
	return s
}

// MaxTokenLifetime is the CLERK_MAX_TOKEN_LIFETIME of every server the
// benchmarks start: their tokens are minted before a run and must outlive
// it, where Clerk's own live 60 s.
const MaxTokenLifetime = 3 * time.Hour

// Token returns a session token for user sub issued at iat and valid for
// ttl, shaped like Clerk's (sid, azp absent as from a native app).
func (c *Clerk) Token(sub string, iat time.Time, ttl time.Duration) (string, error) {
	claims := clerk.SessionClaims(sub, "", iat, ttl)
	claims["iss"] = Issuer
	return clerk.SignToken(c.key, "ins_bench", claims)
}
