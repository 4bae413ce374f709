// Package webhooks takes Clerk's Svix-signed webhooks into usersync:
// [Verifier] checks the signature over the raw body, [DecodeEvent] reads a
// Clerk event, and [Service] applies it through the users service and keeps
// the event log (one record per svix-id, committed with the upsert), which
// admins list and replay.
package webhooks

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	svix "github.com/svix/svix-webhooks/go"

	"github.com/usersync/usersync/errs"
)

// secretPrefix is the prefix of every Svix endpoint signing secret.
const secretPrefix = "whsec_"

// minSecretBytes is the minimum decoded length of a signing secret. Svix
// issues 24- or 32-byte secrets; anything under 16 bytes is almost certainly
// a truncated or mistyped value.
const minSecretBytes = 16

// tolerance is how far a message timestamp may be from the local clock. It
// mirrors the svix library's fixed tolerance, which is what actually enforces
// it; this package only repeats the check to report a precise error.
const tolerance = 5 * time.Minute

// Verification errors. Every error returned by [Verifier.Verify] for a bad
// request wraps ErrInvalidSignature; the more specific sentinels below wrap it
// too, so callers can match either level with errors.Is.
var (
	// ErrInvalidSignature marks a request that failed authentication. The
	// HTTP layer should answer 400 and may show err.Error() to the client:
	// messages never contain secrets.
	ErrInvalidSignature = errs.New(errs.Invalid, "webhooks: invalid signature")

	// ErrMissingHeaders: no complete svix-* or webhook-* header set.
	ErrMissingHeaders = refine(ErrInvalidSignature, "missing required headers")

	// ErrMalformedTimestamp: the timestamp header is not Unix seconds.
	ErrMalformedTimestamp = refine(ErrInvalidSignature, "timestamp header is not an integer Unix time")

	// ErrTimestampOutOfTolerance: the timestamp is more than 5 minutes
	// away from now (a replay, or a badly skewed clock).
	ErrTimestampOutOfTolerance = refine(ErrInvalidSignature, "timestamp outside the 5 minute tolerance")

	// ErrNoMatchingSignature: headers are well-formed but no v1 signature
	// matches the body under any configured secret.
	ErrNoMatchingSignature = refine(ErrInvalidSignature, "no matching signature")
)

// refine returns an error of kind that adds detail to its message.
func refine(kind *errs.Error, detail string) *errs.Error {
	return errs.New(kind, "%s: %s", kind.Msg, detail)
}

// Verifier checks Svix webhook signatures against one or more endpoint
// secrets. Several secrets allow rotation: a message passes if any of its
// signatures matches any secret. A Verifier is immutable and safe for
// concurrent use.
type Verifier struct {
	hooks []*svix.Webhook
}

// NewVerifier returns a Verifier for the given Svix endpoint secrets, each of
// the form "whsec_" + standard base64 of at least 16 bytes. It
// fails if secrets is empty or any secret is malformed; errors identify the
// secret by position and never include its value.
func NewVerifier(secrets []string) (*Verifier, error) {
	if len(secrets) == 0 {
		return nil, errors.New("webhooks: no signing secrets configured")
	}
	hooks := make([]*svix.Webhook, 0, len(secrets))
	for i, s := range secrets {
		if err := checkSecret(s); err != nil {
			return nil, fmt.Errorf("webhooks: signing secret #%d: %w", i+1, err)
		}
		wh, err := svix.NewWebhook(s)
		if err != nil {
			// Unreachable after checkSecret; the library's error is not
			// wrapped in case it ever quotes its input.
			return nil, fmt.Errorf("webhooks: signing secret #%d: rejected by svix", i+1)
		}
		hooks = append(hooks, wh)
	}
	return &Verifier{hooks: hooks}, nil
}

// ParseSecrets splits a comma-separated list of signing secrets, as found in
// the CLERK_WEBHOOK_SIGNING_SECRET environment variable. Entries are trimmed
// and empty entries ignored; at least one must remain and each must be a
// well-formed secret (see [NewVerifier]). Errors never include secret values.
func ParseSecrets(commaSeparated string) ([]string, error) {
	var secrets []string
	for _, s := range strings.Split(commaSeparated, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if err := checkSecret(s); err != nil {
			return nil, fmt.Errorf("webhooks: signing secret #%d: %w", len(secrets)+1, err)
		}
		secrets = append(secrets, s)
	}
	if len(secrets) == 0 {
		return nil, errors.New("webhooks: no signing secrets configured")
	}
	return secrets, nil
}

// checkSecret validates the shape of a secret. Its errors must not echo the
// secret, since they end up in logs.
func checkSecret(s string) error {
	b64, ok := strings.CutPrefix(s, secretPrefix)
	if !ok {
		return fmt.Errorf("missing %q prefix", secretPrefix)
	}
	// Same decoding as svix.NewWebhook, so anything accepted here is
	// accepted there with the same key.
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return errors.New("not valid standard base64 after the prefix")
	}
	if len(key) < minSecretBytes {
		return fmt.Errorf("decodes to %d bytes, want at least %d", len(key), minSecretBytes)
	}
	return nil
}

// Verify authenticates body against the Svix headers in h. It accepts either
// the svix-id/svix-timestamp/svix-signature headers or the
// webhook-id/webhook-timestamp/webhook-signature alternates, a signature
// header carrying several space-separated "v1,<base64>" signatures, and any
// configured secret. The timestamp must be within 5 minutes of now.
//
// body must be the exact bytes received. On failure the error wraps
// [ErrInvalidSignature] and one of the more specific sentinels.
func (v *Verifier) Verify(body []byte, h http.Header) error {
	if v == nil || len(v.hooks) == 0 {
		// A server bug, not a client error, so deliberately not
		// ErrInvalidSignature.
		return errors.New("webhooks: verifier has no signing secrets")
	}

	// The svix library performs all of these checks itself but reports them
	// through unexported errors; repeating the cheap ones first lets us return
	// an error that says what was wrong.
	hs, err := selectHeaders(h)
	if err != nil {
		return err
	}
	ts, err := strconv.ParseInt(hs.timestamp, 10, 64)
	if err != nil {
		return ErrMalformedTimestamp
	}
	if err := checkTolerance(time.Unix(ts, 0), time.Now()); err != nil {
		return err
	}

	for _, wh := range v.hooks {
		// The library handles the webhook-* fallback and multiple
		// signatures itself, so the original headers are passed as is.
		if wh.Verify(body, h) == nil {
			return nil
		}
	}
	// The library reads the clock again, so a message right at the edge of
	// the window can pass the check above and fail inside svix.
	if err := checkTolerance(time.Unix(ts, 0), time.Now()); err != nil {
		return err
	}
	return ErrNoMatchingSignature
}

// MessageID returns the Svix message id from h: the id of the header set that
// [Verifier.Verify] authenticates (svix-* if complete, otherwise webhook-*),
// so it is safe as an idempotency key after a successful Verify. If neither
// set is complete it falls back to whichever id header is present, which is
// only good for logging, and returns "" if there is none.
func MessageID(h http.Header) string {
	if hs, err := selectHeaders(h); err == nil {
		return hs.id
	}
	if id := h.Get("svix-id"); id != "" {
		return id
	}
	return h.Get("webhook-id")
}

type headerSet struct {
	id, timestamp, signature string
}

// selectHeaders picks the header set exactly as svix's Webhook.verify does:
// svix-* when all three are non-empty, else webhook-* when all three are.
func selectHeaders(h http.Header) (headerSet, error) {
	sv := headerSet{h.Get("svix-id"), h.Get("svix-timestamp"), h.Get("svix-signature")}
	if sv.complete() {
		return sv, nil
	}
	wh := headerSet{h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")}
	if wh.complete() {
		return wh, nil
	}
	// Name the missing headers of whichever family the sender seems to use.
	prefix, set := "svix-", sv
	if wh.count() > sv.count() {
		prefix, set = "webhook-", wh
	}
	if set.count() == 0 {
		return headerSet{}, refine(ErrMissingHeaders, "need svix-id, svix-timestamp and svix-signature (or the webhook-* equivalents)")
	}
	var missing []string
	if set.id == "" {
		missing = append(missing, prefix+"id")
	}
	if set.timestamp == "" {
		missing = append(missing, prefix+"timestamp")
	}
	if set.signature == "" {
		missing = append(missing, prefix+"signature")
	}
	return headerSet{}, refine(ErrMissingHeaders, strings.Join(missing, ", "))
}

func (s headerSet) complete() bool { return s.count() == 3 }

func (s headerSet) count() int {
	n := 0
	for _, v := range []string{s.id, s.timestamp, s.signature} {
		if v != "" {
			n++
		}
	}
	return n
}

// checkTolerance mirrors svix's verifyTimestamp, including its comparison in
// whole seconds for future timestamps.
func checkTolerance(ts, now time.Time) error {
	if now.Sub(ts) > tolerance {
		return refine(ErrTimestampOutOfTolerance, "message is too old")
	}
	if ts.Unix() > now.Add(tolerance).Unix() {
		return refine(ErrTimestampOutOfTolerance, "message is too new")
	}
	return nil
}
