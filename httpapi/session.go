package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/clerk/clerk-sdk-go/v2/jwks"
	"github.com/clerk/clerk-sdk-go/v2/jwt"
)

// Session is what a verified Clerk session token says about its user.
type Session struct {
	UserID   string    // sub
	Email    string    // the optional "email" claim of a customized session token
	IssuedAt time.Time // iat: the version of what a sync writes
}

// SessionConfig selects how session tokens are verified: networkless
// against JWTKey, or against the instance's JWKS fetched with SecretKey.
type SessionConfig struct {
	JWTKey            string   // PEM, or the bare base64 body the Clerk dashboard shows
	SecretKey         string   // sk_…: fetches the JWKS when JWTKey is empty
	APIURL            string   // Clerk Backend API base URL, including /v1
	AuthorizedParties []string // allowed azp values; empty: no check
	HTTPClient        *http.Client
}

// Leeway is the clock skew allowed on exp, nbf and iat.
const Leeway = 5 * time.Second

// jwksRefetchInterval bounds how often an unknown kid may trigger a JWKS
// fetch, so that forged kids cannot turn us into a load on Clerk.
const jwksRefetchInterval = time.Minute

// JWKSFailureBackoff: after a failed JWKS fetch, requests answer 503 at
// once for this long instead of each trying Clerk again.
const JWKSFailureBackoff = 2 * time.Second

// errVerifierUnavailable: the JWKS could not be fetched; the token may be fine.
var errVerifierUnavailable = errors.New("session verification is unavailable")

// SessionVerifier verifies Clerk session tokens with clerk-sdk-go.
type SessionVerifier struct {
	key        *clerk.JSONWebKey // networkless mode
	jwksClient *jwks.Client      // JWKS mode
	parties    []string

	mu          sync.Mutex
	keys        map[string]*clerk.JSONWebKey // by kid
	lastFetch   time.Time
	lastFailure time.Time
}

// NewSessionVerifier returns nil, nil when no Clerk key is configured:
// the routes that need a session then answer 503.
func NewSessionVerifier(cfg SessionConfig) (*SessionVerifier, error) {
	v := &SessionVerifier{parties: cfg.AuthorizedParties, keys: map[string]*clerk.JSONWebKey{}}
	switch {
	case cfg.JWTKey != "":
		key, err := ParseJWTKey(cfg.JWTKey)
		if err != nil {
			return nil, err
		}
		v.key = key
	case cfg.SecretKey != "":
		bc := clerk.BackendConfig{Key: clerk.String(cfg.SecretKey), HTTPClient: cfg.HTTPClient}
		if cfg.APIURL != "" {
			bc.URL = clerk.String(cfg.APIURL)
		}
		v.jwksClient = jwks.NewClient(&clerk.ClientConfig{BackendConfig: bc})
	default:
		return nil, nil
	}
	return v, nil
}

// ParseJWTKey reads CLERK_JWT_KEY: a full PEM public key, or its bare
// base64 body; literal "\n" sequences (as .env files hold them) are newlines.
func ParseJWTKey(s string) (*clerk.JSONWebKey, error) {
	s = strings.TrimSpace(strings.ReplaceAll(s, `\n`, "\n"))
	if !strings.HasPrefix(s, "-----BEGIN") {
		s = "-----BEGIN PUBLIC KEY-----\n" + s + "\n-----END PUBLIC KEY-----\n"
	}
	key, err := clerk.JSONWebKeyFromPEM(s)
	if err != nil {
		return nil, fmt.Errorf("not an RSA public key in PEM: %w", err)
	}
	return key, nil
}

type sessionClaims struct {
	Email string `json:"email"`
}

// Verify checks the token's signature (RS256), exp/nbf/iat with Leeway,
// the issuer (the SDK's own check) and azp; it returns the session.
func (v *SessionVerifier) Verify(ctx context.Context, token string) (Session, error) {
	key := v.key
	if key == nil {
		var err error
		if key, err = v.keyFor(ctx, token); err != nil {
			return Session{}, err
		}
	}
	claims, err := jwt.Verify(ctx, &jwt.VerifyParams{
		Token:                   token,
		JWK:                     key,
		Leeway:                  Leeway,
		CustomClaimsConstructor: func(context.Context) any { return &sessionClaims{} },
		AuthorizedPartyHandler:  v.authorizedParty,
	})
	if err != nil {
		return Session{}, err
	}
	if claims.Subject == "" || claims.IssuedAt == nil {
		return Session{}, errors.New("session token lacks sub or iat")
	}
	s := Session{UserID: claims.Subject, IssuedAt: time.Unix(*claims.IssuedAt, 0).UTC()}
	if c, ok := claims.Custom.(*sessionClaims); ok {
		s.Email = c.Email
	}
	return s, nil
}

// authorizedParty accepts a token without azp (native apps send none).
func (v *SessionVerifier) authorizedParty(azp string) bool {
	return azp == "" || len(v.parties) == 0 || slices.Contains(v.parties, azp)
}

// keyFor returns the JWKS key named by the token's kid, fetching the
// JWKS when the kid is not cached (at most once per jwksRefetchInterval).
func (v *SessionVerifier) keyFor(ctx context.Context, token string) (*clerk.JSONWebKey, error) {
	decoded, err := jwt.Decode(ctx, &jwt.DecodeParams{Token: token})
	if err != nil {
		return nil, err
	}
	if decoded.KeyID == "" {
		return nil, errors.New("session token has no kid")
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if key, ok := v.keys[decoded.KeyID]; ok {
		return key, nil
	}
	if !v.lastFetch.IsZero() && time.Since(v.lastFetch) < jwksRefetchInterval {
		return nil, fmt.Errorf("unknown kid %q", decoded.KeyID)
	}
	if time.Since(v.lastFailure) < JWKSFailureBackoff {
		return nil, fmt.Errorf("%w: JWKS fetch failed moments ago", errVerifierUnavailable)
	}
	set, err := v.jwksClient.Get(ctx, &jwks.GetParams{})
	if err != nil {
		v.lastFailure = time.Now()
		return nil, fmt.Errorf("%w: fetch JWKS: %v", errVerifierUnavailable, err)
	}
	v.lastFetch = time.Now()
	clear(v.keys)
	for _, k := range set.Keys {
		if k != nil && k.KeyID != "" {
			v.keys[k.KeyID] = k
		}
	}
	if key, ok := v.keys[decoded.KeyID]; ok {
		return key, nil
	}
	return nil, fmt.Errorf("unknown kid %q", decoded.KeyID)
}
