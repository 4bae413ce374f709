// Package clerk is usersync's adapter to Clerk: session-token verification
// (networkless with CLERK_JWT_KEY, or with the instance's JWKS), the Backend
// API client that backfill uses, and the development key and tokens of
// `usersync dev`. It is built on clerk-sdk-go (imported here as sdk).
package clerk

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	sdk "github.com/clerk/clerk-sdk-go/v2"
	"github.com/clerk/clerk-sdk-go/v2/jwks"
	"github.com/clerk/clerk-sdk-go/v2/jwt"

	"github.com/usersync/usersync/errs"
)

// Session is what a verified Clerk session token says about its user.
type Session struct {
	UserID   string    // sub
	Email    string    // the optional "email" claim of a customized session token
	IssuedAt time.Time // iat: the version of what a sync writes
	// ExpiresAt is exp; zero for a token without one. A live stream ends
	// when it passes (plus Leeway).
	ExpiresAt time.Time
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

// Verification errors, in the vocabulary of package errs. Verify wraps the
// reason (for a debug log line, never for the client) behind one of them.
var (
	// ErrInvalidSession: the token is not a valid session token (401).
	ErrInvalidSession = errs.New(errs.Unauthorized, "invalid or expired session token")
	// ErrUnavailable: the JWKS could not be fetched; the token may be fine (503).
	ErrUnavailable = errs.New(errs.Unavailable, "session verification is unavailable, try again")
)

// SessionVerifier verifies Clerk session tokens with clerk-sdk-go.
type SessionVerifier struct {
	key        *sdk.JSONWebKey // networkless mode
	jwksClient *jwks.Client    // JWKS mode
	parties    []string

	mu          sync.Mutex
	keys        map[string]*sdk.JSONWebKey // by kid
	lastFetch   time.Time
	lastFailure time.Time

	verified verifiedTokens
}

// NewSessionVerifier returns nil, nil when no Clerk key is configured:
// the routes that need a session then answer 503.
func NewSessionVerifier(cfg SessionConfig) (*SessionVerifier, error) {
	v := &SessionVerifier{
		parties:  cfg.AuthorizedParties,
		keys:     map[string]*sdk.JSONWebKey{},
		verified: verifiedTokens{entries: map[[sha256.Size]byte]verifiedToken{}},
	}
	switch {
	case cfg.JWTKey != "":
		key, err := ParseJWTKey(cfg.JWTKey)
		if err != nil {
			return nil, err
		}
		v.key = key
	case cfg.SecretKey != "":
		bc := sdk.BackendConfig{Key: sdk.String(cfg.SecretKey), HTTPClient: cfg.HTTPClient}
		if cfg.APIURL != "" {
			bc.URL = sdk.String(cfg.APIURL)
		}
		v.jwksClient = jwks.NewClient(&sdk.ClientConfig{BackendConfig: bc})
	default:
		return nil, nil
	}
	return v, nil
}

// ParseJWTKey reads CLERK_JWT_KEY: a full PEM public key, or its bare
// base64 body; literal "\n" sequences (as .env files hold them) are newlines.
func ParseJWTKey(s string) (*sdk.JSONWebKey, error) {
	s = strings.TrimSpace(strings.ReplaceAll(s, `\n`, "\n"))
	if !strings.HasPrefix(s, "-----BEGIN") {
		s = "-----BEGIN PUBLIC KEY-----\n" + s + "\n-----END PUBLIC KEY-----\n"
	}
	key, err := sdk.JSONWebKeyFromPEM(s)
	if err != nil {
		return nil, fmt.Errorf("not an RSA public key in PEM: %w", err)
	}
	return key, nil
}

type sessionClaims struct {
	Email string `json:"email"`
}

// Verify checks the token's signature (RS256), exp/nbf/iat with Leeway,
// the issuer (the SDK's own check) and azp; it returns the session. A
// token that verified before is answered from v.verified until it expires.
// A failure is ErrUnavailable, or ErrInvalidSession with the reason.
func (v *SessionVerifier) Verify(ctx context.Context, token string) (Session, error) {
	s, err := v.verify(ctx, token)
	if err != nil && !errors.Is(err, ErrUnavailable) {
		err = fmt.Errorf("%w: %v", ErrInvalidSession, err)
	}
	return s, err
}

func (v *SessionVerifier) verify(ctx context.Context, token string) (Session, error) {
	sum := sha256.Sum256([]byte(token))
	now := time.Now()
	if s, ok := v.verified.get(sum, now); ok {
		return s, nil
	}
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
	if claims.Expiry != nil {
		s.ExpiresAt = time.Unix(*claims.Expiry, 0).UTC()
		v.verified.put(sum, s, s.ExpiresAt, now)
	}
	return s, nil
}

// authorizedParty accepts a token without azp (native apps send none).
func (v *SessionVerifier) authorizedParty(azp string) bool {
	return azp == "" || len(v.parties) == 0 || slices.Contains(v.parties, azp)
}

// keyFor returns the JWKS key named by the token's kid, fetching the
// JWKS when the kid is not cached (at most once per jwksRefetchInterval).
func (v *SessionVerifier) keyFor(ctx context.Context, token string) (*sdk.JSONWebKey, error) {
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
		return nil, fmt.Errorf("%w: JWKS fetch failed moments ago", ErrUnavailable)
	}
	set, err := v.jwksClient.Get(ctx, &jwks.GetParams{})
	if err != nil {
		v.lastFailure = time.Now()
		return nil, fmt.Errorf("%w: fetch JWKS: %v", ErrUnavailable, err)
	}
	v.lastFetch = time.Now()
	clear(v.keys)
	v.verified.clear() // a token verified with a key that left the set must verify again
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

// maxVerifiedTokens bounds verifiedTokens (about 100 bytes an entry).
const maxVerifiedTokens = 1 << 14

// verifiedTokens remembers the session of each token that verified, by the
// token's SHA-256, until the token expires. An app reuses one session token
// for up to a minute (Clerk's getToken caches it) and the map screens poll
// with it, so the RSA verification and go-jose's claim decoding, the
// costliest part of a request, run once per token instead of once per
// request. A hit rechecks exp with Leeway: of the checks, only exp can fail
// later for a token that passed (nbf and iat pass more easily with time).
type verifiedTokens struct {
	mu      sync.Mutex
	entries map[[sha256.Size]byte]verifiedToken
}

type verifiedToken struct {
	session Session
	expiry  time.Time
}

// expired applies the exp check of go-jose's ValidateWithLeeway.
func (t verifiedToken) expired(now time.Time) bool { return now.Add(-Leeway).After(t.expiry) }

func (c *verifiedTokens) get(sum [sha256.Size]byte, now time.Time) (Session, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.entries[sum]
	if !ok {
		return Session{}, false
	}
	if t.expired(now) {
		delete(c.entries, sum)
		return Session{}, false
	}
	return t.session, true
}

func (c *verifiedTokens) put(sum [sha256.Size]byte, s Session, expiry, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= maxVerifiedTokens {
		// Drop the expired, then arbitrary ones (map order is random) down
		// to 7/8: more live tokens than the bound cost hits, not memory.
		for k, t := range c.entries {
			if t.expired(now) {
				delete(c.entries, k)
			}
		}
		for k := range c.entries {
			if len(c.entries) <= maxVerifiedTokens*7/8 {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[sum] = verifiedToken{session: s, expiry: expiry}
}

func (c *verifiedTokens) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.entries)
}
