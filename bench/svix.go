package bench

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"time"
)

// Svix signs webhook deliveries as Svix does for a Clerk endpoint.
type Svix struct {
	key []byte
}

// NewSvix generates a 32-byte endpoint secret.
func NewSvix() (*Svix, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	return &Svix{key: key}, nil
}

// Secret is the endpoint secret as CLERK_WEBHOOK_SIGNING_SECRET holds it.
func (s *Svix) Secret() string { return "whsec_" + base64.StdEncoding.EncodeToString(s.key) }

// Sign sets the svix-id, svix-timestamp and svix-signature headers of a
// delivery of body: v1 is base64(HMAC-SHA256(key, id.timestamp.body)).
func (s *Svix) Sign(h http.Header, id string, at time.Time, body []byte) {
	ts := strconv.FormatInt(at.Unix(), 10)
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	h.Set("svix-id", id)
	h.Set("svix-timestamp", ts)
	h.Set("svix-signature", "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
}
