package clerk

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/go-jose/go-jose/v3/jwt"
)

// Development keys and tokens (`usersync dev`): an RSA key pair whose
// public half a developer sets as CLERK_JWT_KEY, and session tokens signed
// with its private half in the shape Clerk gives them. The server has no
// dev mode: it trusts these tokens only because CLERK_JWT_KEY says so. The
// tests mint their tokens here too.

// DevIssuer passes clerk-sdk-go's issuer check (an https://clerk.… issuer).
const DevIssuer = "https://clerk.usersync.localhost"

// DevKeyID is the kid of development tokens.
const DevKeyID = "usersync-dev"

// Files of GenerateDevKey in its folder.
const (
	DevPrivateKeyFile = "dev-jwt.pem"
	DevPublicKeyFile  = "dev-jwt.pub.pem"
)

// GenerateDevKey writes a new RSA-2048 key pair into dir (created if
// needed): the private key (mode 0600) and the public key, as PEM. It
// refuses to overwrite an existing private key. It returns the public PEM.
func GenerateDevKey(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	privatePath := filepath.Join(dir, DevPrivateKeyFile)
	if _, err := os.Stat(privatePath); err == nil {
		return "", fmt.Errorf("%s exists: remove it to make a new key", privatePath)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", err
	}
	private := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	public, err := PublicKeyPEM(&key.PublicKey)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(privatePath, private, 0o600); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, DevPublicKeyFile), []byte(public), 0o644); err != nil {
		return "", err
	}
	return public, nil
}

// LoadPrivateKey reads an RSA private key in PEM (PKCS #8 or PKCS #1).
func LoadPrivateKey(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: not an RSA private key: %w", path, err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an RSA private key", path)
	}
	return rk, nil
}

// PublicKeyPEM is pub as CLERK_JWT_KEY holds it (PKIX PEM).
func PublicKeyPEM(pub *rsa.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), nil
}

// SessionClaims are the claims of a Clerk session token (version 2) for
// user sub, issued at now and valid for ttl: iss, sub, sid, iat, nbf, exp,
// v, and email when it is not empty (the customization that
// CLERK_REQUIRE_EMAIL_CLAIM asks for). nbf is 10 s before iat, as Clerk's.
func SessionClaims(sub, email string, now time.Time, ttl time.Duration) map[string]any {
	c := map[string]any{
		"iss": DevIssuer,
		"sub": sub,
		"sid": "sess_" + sub,
		"iat": now.Unix(),
		"nbf": now.Add(-10 * time.Second).Unix(),
		"exp": now.Add(ttl).Unix(),
		"v":   2,
	}
	if email != "" {
		c["email"] = email
	}
	return c
}

// SignToken signs claims with key (RS256) under kid, as Clerk signs a
// session token.
func SignToken(key *rsa.PrivateKey, kid string, claims map[string]any) (string, error) {
	if key == nil {
		return "", errors.New("no signing key")
	}
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, opts)
	if err != nil {
		return "", err
	}
	return jwt.Signed(signer).Claims(claims).CompactSerialize()
}
