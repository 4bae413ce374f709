package testkit

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/usersync/usersync/webhooks"
)

// NewWebhookSecret is a fresh Svix endpoint secret, whsec_ and 24 random bytes.
func NewWebhookSecret(t testing.TB) string {
	t.Helper()
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// SignedHeaders are the headers with which Svix delivers body as message
// msgID at ts, signed with secret (webhooks.SignHeaders, the svix library).
func SignedHeaders(t testing.TB, secret, msgID string, ts time.Time, body []byte) http.Header {
	t.Helper()
	h, err := webhooks.SignHeaders(secret, msgID, ts, body)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// UserEvent is a user.created or user.updated body as Clerk sends it
// (webhooks.BuildUserEvent); an empty email gives a user without email
// addresses, empty names are null.
func UserEvent(eventType, id, email, firstName, lastName string, updatedAt time.Time) []byte {
	return webhooks.BuildUserEvent(eventType, webhooks.EventUser{
		ID: id, Email: email, FirstName: firstName, LastName: lastName, UpdatedAt: updatedAt,
	}, updatedAt)
}

// DeletedEvent is a user.deleted body emitted at at.
func DeletedEvent(id string, at time.Time) []byte {
	return webhooks.BuildUserEvent(webhooks.TypeUserDeleted, webhooks.EventUser{ID: id}, at)
}

// Envelope is an event of any type around data, emitted at at.
func Envelope(t testing.TB, eventType string, data map[string]any, at time.Time) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"object": "event", "type": eventType, "timestamp": at.UnixMilli(), "data": data})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
