package testkit

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
)

// FakeClerk is a local fake of Clerk's Backend API, as far as usersync
// calls it: GET /v1/jwks, GET /v1/users (limit, offset, order_by),
// GET /v1/users/count and GET /v1/users/{id}, with Clerk's authentication
// (the secret key as a Bearer token) and Clerk's error bodies.
type FakeClerk struct {
	*httptest.Server
	SecretKey string

	// JWKSFetches counts requests of /v1/jwks; JWKSStatus, when not 0, is
	// the status /v1/jwks answers instead of the keys.
	JWKSFetches atomic.Int64
	JWKSStatus  atomic.Int64

	mu           sync.Mutex
	keys         []jose.JSONWebKey
	users        []*ClerkUser
	badAuths     []string  // Authorization headers that were not the secret key
	throttleOnce bool      // answer one 429 once a listing is past its first page
	throttledAt  time.Time // when that 429 was sent
	retriedAt    time.Time // the first request after it
	requests     int

	// Lookups by id (GET /v1/users/{id}):
	unlisted       map[string]bool // users Clerk has that its list leaves out (as offset paging can while users come and go)
	failLookup     map[string]int  // ids whose lookup answers this status, Clerk-shaped but not resource_not_found
	plain404       map[string]bool // ids whose lookup answers a 404 that is not Clerk's (a proxy's page)
	throttleLookup int             // answer the lookup with this number (from 1) with a 429, once
	lookups        []string        // ids looked up, in order
}

// StartFakeClerk serves a fake instance with secret key sk_test_… and the
// JWKS of keys; it stops when the test ends.
func StartFakeClerk(t testing.TB, keys ...*Key) *FakeClerk {
	t.Helper()
	f := &FakeClerk{
		SecretKey: "sk_test_" + strconv.FormatInt(time.Now().UnixNano(), 36),
		unlisted:  map[string]bool{}, failLookup: map[string]int{}, plain404: map[string]bool{},
	}
	f.SetKeys(keys...)
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

// APIURL is CLERK_API_URL for this fake.
func (f *FakeClerk) APIURL() string { return f.URL + "/v1" }

// SetKeys replaces the JWKS.
func (f *FakeClerk) SetKeys(keys ...*Key) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys = f.keys[:0]
	for _, k := range keys {
		f.keys = append(f.keys, k.JWK())
	}
}

// SetUsers replaces the instance's users.
func (f *FakeClerk) SetUsers(users []*ClerkUser) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users = users
}

// Users returns the instance's users (the fake's own: change them with Update).
func (f *FakeClerk) Users() []*ClerkUser {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.users)
}

// Update changes the user with id under lock; remove deletes it from the
// instance instead (a lookup by id then answers 404).
func (f *FakeClerk) Update(id string, change func(u *ClerkUser), remove bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, u := range f.users {
		if u.ID == id {
			if remove {
				f.users = slices.Delete(f.users, i, i+1)
				return
			}
			change(u)
			u.encoded = nil
			return
		}
	}
}

// ThrottleNextListing makes the fake answer one 429 (Retry-After: 1) once a
// listing is past its first page.
func (f *FakeClerk) ThrottleNextListing() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.throttleOnce = true
}

// Throttled tells when the 429 was sent and when the next request came.
func (f *FakeClerk) Throttled() (sent, retried time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.throttledAt, f.retriedAt
}

// Requests counts the requests served.
func (f *FakeClerk) Requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

// SetUnlisted makes a lookup of id find a user that the list leaves out.
func (f *FakeClerk) SetUnlisted(id string, unlisted bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unlisted[id] = unlisted
}

// FailLookup makes a lookup of id answer status with a Clerk error that is
// not resource_not_found; 0 undoes it.
func (f *FakeClerk) FailLookup(id string, status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failLookup[id] = status
}

// Plain404 makes a lookup of id answer a 404 page that is not Clerk's.
func (f *FakeClerk) Plain404(id string, on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.plain404[id] = on
}

// ThrottleLookup makes the n-th lookup from now (from 1) answer a 429
// with Retry-After: 1.
func (f *FakeClerk) ThrottleLookup(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.throttleLookup = len(f.lookups) + n
}

// TakeLookups returns the ids looked up since the last call, in order.
func (f *FakeClerk) TakeLookups() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.lookups
	f.lookups = nil
	return out
}

// BadAuths are the Authorization headers seen that were not the secret key.
func (f *FakeClerk) BadAuths() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.badAuths)
}

// clerkError writes Clerk's error body.
func clerkError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{
		"errors":         []any{map[string]any{"code": code, "message": message, "long_message": message}},
		"clerk_trace_id": "trace_fake",
	})
}

func (f *FakeClerk) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/v1/jwks" {
		f.JWKSFetches.Add(1)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	if !f.throttledAt.IsZero() && f.retriedAt.IsZero() {
		f.retriedAt = time.Now()
	}
	if got := r.Header.Get("Authorization"); got != "Bearer "+f.SecretKey {
		f.badAuths = append(f.badAuths, got)
		clerkError(w, http.StatusUnauthorized, "authentication_invalid", "Unauthorized request")
		return
	}
	if r.Method != http.MethodGet {
		clerkError(w, http.StatusMethodNotAllowed, "method_not_allowed", "Method not allowed")
		return
	}
	switch path := r.URL.Path; {
	case path == "/v1/jwks":
		if s := f.JWKSStatus.Load(); s != 0 {
			clerkError(w, int(s), "internal_clerk_error", "Internal error")
			return
		}
		writeJSON(w, jose.JSONWebKeySet{Keys: f.keys})
	case path == "/v1/users/count":
		writeJSON(w, map[string]any{"object": "total_count", "total_count": len(f.users)})
	case path == "/v1/users":
		f.list(w, r)
	case strings.HasPrefix(path, "/v1/users/") && !strings.Contains(strings.TrimPrefix(path, "/v1/users/"), "/"):
		f.lookup(w, strings.TrimPrefix(path, "/v1/users/"))
	default:
		clerkError(w, http.StatusNotFound, "resource_not_found", "Resource not found")
	}
}

// lookup answers GET /v1/users/{id}.
func (f *FakeClerk) lookup(w http.ResponseWriter, id string) {
	f.lookups = append(f.lookups, id)
	switch {
	case len(f.lookups) == f.throttleLookup:
		w.Header().Set("Retry-After", "1")
		clerkError(w, http.StatusTooManyRequests, "too_many_requests", "Too many requests")
		return
	case f.failLookup[id] != 0:
		clerkError(w, f.failLookup[id], "unexpected_error", "Oops")
		return
	case f.plain404[id]:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "<html><body>404 Not Found</body></html>")
		return
	}
	for _, u := range f.users {
		if u.ID == id {
			writeJSON(w, json.RawMessage(u.encode()))
			return
		}
	}
	if f.unlisted[id] {
		writeJSON(w, json.RawMessage((&ClerkUser{ID: id, Primary: -1, CreatedAt: 1, UpdatedAt: 1}).encode()))
		return
	}
	clerkError(w, http.StatusNotFound, "resource_not_found", "Resource not found")
}

func (f *FakeClerk) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, offset := 10, 0
	var err error
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 500 {
			clerkError(w, http.StatusUnprocessableEntity, "form_param_value_invalid", "limit must be between 1 and 500")
			return
		}
	}
	if v := q.Get("offset"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 {
			clerkError(w, http.StatusUnprocessableEntity, "form_param_value_invalid", "offset must be 0 or more")
			return
		}
	}
	if f.throttleOnce && f.throttledAt.IsZero() && offset >= 500 {
		f.throttledAt = time.Now()
		w.Header().Set("Retry-After", "1")
		clerkError(w, http.StatusTooManyRequests, "too_many_requests", "Too many requests")
		return
	}
	sorted := slices.Clone(f.users)
	switch q.Get("order_by") {
	case "+created_at", "created_at":
		slices.SortFunc(sorted, func(a, b *ClerkUser) int { return int(a.CreatedAt - b.CreatedAt) })
	case "", "-created_at":
		slices.SortFunc(sorted, func(a, b *ClerkUser) int { return int(b.CreatedAt - a.CreatedAt) })
	default:
		clerkError(w, http.StatusUnprocessableEntity, "form_param_value_invalid", "order_by is invalid")
		return
	}
	page := []json.RawMessage{}
	for _, u := range sorted[min(offset, len(sorted)):min(offset+limit, len(sorted))] {
		page = append(page, u.encode())
	}
	writeJSON(w, page)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// ClerkUser is a user of the fake instance.
type ClerkUser struct {
	ID                  string
	FirstName, LastName *string
	Emails              []string // addresses, in Clerk's order
	Primary             int      // index of the primary address in Emails; -1 for none
	Phone               string
	CreatedAt           int64 // Unix ms
	UpdatedAt           int64 // Unix ms

	encoded []byte // JSON(), encoded once; nil after a change
}

func (u *ClerkUser) encode() []byte {
	if u.encoded == nil {
		u.encoded, _ = json.Marshal(u.JSON()) // maps of plain values: cannot fail
	}
	return u.encoded
}

// JSON is the user as GET /v1/users returns it.
func (u *ClerkUser) JSON() map[string]any {
	emailID := func(i int) string { return fmt.Sprintf("idn_%s_e%d", strings.TrimPrefix(u.ID, "user_"), i) }
	verification := map[string]any{"status": "verified", "strategy": "email_code", "attempts": 1, "expire_at": u.CreatedAt + 600_000}
	emails := []any{}
	for i, addr := range u.Emails {
		emails = append(emails, map[string]any{
			"id": emailID(i), "object": "email_address", "email_address": addr, "reserved": false,
			"verification": verification, "linked_to": []any{},
			"created_at": u.CreatedAt, "updated_at": u.CreatedAt,
		})
	}
	phones := []any{}
	var primaryPhone any
	if u.Phone != "" {
		primaryPhone = "idn_" + strings.TrimPrefix(u.ID, "user_") + "_p"
		phones = append(phones, map[string]any{
			"id": primaryPhone, "object": "phone_number", "phone_number": u.Phone, "reserved": false,
			"reserved_for_second_factor": false, "default_second_factor": false, "backup_codes": nil,
			"verification": map[string]any{"status": "verified", "strategy": "phone_code", "attempts": 1, "expire_at": u.CreatedAt + 600_000},
			"linked_to":    []any{}, "created_at": u.CreatedAt, "updated_at": u.CreatedAt,
		})
	}
	var primaryEmail any
	if u.Primary >= 0 && u.Primary < len(u.Emails) {
		primaryEmail = emailID(u.Primary)
	}
	return map[string]any{
		"id": u.ID, "object": "user", "username": nil,
		"first_name": u.FirstName, "last_name": u.LastName,
		"image_url": "https://img.clerk.com/eyJ0eXBlIjoiZGVmYXVsdCJ9", "has_image": false,
		"primary_email_address_id": primaryEmail, "primary_phone_number_id": primaryPhone, "primary_web3_wallet_id": nil,
		"password_enabled": u.Phone == "", "two_factor_enabled": false, "totp_enabled": false, "backup_code_enabled": false,
		"email_addresses": emails, "phone_numbers": phones, "web3_wallets": []any{}, "passkeys": []any{},
		"external_accounts": []any{}, "saml_accounts": []any{}, "enterprise_accounts": []any{},
		"public_metadata": map[string]any{}, "private_metadata": map[string]any{}, "unsafe_metadata": map[string]any{},
		"external_id": nil, "last_sign_in_at": u.UpdatedAt, "banned": false, "locked": false,
		"lockout_expires_in_seconds": nil, "verification_attempts_remaining": 100,
		"delete_self_enabled": true, "create_organization_enabled": true, "last_active_at": u.UpdatedAt,
		"legal_accepted_at": nil, "created_at": u.CreatedAt, "updated_at": u.UpdatedAt,
	}
}
