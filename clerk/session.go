// Package clerk is usersync's adapter to Clerk: session-token verification
// (networkless with CLERK_JWT_KEY, or with the instance's JWKS), the Backend
// API client that backfill uses, and the development key and tokens of
// `usersync dev`. It is built on clerk-sdk-go (imported here as sdk).
package clerk

import (
	"context"
	"crypto/rsa"
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
	// ExpiresAt is exp. A live stream ends when it passes (plus Leeway).
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
	// MaxTokenLifetime (CLERK_MAX_TOKEN_LIFETIME) is the longest exp − iat
	// accepted; 0 means DefaultMaxTokenLifetime.
	MaxTokenLifetime time.Duration
	// AcceptPendingSessions (CLERK_ACCEPT_PENDING_SESSIONS) lets a token of
	// a pending session ("sts": "pending") through.
	AcceptPendingSessions bool
	// JWKSTTL (CLERK_JWKS_TTL) is how long fetched keys are used before they
	// are fetched again, in the background; 0 means DefaultJWKSTTL.
	JWKSTTL time.Duration
	// Now is the clock of the JWKS cache; nil means time.Now. Tests set it.
	Now func() time.Time
}

// Defaults of SessionConfig.
const (
	// Clerk's session tokens live 60 s; a JWT template's may live for
	// days, and is not a session.
	DefaultMaxTokenLifetime = 10 * time.Minute
	DefaultJWKSTTL          = time.Hour
)

// Leeway is the clock skew allowed on exp, nbf and iat.
const Leeway = 5 * time.Second

// jwksRefetchInterval bounds how often an unknown kid may trigger a JWKS
// fetch, so that forged kids cannot turn us into a load on Clerk.
const jwksRefetchInterval = time.Minute

// JWKSFailureBackoff: after a failed JWKS fetch, requests answer 503 at
// once for this long instead of each trying Clerk again.
const JWKSFailureBackoff = 2 * time.Second

// jwksFetchTimeout bounds one JWKS fetch, which runs on its own, unbound
// to the request that started it.
const jwksFetchTimeout = 10 * time.Second

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
	key           *sdk.JSONWebKey // networkless mode
	jwksClient    *jwks.Client    // JWKS mode
	parties       []string
	maxLifetime   time.Duration
	acceptPending bool
	jwksTTL       time.Duration
	now           func() time.Time // the clock of the JWKS cache; tests set it

	// The JWKS cache. mu is never held during a fetch: a fetch runs in a
	// goroutine of its own, at most one at a time, and requests that need
	// its result wait on the fetching channel, as long as their context lets
	// them; requests whose key is cached never wait.
	mu          sync.Mutex
	keys        map[string]*sdk.JSONWebKey // by kid
	fetchedAt   time.Time                  // of the keys; zero: none yet
	lastFetch   time.Time                  // the start of the last fetch
	lastFailure time.Time
	fetchErr    error
	fetching    chan struct{} // non-nil while a fetch runs; closed when it ends

	verified verifiedTokens
}

// NewSessionVerifier returns nil, nil when no Clerk key is configured:
// the routes that need a session then answer 503.
func NewSessionVerifier(cfg SessionConfig) (*SessionVerifier, error) {
	v := &SessionVerifier{
		parties:       cfg.AuthorizedParties,
		maxLifetime:   cfg.MaxTokenLifetime,
		acceptPending: cfg.AcceptPendingSessions,
		jwksTTL:       cfg.JWKSTTL,
		now:           cfg.Now,
		keys:          map[string]*sdk.JSONWebKey{},
		verified:      verifiedTokens{entries: map[[sha256.Size]byte]Session{}},
	}
	if v.maxLifetime <= 0 {
		v.maxLifetime = DefaultMaxTokenLifetime
	}
	if v.jwksTTL <= 0 {
		v.jwksTTL = DefaultJWKSTTL
	}
	if v.now == nil {
		v.now = time.Now
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
	// Clerk signs session tokens with RS256: any other key (an EC key
	// parses too) would start the server and then refuse every token.
	if _, ok := key.Key.(*rsa.PublicKey); !ok {
		return nil, fmt.Errorf("not an RSA public key (got %T); use the key Clerk's dashboard shows", key.Key)
	}
	return key, nil
}

type sessionClaims struct {
	Email  string  `json:"email"`
	Status *string `json:"sts"` // the session's status, version 2 claims only
}

// Verify checks the token's signature (RS256), exp/nbf/iat with Leeway,
// the issuer (the SDK's own check), azp and the session rules of
// checkSession; it returns the session. A token that verified before is
// answered from v.verified until it expires. A failure is ErrUnavailable,
// or ErrInvalidSession with the reason.
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
	c, _ := claims.Custom.(*sessionClaims)
	if err := v.checkSession(claims, c); err != nil {
		return Session{}, err
	}
	s := Session{UserID: claims.Subject, IssuedAt: time.Unix(*claims.IssuedAt, 0).UTC(), ExpiresAt: time.Unix(*claims.Expiry, 0).UTC()}
	if c != nil {
		s.Email = c.Email
	}
	v.verified.put(sum, s, now)
	return s, nil
}

// checkSession refuses a token that verified but is not a session token
// of a signed-in user: it must have sub, iat, exp and sid (JWT-template
// tokens have no sid), live at most maxLifetime, and belong to an active
// session (no sts is a version 1 token: active), or a pending one when
// pending sessions are accepted.
func (v *SessionVerifier) checkSession(claims *sdk.SessionClaims, c *sessionClaims) error {
	switch {
	case claims.Subject == "" || claims.IssuedAt == nil:
		return errors.New("session token lacks sub or iat")
	case claims.Expiry == nil:
		return errors.New("session token lacks exp")
	case claims.SessionID == "":
		return errors.New("token lacks sid: not a session token")
	}
	if lifetime := time.Duration(*claims.Expiry-*claims.IssuedAt) * time.Second; lifetime > v.maxLifetime {
		return fmt.Errorf("token lives %s, longer than %s: not a session token", lifetime, v.maxLifetime)
	}
	if c != nil && c.Status != nil {
		switch *c.Status {
		case "active":
		case "pending":
			if !v.acceptPending {
				return errors.New("the session is pending")
			}
		default:
			return fmt.Errorf("session status %q is not active", *c.Status)
		}
	}
	return nil
}

// authorizedParty accepts a token without azp (native apps send none).
func (v *SessionVerifier) authorizedParty(azp string) bool {
	return azp == "" || len(v.parties) == 0 || slices.Contains(v.parties, azp)
}

// keyFor returns the JWKS key named by the token's kid. A cached key is
// returned at once, and when the keys are older than jwksTTL a background
// fetch renews them (until it succeeds the cached keys stay in use: Clerk
// being unreachable must not sign everyone out). A kid not in the cache
// waits for a fetch: the first one, one already running, or a new one, at
// most once per jwksRefetchInterval so that forged kids cannot turn us
// into a load on Clerk.
func (v *SessionVerifier) keyFor(ctx context.Context, token string) (*sdk.JSONWebKey, error) {
	decoded, err := jwt.Decode(ctx, &jwt.DecodeParams{Token: token})
	if err != nil {
		return nil, err
	}
	kid := decoded.KeyID
	if kid == "" {
		return nil, errors.New("session token has no kid")
	}
	for {
		wait, res := v.lookup(kid)
		if wait == nil {
			return res.key, res.err
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %v", ErrUnavailable, ctx.Err())
		}
	}
}

// keyResult is what lookup found.
type keyResult struct {
	key *sdk.JSONWebKey
	err error
}

// lookup answers kid from the cache, or returns a fetch to wait for (then
// the caller asks again). It holds mu for no more than map look-ups.
func (v *SessionVerifier) lookup(kid string) (<-chan struct{}, keyResult) {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.now()
	stale := v.fetchedAt.IsZero() || now.Sub(v.fetchedAt) >= v.jwksTTL
	failedLately := now.Sub(v.lastFailure) < JWKSFailureBackoff
	if key, ok := v.keys[kid]; ok {
		if stale && v.fetching == nil && !failedLately {
			v.startFetch(now) // nobody waits for it
		}
		return nil, keyResult{key: key}
	}
	switch {
	case v.fetching != nil:
		return v.fetching, keyResult{}
	case failedLately:
		return nil, keyResult{err: fmt.Errorf("%w: JWKS fetch failed moments ago: %v", ErrUnavailable, v.fetchErr)}
	case stale || now.Sub(v.lastFetch) >= jwksRefetchInterval:
		return v.startFetch(now), keyResult{}
	}
	return nil, keyResult{err: fmt.Errorf("unknown kid %q", kid)}
}

// startFetch starts the one fetch of the JWKS; mu is held.
func (v *SessionVerifier) startFetch(now time.Time) <-chan struct{} {
	done := make(chan struct{})
	v.fetching = done
	v.lastFetch = now
	go v.fetch(done)
	return done
}

// fetch gets the JWKS and replaces the cached keys with it; a failure
// keeps them, and makes requests that need a new key answer 503 for
// JWKSFailureBackoff.
func (v *SessionVerifier) fetch(done chan struct{}) {
	defer close(done)
	ctx, cancel := context.WithTimeout(context.Background(), jwksFetchTimeout)
	defer cancel()
	set, err := v.jwksClient.Get(ctx, &jwks.GetParams{})

	v.mu.Lock()
	defer v.mu.Unlock()
	v.fetching = nil
	if err != nil {
		v.lastFailure, v.fetchErr = v.now(), fmt.Errorf("fetch JWKS: %w", err)
		return
	}
	keys := make(map[string]*sdk.JSONWebKey, len(set.Keys))
	for _, k := range set.Keys {
		if k != nil && k.KeyID != "" {
			keys[k.KeyID] = k
		}
	}
	v.keys, v.fetchedAt = keys, v.now()
	v.verified.clear() // a token verified with a key that left the set must verify again
}

// maxVerifiedTokens bounds verifiedTokens (about 100 bytes an entry).
const maxVerifiedTokens = 1 << 14

// verifiedTokens remembers the session of each token that verified, by the
// token's SHA-256, until the token expires (Session.ExpiresAt). An app
// reuses one session token for up to a minute (Clerk's getToken caches it)
// and the map screens poll with it, so the RSA verification and go-jose's
// claim decoding, the costliest part of a request, run once per token
// instead of once per request. A hit rechecks exp with Leeway: of the
// checks, only exp can fail later for a token that passed (nbf and iat pass
// more easily with time).
type verifiedTokens struct {
	mu      sync.Mutex
	entries map[[sha256.Size]byte]Session
}

// expired applies the exp check of go-jose's ValidateWithLeeway.
func expired(s Session, now time.Time) bool { return now.Add(-Leeway).After(s.ExpiresAt) }

func (c *verifiedTokens) get(sum [sha256.Size]byte, now time.Time) (Session, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.entries[sum]
	if !ok {
		return Session{}, false
	}
	if expired(s, now) {
		delete(c.entries, sum)
		return Session{}, false
	}
	return s, true
}

func (c *verifiedTokens) put(sum [sha256.Size]byte, s Session, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= maxVerifiedTokens {
		// Drop the expired, then arbitrary ones (map order is random) down
		// to 7/8: more live tokens than the bound cost hits, not memory.
		for k, e := range c.entries {
			if expired(e, now) {
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
	c.entries[sum] = s
}

func (c *verifiedTokens) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.entries)
}
