package bench

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"time"

	"github.com/usersync/usersync/webhooks"
)

// Svix signs webhook deliveries as Svix does for a Clerk endpoint.
type Svix struct {
	secret string
}

// NewSvix generates a 32-byte endpoint secret.
func NewSvix() (*Svix, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	return &Svix{secret: "whsec_" + base64.StdEncoding.EncodeToString(key)}, nil
}

// Secret is the endpoint secret as CLERK_WEBHOOK_SIGNING_SECRET holds it.
func (s *Svix) Secret() string { return s.secret }

// Sign sets the svix-id, svix-timestamp and svix-signature headers of a
// delivery of body (webhooks.SignHeaders, the svix library).
func (s *Svix) Sign(h http.Header, id string, at time.Time, body []byte) error {
	signed, err := webhooks.SignHeaders(s.secret, id, at, body)
	if err != nil {
		return err
	}
	for _, k := range []string{"svix-id", "svix-timestamp", "svix-signature"} {
		h.Set(k, signed.Get(k))
	}
	return nil
}
