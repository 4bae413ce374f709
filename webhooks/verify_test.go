package webhooks

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	svix "github.com/svix/svix-webhooks/go"
)

// testSecret builds a deterministic Svix secret of n bytes all equal to fill.
func testSecret(fill byte, n int) string {
	return "whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{fill}, n))
}

// sign returns a "v1,..." signature made by the svix library itself.
func sign(t *testing.T, secret, msgID string, ts time.Time, body []byte) string {
	t.Helper()
	wh, err := svix.NewWebhook(secret)
	if err != nil {
		t.Fatalf("svix.NewWebhook: %v", err)
	}
	sig, err := wh.Sign(msgID, ts, body)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return sig
}

// headers returns a Svix header set using prefix "svix-" or "webhook-".
func headers(prefix, msgID string, ts time.Time, sig string) http.Header {
	h := http.Header{}
	h.Set(prefix+"id", msgID)
	h.Set(prefix+"timestamp", strconv.FormatInt(ts.Unix(), 10))
	h.Set(prefix+"signature", sig)
	return h
}

func TestVerify(t *testing.T) {
	secretA := testSecret(0xA1, 24)
	secretB := testSecret(0xB2, 32)
	secretOther := testSecret(0xC3, 24)
	const msgID = "msg_2hQx7Nf3kVb1ZpQ8sLmTq4Wd0Ey"
	body := []byte(`{"data":{"id":"user_1"},"object":"event","type":"user.deleted","timestamp":1717600000000}`)
	now := time.Now()
	// signedBy is the svix headers of body as secret signs it at ts.
	signedBy := func(secret string, ts time.Time) func(t *testing.T) http.Header {
		return func(t *testing.T) http.Header {
			return headers("svix-", msgID, ts, sign(t, secret, msgID, ts, body))
		}
	}

	type verifyCase struct {
		name    string
		secrets []string // defaults to secretA alone
		body    []byte   // defaults to body
		header  func(t *testing.T) http.Header
		wantErr error // nil means success; otherwise checked with errors.Is
	}
	tests := []verifyCase{
		{
			name:   "valid svix headers",
			header: signedBy(secretA, now),
		},
		{
			name: "valid webhook headers",
			header: func(t *testing.T) http.Header {
				return headers("webhook-", msgID, now, sign(t, secretA, msgID, now, body))
			},
		},
		{
			name:    "rotation: signed with first secret",
			secrets: []string{secretA, secretB},
			header:  signedBy(secretA, now),
		},
		{
			name:    "rotation: signed with second secret",
			secrets: []string{secretA, secretB},
			header:  signedBy(secretB, now),
		},
		{
			name:    "two signatures, only the second matches",
			secrets: []string{secretB},
			header: func(t *testing.T) http.Header {
				sigs := sign(t, secretOther, msgID, now, body) + " " + sign(t, secretB, msgID, now, body)
				return headers("svix-", msgID, now, sigs)
			},
		},
		{
			name: "unknown signature versions are skipped",
			header: func(t *testing.T) http.Header {
				v1 := sign(t, secretA, msgID, now, body)
				return headers("svix-", msgID, now, "v1a,abc v2,"+strings.TrimPrefix(v1, "v1,")+" "+v1)
			},
		},
		{
			name:    "wrong secret",
			secrets: []string{secretA, secretB},
			header:  signedBy(secretOther, now),
			wantErr: ErrNoMatchingSignature,
		},
		{
			name:    "tampered body",
			body:    bytes.Replace(body, []byte("user_1"), []byte("user_2"), 1),
			header:  signedBy(secretA, now),
			wantErr: ErrNoMatchingSignature,
		},
		{
			name: "signature for another message id",
			header: func(t *testing.T) http.Header {
				return headers("svix-", msgID, now, sign(t, secretA, "msg_other", now, body))
			},
			wantErr: ErrNoMatchingSignature,
		},
		{
			name: "signature only under a non-v1 version",
			header: func(t *testing.T) http.Header {
				v1 := sign(t, secretA, msgID, now, body)
				return headers("svix-", msgID, now, "v2,"+strings.TrimPrefix(v1, "v1,"))
			},
			wantErr: ErrNoMatchingSignature,
		},
		{
			name: "garbage signature header",
			header: func(t *testing.T) http.Header {
				return headers("svix-", msgID, now, "not a signature")
			},
			wantErr: ErrNoMatchingSignature,
		},
		{
			name:   "timestamp 4 minutes old accepted",
			header: signedBy(secretA, now.Add(-4*time.Minute)),
		},
		{
			name:    "timestamp 6 minutes old rejected",
			header:  signedBy(secretA, now.Add(-6*time.Minute)),
			wantErr: ErrTimestampOutOfTolerance,
		},
		{
			name:    "timestamp 6 minutes in the future rejected",
			header:  signedBy(secretA, now.Add(6*time.Minute)),
			wantErr: ErrTimestampOutOfTolerance,
		},
		{
			name:    "old timestamp with wrong signature reports the timestamp",
			header:  signedBy(secretOther, now.Add(-6*time.Minute)),
			wantErr: ErrTimestampOutOfTolerance,
		},
		{
			name: "timestamp not an integer",
			header: func(t *testing.T) http.Header {
				h := headers("svix-", msgID, now, sign(t, secretA, msgID, now, body))
				h.Set("svix-timestamp", now.Format(time.RFC3339))
				return h
			},
			wantErr: ErrMalformedTimestamp,
		},
		{
			name:    "no headers",
			header:  func(t *testing.T) http.Header { return http.Header{} },
			wantErr: ErrMissingHeaders,
		},
	}
	for _, prefix := range []string{"svix-", "webhook-"} {
		for _, name := range []string{"id", "timestamp", "signature"} {
			missing := prefix + name
			tests = append(tests, struct {
				name    string
				secrets []string
				body    []byte
				header  func(t *testing.T) http.Header
				wantErr error
			}{
				name: "missing " + missing,
				header: func(t *testing.T) http.Header {
					h := headers(prefix, msgID, now, sign(t, secretA, msgID, now, body))
					h.Del(missing)
					return h
				},
				wantErr: ErrMissingHeaders,
			})
		}
	}

	for _, tt := range tests {
		if tt.secrets == nil {
			tt.secrets = []string{secretA}
		}
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVerifier(tt.secrets)
			if err != nil {
				t.Fatalf("NewVerifier: %v", err)
			}
			b := body
			if tt.body != nil {
				b = tt.body
			}
			err = v.Verify(b, tt.header(t))
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify error = %v, want %v", err, tt.wantErr)
			}
			// The HTTP layer only needs to know about the umbrella sentinel.
			if !errors.Is(err, ErrInvalidSignature) {
				t.Errorf("error %v does not wrap ErrInvalidSignature", err)
			}
			for _, s := range tt.secrets {
				if strings.Contains(err.Error(), strings.TrimPrefix(s, "whsec_")) {
					t.Errorf("error %q leaks a secret", err)
				}
			}
			if strings.HasPrefix(tt.name, "missing ") {
				if hdr := strings.TrimPrefix(tt.name, "missing "); !strings.Contains(err.Error(), hdr) {
					t.Errorf("error %q does not name %s", err, hdr)
				}
			}
		})
	}
}

// TestVerifyMixedHeaders checks that a partial svix-* set falls back to a
// complete webhook-* set, and that MessageID reports the id actually signed.
func TestVerifyMixedHeaders(t *testing.T) {
	secret := testSecret(0xA1, 24)
	body := []byte(`{"type":"user.created"}`)
	now := time.Now()
	h := headers("webhook-", "msg_signed", now, sign(t, secret, "msg_signed", now, body))
	h.Set("svix-id", "msg_forged")

	v, err := NewVerifier([]string{secret})
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	if err := v.Verify(body, h); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got, want := MessageID(h), "msg_signed"; got != want {
		t.Errorf("MessageID = %q, want %q", got, want)
	}
}

func TestVerifyNilVerifier(t *testing.T) {
	var v *Verifier
	err := v.Verify([]byte(`{}`), http.Header{})
	if err == nil {
		t.Fatal("Verify on nil Verifier succeeded")
	}
	// A misconfigured server is not the client's fault.
	if errors.Is(err, ErrInvalidSignature) {
		t.Errorf("error %v wraps ErrInvalidSignature", err)
	}
}

func TestVerifyConcurrent(t *testing.T) {
	secret := testSecret(0xA1, 24)
	v, err := NewVerifier([]string{secret, testSecret(0xB2, 24)})
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	body := []byte(`{"type":"user.created"}`)
	now := time.Now()
	h := headers("svix-", "msg_1", now, sign(t, secret, "msg_1", now, body))
	for i := range 8 {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			t.Parallel()
			if err := v.Verify(body, h); err != nil {
				t.Errorf("Verify: %v", err)
			}
		})
	}
}

func TestMessageID(t *testing.T) {
	tests := []struct {
		name string
		h    http.Header
		want string
	}{
		{name: "none", h: http.Header{}, want: ""},
		{name: "svix set", h: headers("svix-", "msg_s", time.Unix(1, 0), "v1,x"), want: "msg_s"},
		{name: "webhook set", h: headers("webhook-", "msg_w", time.Unix(1, 0), "v1,x"), want: "msg_w"},
		{name: "lone svix-id", h: http.Header{"Svix-Id": {"msg_s"}}, want: "msg_s"},
		{name: "lone webhook-id", h: http.Header{"Webhook-Id": {"msg_w"}}, want: "msg_w"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MessageID(tt.h); got != tt.want {
				t.Errorf("MessageID = %q, want %q", got, tt.want)
			}
		})
	}
}

// badSecrets are malformed secrets with the hint their error must contain.
func badSecrets() []struct{ name, secret, hint string } {
	return []struct{ name, secret, hint string }{
		{"no prefix", base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)), "prefix"},
		{"wrong prefix", "wsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)), "prefix"},
		{"bad base64", "whsec_this*is*not*base64*at*all!!", "base64"},
		{"url-safe base64", "whsec_" + base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 24)), "base64"},
		{"15 bytes", testSecret(7, 15), "15 bytes"},
		{"prefix only", "whsec_", "0 bytes"},
	}
}

func TestNewVerifierRejectsBadSecrets(t *testing.T) {
	good := testSecret(0xA1, 24)
	for _, tt := range badSecrets() {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVerifier([]string{good, tt.secret})
			if err == nil {
				t.Fatalf("NewVerifier accepted %s", tt.name)
			}
			if v != nil {
				t.Errorf("NewVerifier returned a Verifier with an error")
			}
			checkSecretError(t, err, tt.secret, tt.hint, "#2")
		})
	}
	t.Run("empty list", func(t *testing.T) {
		if _, err := NewVerifier(nil); err == nil {
			t.Fatal("NewVerifier(nil) succeeded")
		}
	})
	t.Run("16 bytes is enough", func(t *testing.T) {
		if _, err := NewVerifier([]string{testSecret(7, 16)}); err != nil {
			t.Fatalf("NewVerifier: %v", err)
		}
	})
}

func TestParseSecrets(t *testing.T) {
	a, b := testSecret(0xA1, 24), testSecret(0xB2, 32)
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{name: "single", in: a, want: []string{a}},
		{name: "two", in: a + "," + b, want: []string{a, b}},
		{name: "trimmed with empties", in: " \t" + a + " ,, ,\n" + b + " ,", want: []string{a, b}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSecrets(tt.in)
			if err != nil {
				t.Fatalf("ParseSecrets: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseSecrets mismatch (-want +got):\n%s", diff)
			}
			if _, err := NewVerifier(got); err != nil {
				t.Errorf("NewVerifier(ParseSecrets(...)): %v", err)
			}
		})
	}

	for _, in := range []string{"", "   ", ",", " , ,\t"} {
		t.Run("empty "+strconv.Quote(in), func(t *testing.T) {
			if got, err := ParseSecrets(in); err == nil {
				t.Fatalf("ParseSecrets(%q) = %q, want error", in, got)
			}
		})
	}
	for _, tt := range badSecrets() {
		t.Run(tt.name, func(t *testing.T) {
			// Empty entries do not count towards the position.
			_, err := ParseSecrets(a + ", ," + tt.secret)
			if err == nil {
				t.Fatalf("ParseSecrets accepted %s", tt.name)
			}
			checkSecretError(t, err, tt.secret, tt.hint, "#2")
		})
	}
}

// checkSecretError checks that err explains the problem and locates the
// secret without revealing it.
func checkSecretError(t *testing.T, err error, secret, hint, position string) {
	t.Helper()
	msg := err.Error()
	if !strings.Contains(msg, hint) {
		t.Errorf("error %q does not mention %q", msg, hint)
	}
	if !strings.Contains(msg, position) {
		t.Errorf("error %q does not name position %s", msg, position)
	}
	if body := strings.TrimPrefix(secret, "whsec_"); body != "" && strings.Contains(msg, body) {
		t.Errorf("error %q leaks the secret", msg)
	}
}
