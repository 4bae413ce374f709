package webhooks

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	svix "github.com/svix/svix-webhooks/go"
)

// Building and signing events as Clerk and Svix do, for `usersync dev
// webhook` (try the webhook route without a Clerk account) and for tests.

// EventUser is the user of a built user.* event.
type EventUser struct {
	ID        string // user_…
	Email     string // "" for a user without email (phone sign-up)
	FirstName string // "" for null
	LastName  string // "" for null
	UpdatedAt time.Time
}

// BuildUserEvent returns the body of a Clerk user.created or user.updated
// event for u, emitted at u.UpdatedAt, or of a user.deleted event emitted
// at now (u's other fields unused), in the shape Clerk sends: an envelope
// {"object":"event","type","timestamp","data"} around a user object with its
// email addresses and primary_email_address_id.
func BuildUserEvent(eventType string, u EventUser, now time.Time) []byte {
	if eventType == TypeUserDeleted {
		return buildEnvelope(eventType, map[string]any{"object": "user", "id": u.ID, "deleted": true}, now)
	}
	data := map[string]any{
		"object":                   "user",
		"id":                       u.ID,
		"first_name":               nullIfEmpty(u.FirstName),
		"last_name":                nullIfEmpty(u.LastName),
		"username":                 nil,
		"primary_email_address_id": nil,
		"primary_phone_number_id":  nil,
		"email_addresses":          []any{},
		"phone_numbers":            []any{},
		"external_accounts":        []any{},
		"public_metadata":          map[string]any{},
		"private_metadata":         map[string]any{},
		"unsafe_metadata":          map[string]any{},
		"created_at":               u.UpdatedAt.Add(-time.Hour).UnixMilli(),
		"updated_at":               u.UpdatedAt.UnixMilli(),
	}
	if u.Email != "" {
		emailID := "idn_" + strings.TrimPrefix(u.ID, "user_")
		data["primary_email_address_id"] = emailID
		data["email_addresses"] = []any{map[string]any{
			"object": "email_address", "id": emailID, "email_address": u.Email,
			"verification": map[string]any{"status": "verified", "strategy": "email_code"},
			"linked_to":    []any{},
		}}
	}
	return buildEnvelope(eventType, data, u.UpdatedAt)
}

func buildEnvelope(eventType string, data map[string]any, at time.Time) []byte {
	b, _ := json.Marshal(map[string]any{ // maps of strings, numbers and nil: cannot fail
		"object":    "event",
		"type":      eventType,
		"timestamp": at.UnixMilli(),
		"data":      data,
		"event_attributes": map[string]any{
			"http_request": map[string]any{"client_ip": "", "user_agent": ""},
		},
	})
	return b
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// SignHeaders returns the svix-id, svix-timestamp and svix-signature
// headers with which Svix delivers body as message msgID at ts, signed
// with secret (whsec_…) by the svix library.
func SignHeaders(secret, msgID string, ts time.Time, body []byte) (http.Header, error) {
	wh, err := svix.NewWebhook(secret)
	if err != nil {
		return nil, err
	}
	sig, err := wh.Sign(msgID, ts, body)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set("svix-id", msgID)
	h.Set("svix-timestamp", strconv.FormatInt(ts.Unix(), 10))
	h.Set("svix-signature", sig)
	h.Set("Content-Type", "application/json")
	return h, nil
}
