package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/uptrace/bun"

	"github.com/usersync/usersync/migrations/dbtest"
	"github.com/usersync/usersync/users"
)

// bfUserCount is how many users the fake Clerk instance holds: more than
// two pages of 500.
const bfUserCount = 1234

// bfUser is a user of the fake Clerk instance, with what usersync must
// store for it.
type bfUser struct {
	id                  string
	firstName, lastName *string
	emails              []string // addresses, in Clerk's order
	primary             int      // index of the primary address in emails; -1 for none
	phone               string
	createdAt           int64  // Unix ms
	updatedAt           int64  // Unix ms
	encoded             []byte // json(), encoded once; nil after a change
}

// want is the stored user usersync must end with.
func (u *bfUser) want() bfStored {
	s := bfStored{Version: u.updatedAt}
	if u.primary >= 0 {
		s.Email = &u.emails[u.primary]
	}
	var parts []string
	for _, p := range []*string{u.firstName, u.lastName} {
		if p != nil && strings.TrimSpace(*p) != "" {
			parts = append(parts, strings.TrimSpace(*p))
		}
	}
	if len(parts) > 0 {
		name := strings.Join(parts, " ")
		s.Name = &name
	}
	return s
}

// json is the user as GET /v1/users returns it.
func (u *bfUser) json() map[string]any {
	emailID := func(i int) string { return fmt.Sprintf("idn_%s_e%d", strings.TrimPrefix(u.id, "user_"), i) }
	verification := map[string]any{"status": "verified", "strategy": "email_code", "attempts": 1, "expire_at": u.createdAt + 600_000}
	emails := []any{}
	for i, addr := range u.emails {
		emails = append(emails, map[string]any{
			"id": emailID(i), "object": "email_address", "email_address": addr, "reserved": false,
			"verification": verification, "linked_to": []any{},
			"created_at": u.createdAt, "updated_at": u.createdAt,
		})
	}
	phones := []any{}
	var primaryPhone any
	if u.phone != "" {
		primaryPhone = "idn_" + strings.TrimPrefix(u.id, "user_") + "_p"
		phones = append(phones, map[string]any{
			"id": primaryPhone, "object": "phone_number", "phone_number": u.phone, "reserved": false,
			"reserved_for_second_factor": false, "default_second_factor": false, "backup_codes": nil,
			"verification": map[string]any{"status": "verified", "strategy": "phone_code", "attempts": 1, "expire_at": u.createdAt + 600_000},
			"linked_to":    []any{}, "created_at": u.createdAt, "updated_at": u.createdAt,
		})
	}
	var primaryEmail any
	if u.primary >= 0 {
		primaryEmail = emailID(u.primary)
	}
	return map[string]any{
		"id": u.id, "object": "user", "username": nil,
		"first_name": u.firstName, "last_name": u.lastName,
		"image_url": "https://img.clerk.com/eyJ0eXBlIjoiZGVmYXVsdCJ9", "has_image": false,
		"primary_email_address_id": primaryEmail, "primary_phone_number_id": primaryPhone, "primary_web3_wallet_id": nil,
		"password_enabled": u.phone == "", "two_factor_enabled": false, "totp_enabled": false, "backup_code_enabled": false,
		"email_addresses": emails, "phone_numbers": phones, "web3_wallets": []any{}, "passkeys": []any{},
		"external_accounts": []any{}, "saml_accounts": []any{}, "enterprise_accounts": []any{},
		"public_metadata": map[string]any{}, "private_metadata": map[string]any{}, "unsafe_metadata": map[string]any{},
		"external_id": nil, "last_sign_in_at": u.updatedAt, "banned": false, "locked": false,
		"lockout_expires_in_seconds": nil, "verification_attempts_remaining": 100,
		"delete_self_enabled": true, "create_organization_enabled": true, "last_active_at": u.updatedAt,
		"legal_accepted_at": nil, "created_at": u.createdAt, "updated_at": u.updatedAt,
	}
}

func bfStr(s string) *string { return &s }

// bfUsers are n users in order of creation, in every shape backfill must
// map: phone-only, primary email not first, null, blank and padded names.
func bfUsers(n int) []*bfUser {
	base := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	out := make([]*bfUser, n)
	for i := range out {
		u := &bfUser{
			id:        fmt.Sprintf("user_2bF%06dQx", i),
			createdAt: base + int64(i)*60_000,
			primary:   0,
		}
		u.updatedAt = u.createdAt + int64(i%13)*1000
		switch i % 10 {
		case 3: // signed up by phone: no email at all
			u.primary = -1
			u.phone = fmt.Sprintf("+1555%07d", i)
		case 5: // the primary address is not the first of the list
			u.emails = []string{fmt.Sprintf("old.%d@example.org", i), fmt.Sprintf("User.%d@Example.com", i)}
			u.primary = 1
		default:
			u.emails = []string{fmt.Sprintf("user%d@example.com", i)}
		}
		switch i % 7 {
		case 0: // null names
		case 1:
			u.firstName = bfStr(fmt.Sprintf("Ada%d", i))
		case 2:
			u.firstName, u.lastName = bfStr(""), bfStr(fmt.Sprintf("Lovelace%d", i))
		case 3:
			u.firstName, u.lastName = bfStr("  Grace "), bfStr(" Hopper")
		default:
			u.firstName, u.lastName = bfStr(fmt.Sprintf("First%d", i)), bfStr(fmt.Sprintf("Last%d", i))
		}
		out[i] = u
	}
	return out
}

// bfClerk is a local fake of Clerk's Backend API: GET /v1/users,
// GET /v1/users/count and GET /v1/users/{id}, with Clerk's authentication
// and error shapes.
type bfClerk struct {
	*httptest.Server
	secretKey string

	mu           sync.Mutex
	users        []*bfUser
	throttleOnce bool      // answer one 429 once the listing is past the first page
	throttledAt  time.Time // when the 429 was sent
	retriedAt    time.Time // the first request after it
	requests     int

	// For lookups by id:
	unlisted     map[string]bool // users Clerk has that its list leaves out (as offset paging can while users come and go)
	failLookup   map[string]int  // ids whose lookup answers this status, Clerk-shaped but not resource_not_found
	plain404     map[string]bool // ids whose lookup answers a 404 that is not Clerk's (a proxy's page)
	throttleGets int             // answer the lookup with this index (from 1) with a 429, once
	lookups      []string        // ids looked up, in order
}

func startBFClerk(t *testing.T) *bfClerk { return startBFClerkWith(t, bfUsers(bfUserCount)) }

func startBFClerkWith(t *testing.T, users []*bfUser) *bfClerk {
	t.Helper()
	f := &bfClerk{
		secretKey: "sk_test_" + strconv.FormatInt(time.Now().UnixNano(), 36), users: users,
		unlisted: map[string]bool{}, failLookup: map[string]int{}, plain404: map[string]bool{},
	}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
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

func (f *bfClerk) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	if !f.throttledAt.IsZero() && f.retriedAt.IsZero() {
		f.retriedAt = time.Now()
	}
	if r.Header.Get("Authorization") != "Bearer "+f.secretKey {
		clerkError(w, http.StatusUnauthorized, "authentication_invalid", "Unauthorized request")
		return
	}
	if r.Method != http.MethodGet {
		clerkError(w, http.StatusMethodNotAllowed, "method_not_allowed", "Method not allowed")
		return
	}
	q := r.URL.Query()
	switch r.URL.Path {
	case "/v1/users/count":
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"object": "total_count", "total_count": len(f.users)})
	case "/v1/users":
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
			slices.SortFunc(sorted, func(a, b *bfUser) int { return int(a.createdAt - b.createdAt) })
		case "", "-created_at":
			slices.SortFunc(sorted, func(a, b *bfUser) int { return int(b.createdAt - a.createdAt) })
		default:
			clerkError(w, http.StatusUnprocessableEntity, "form_param_value_invalid", "order_by is invalid")
			return
		}
		page := []json.RawMessage{}
		for _, u := range sorted[min(offset, len(sorted)):min(offset+limit, len(sorted))] {
			if u.encoded == nil {
				u.encoded, _ = json.Marshal(u.json())
			}
			page = append(page, u.encoded)
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(page)
	default:
		id, ok := strings.CutPrefix(r.URL.Path, "/v1/users/")
		if !ok || strings.Contains(id, "/") {
			clerkError(w, http.StatusNotFound, "resource_not_found", "Resource not found")
			return
		}
		f.lookup(w, id)
	}
}

// lookup answers GET /v1/users/{id}.
func (f *bfClerk) lookup(w http.ResponseWriter, id string) {
	f.lookups = append(f.lookups, id)
	switch {
	case len(f.lookups) == f.throttleGets:
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
		if u.id == id {
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(u.json())
			return
		}
	}
	if f.unlisted[id] {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode((&bfUser{id: id, primary: -1, createdAt: 1, updatedAt: 1}).json())
		return
	}
	clerkError(w, http.StatusNotFound, "resource_not_found", "Resource not found")
}

// throttleNextListing makes the fake answer one 429 once a listing is
// past its first page.
func (f *bfClerk) throttleNextListing() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.throttleOnce = true
}

// update changes the fake's user i under lock.
func (f *bfClerk) update(i int, change func(u *bfUser)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(f.users[i])
	f.users[i].encoded = nil
}

// wantUsers is what the database must hold: every fake user's mapping.
func (f *bfClerk) wantUsers() map[string]bfStored {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]bfStored{}
	for _, u := range f.users {
		out[u.id] = u.want()
	}
	return out
}

// bfStored is a stored user as backfill leaves it.
type bfStored struct {
	Email, Name *string
	Version     int64
	Deleted     bool
}

func bfStoredUsers(t *testing.T, db *bun.DB) map[string]bfStored {
	t.Helper()
	var rows []users.User
	if err := db.NewSelect().Model(&rows).Scan(context.Background()); err != nil {
		t.Fatalf("select users: %v", err)
	}
	out := map[string]bfStored{}
	for _, u := range rows {
		out[u.ClerkUserID] = bfStored{Email: u.Email, Name: u.Name, Version: u.Version, Deleted: u.Deleted()}
	}
	return out
}

// bfRun runs `usersync backfill args…` against the fake and databaseURL.
func bfRun(t *testing.T, f *bfClerk, databaseURL string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := envFrom(map[string]string{
		"DATABASE_URL":     databaseURL,
		"CLERK_SECRET_KEY": f.secretKey,
		"CLERK_API_URL":    f.URL + "/v1",
	})
	err = run(context.Background(), append([]string{"backfill"}, args...), env, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestBackfill(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, databaseURL string) {
		t.Parallel()
		db := dbtest.Open(t, databaseURL)
		f := startBFClerk(t)
		svc := users.NewService(db)
		ctx := context.Background()

		// A dry run on the fresh database reports what a run would do and
		// writes nothing.
		stdout, stderr, err := bfRun(t, f, databaseURL, "--dry-run")
		if err != nil {
			t.Fatalf("backfill --dry-run: %v\nstderr:\n%s", err, stderr)
		}
		if want := "backfill (dry run, nothing written): 1234 users: 1234 created, 0 updated, 0 unchanged, 0 stale, 0 deleted\n"; stdout != want {
			t.Errorf("dry-run summary = %q, want %q", stdout, want)
		}
		if !strings.Contains(stderr, "backfill: 1234/1234 users\n") {
			t.Errorf("no progress on stderr:\n%s", stderr)
		}
		if got := bfStoredUsers(t, db); len(got) != 0 {
			t.Fatalf("a dry run wrote %d users", len(got))
		}

		f.throttleNextListing()
		stdout, stderr, err = bfRun(t, f, databaseURL)
		if err != nil {
			t.Fatalf("backfill: %v\nstderr:\n%s", err, stderr)
		}
		if want := "backfill: 1234 users: 1234 created, 0 updated, 0 unchanged, 0 stale, 0 deleted\n"; stdout != want {
			t.Errorf("summary = %q, want %q", stdout, want)
		}
		progress := []string{
			"backfill: 500/1234 users\n",
			"backfill: rate limited by Clerk, waiting 1s\n",
			"backfill: 1000/1234 users\n",
			"backfill: 1234/1234 users\n",
		}
		last := -1
		for _, line := range progress {
			i := strings.Index(stderr, line)
			if i <= last {
				t.Errorf("stderr does not show %q after the lines before it:\n%s", line, stderr)
			}
			last = i
		}
		f.mu.Lock()
		throttledAt, retriedAt := f.throttledAt, f.retriedAt
		f.mu.Unlock()
		if throttledAt.IsZero() {
			t.Fatal("the fake never answered 429")
		}
		if wait := retriedAt.Sub(throttledAt); wait < 900*time.Millisecond {
			t.Errorf("retried %v after the 429, want Retry-After's 1s", wait)
		}
		if strings.Contains(stderr, f.secretKey) || strings.Contains(stdout, f.secretKey) {
			t.Error("the secret key was printed")
		}

		want := f.wantUsers()
		if diff := cmp.Diff(want, bfStoredUsers(t, db)); diff != "" {
			t.Fatalf("stored users mismatch (-want +got):\n%s", diff)
		}
		// Spot checks of the shapes, independent of the mapping above.
		for id, w := range map[string]bfStored{
			"user_2bF000003Qx": {Name: bfStr("Grace Hopper")},                                      // phone-only
			"user_2bF000005Qx": {Email: bfStr("User.5@Example.com"), Name: bfStr("First5 Last5")},  // primary second
			"user_2bF000007Qx": {Email: bfStr("user7@example.com")},                                // null names
			"user_2bF000009Qx": {Email: bfStr("user9@example.com"), Name: bfStr("Lovelace9")},      // blank first name
			"user_2bF000001Qx": {Email: bfStr("user1@example.com"), Name: bfStr("Ada1")},           // no last name
			"user_2bF001233Qx": {Name: bfStr("Ada1233")},                                           // phone-only, the last page
			"user_2bF000015Qx": {Email: bfStr("User.15@Example.com"), Name: bfStr("Ada15")},        // primary second
			"user_2bF000013Qx": {Name: bfStr("First13 Last13")},                                    // phone-only
			"user_2bF000000Qx": {Email: bfStr("user0@example.com")},                                // the first
			"user_2bF000500Qx": {Email: bfStr("user500@example.com"), Name: bfStr("Grace Hopper")}, // after the 429
		} {
			u, err := svc.Get(ctx, id)
			if err != nil {
				t.Errorf("Get(%s): %v", id, err)
				continue
			}
			if diff := cmp.Diff(w, bfStored{Email: u.Email, Name: u.Name}); diff != "" {
				t.Errorf("%s mismatch (-want +got):\n%s", id, diff)
			}
		}

		// Nothing changed in Clerk: nothing changes here.
		stdout, stderr, err = bfRun(t, f, databaseURL)
		if err != nil {
			t.Fatalf("second backfill: %v\nstderr:\n%s", err, stderr)
		}
		if want := "backfill: 1234 users: 0 created, 0 updated, 1234 unchanged, 0 stale, 0 deleted\n"; stdout != want {
			t.Errorf("second summary = %q, want %q", stdout, want)
		}
		if strings.Contains(stderr, "rate limited") {
			t.Errorf("second run waited without a 429:\n%s", stderr)
		}

		// Meanwhile: user 42 changes in Clerk; user 7 was deleted here (say
		// by a user.deleted webhook) and still changes in Clerk; user 99
		// got newer data here than Clerk's list has; user 1234 signs up.
		now := time.Now()
		f.update(42, func(u *bfUser) {
			u.updatedAt = now.UnixMilli()
			u.emails = []string{"renamed42@example.com"}
			u.lastName = bfStr("Renamed")
		})
		f.update(7, func(u *bfUser) { u.updatedAt = now.UnixMilli() })
		if _, err := svc.Delete(ctx, "user_2bF000007Qx", now.Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Upsert(ctx, users.Write{ClerkUserID: "user_2bF000099Qx", Email: bfStr("hook99@example.com"),
			Name: bfStr("Hook"), Version: now, Writer: users.WriterWebhook}); err != nil {
			t.Fatal(err)
		}
		f.mu.Lock()
		f.users = append(f.users, &bfUser{id: "user_2bFnewQx", emails: []string{"new@example.com"}, firstName: bfStr("New"),
			createdAt: now.UnixMilli(), updatedAt: now.UnixMilli()})
		f.mu.Unlock()

		stdout, stderr, err = bfRun(t, f, databaseURL)
		if err != nil {
			t.Fatalf("third backfill: %v\nstderr:\n%s", err, stderr)
		}
		if want := "backfill: 1235 users: 1 created, 1 updated, 1231 unchanged, 1 stale, 1 deleted\n"; stdout != want {
			t.Errorf("third summary = %q, want %q", stdout, want)
		}
		want = f.wantUsers()
		want["user_2bF000007Qx"] = bfStored{Version: now.Add(-time.Minute).UnixMilli(), Deleted: true}
		want["user_2bF000099Qx"] = bfStored{Email: bfStr("hook99@example.com"), Name: bfStr("Hook"), Version: now.UnixMilli()}
		if diff := cmp.Diff(want, bfStoredUsers(t, db)); diff != "" {
			t.Errorf("stored users after the third run mismatch (-want +got):\n%s", diff)
		}
		if u, err := svc.Get(ctx, "user_2bF000042Qx"); err != nil || *u.Email != "renamed42@example.com" || *u.Name != "Renamed" {
			t.Errorf("user 42 = %+v, %v; want Clerk's newer data", u, err)
		}
		if _, err := svc.Get(ctx, "user_2bF000007Qx"); err == nil {
			t.Error("the deleted user 7 is visible again after backfill")
		}
	})
}

func TestBackfillConfiguration(t *testing.T) {
	t.Parallel()
	f := startBFClerk(t)
	databaseURL := dbtest.SQLiteURL(t)
	db := dbtest.Open(t, databaseURL)

	var out bytes.Buffer
	err := run(context.Background(), []string{"backfill"}, envFrom(map[string]string{
		"DATABASE_URL": databaseURL, "CLERK_API_URL": f.URL + "/v1",
	}), &out, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "CLERK_SECRET_KEY") {
		t.Errorf("without CLERK_SECRET_KEY: error %v, want one naming CLERK_SECRET_KEY", err)
	}
	f.mu.Lock()
	requests := f.requests
	f.mu.Unlock()
	if requests != 0 {
		t.Errorf("%d requests to Clerk without a secret key, want none", requests)
	}

	err = run(context.Background(), []string{"backfill"}, envFrom(map[string]string{
		"DATABASE_URL": databaseURL, "CLERK_API_URL": f.URL + "/v1", "CLERK_SECRET_KEY": "sk_test_wrong",
	}), &out, &bytes.Buffer{})
	if err == nil {
		t.Error("with a wrong CLERK_SECRET_KEY: no error")
	}
	if n := len(bfStoredUsers(t, db)); n != 0 {
		t.Errorf("%d users stored by failed runs", n)
	}

	out.Reset()
	if err := run(context.Background(), []string{"backfill", "-h"}, envFrom(nil), &out, &bytes.Buffer{}); err != nil {
		t.Errorf("backfill -h: %v, want exit 0", err)
	}
	if !strings.Contains(out.String(), "dry-run") {
		t.Errorf("backfill -h printed %q", out.String())
	}
}
