package tracking

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"
)

func TestNewIngestToken(t *testing.T) {
	format := regexp.MustCompile(`^trk_[0-9A-HJKMNP-TV-Z]{26}$`)
	const n = 10_000
	seen := make(map[string]bool, n)
	for range n {
		token, hash, hint, err := NewIngestToken()
		if err != nil {
			t.Fatalf("NewIngestToken() error = %v", err)
		}
		if !format.MatchString(token) {
			t.Fatalf("token %q does not match %v", token, format)
		}
		if !ValidTokenFormat(token) {
			t.Fatalf("ValidTokenFormat(%q) = false, want true", token)
		}
		if want := token[:8]; hint != want || !strings.HasPrefix(hint, "trk_") {
			t.Fatalf("hint = %q, want %q", hint, want)
		}
		if want := HashToken(token); !bytes.Equal(hash, want) {
			t.Fatalf("hash = %x, want HashToken(token) = %x", hash, want)
		}
		if seen[token] {
			t.Fatalf("token %q issued twice", token)
		}
		seen[token] = true
	}
}

// Every symbol of the alphabet shows up: the tokens use all 5 bits per symbol.
func TestNewIngestTokenAlphabet(t *testing.T) {
	used := map[rune]bool{}
	for range 1000 {
		token, _, _, err := NewIngestToken()
		if err != nil {
			t.Fatalf("NewIngestToken() error = %v", err)
		}
		for _, r := range strings.TrimPrefix(token, TokenPrefix) {
			used[r] = true
		}
	}
	if got, want := len(used), 32; got != want {
		t.Errorf("distinct symbols = %d, want %d", got, want)
	}
}

func TestHashToken(t *testing.T) {
	const token = "trk_0J5M8ZQ3RT6VW9XY2ABCDEFGHJ"
	want := sha256.Sum256([]byte(token))
	got := HashToken(token)
	if !bytes.Equal(got, want[:]) {
		t.Errorf("HashToken() = %x, want %x", got, want)
	}
	if again := HashToken(token); !bytes.Equal(got, again) {
		t.Errorf("HashToken() is not stable: %x then %x", got, again)
	}
	// Pinned, so a change of algorithm cannot slip in and orphan stored hashes.
	if got, want := hex.EncodeToString(HashToken("trk_")), "d204cfb745ffbc04897f095b2c4a88049d173315e6a1320133e53b618bb9fcdf"; got != want {
		t.Errorf("HashToken(%q) = %s, want %s", "trk_", got, want)
	}
	if bytes.Equal(HashToken(token), HashToken(strings.ToLower(token))) {
		t.Error("HashToken() is case-insensitive, want exact")
	}
}

func TestValidTokenFormat(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"trk_0J5M8ZQ3RT6VW9XY2ABCDEFGHJ", true},
		{"trk_00000000000000000000000000", true},
		{"trk_ZZZZZZZZZZZZZZZZZZZZZZZZZZ", true},
		{"", false},
		{"trk_", false},
		{"trk_0J5M8ZQ3RT6VW9XY2ABCDEFGH", false},   // 25 symbols
		{"trk_0J5M8ZQ3RT6VW9XY2ABCDEFGHJK", false}, // 27 symbols
		{"TRK_0J5M8ZQ3RT6VW9XY2ABCDEFGHJ", false},
		{"trk_0j5m8zq3rt6vw9xy2abcdefghj", false}, // lowercase: not as issued
		{"trk_0J5M8ZQ3RT6VW9XY2ABCDEFGHI", false}, // I
		{"trk_0J5M8ZQ3RT6VW9XY2ABCDEFGHL", false}, // L
		{"trk_0J5M8ZQ3RT6VW9XY2ABCDEFGHO", false}, // O
		{"trk_0J5M8ZQ3RT6VW9XY2ABCDEFGHU", false}, // U
		{"trk_0J5M8ZQ3RT6VW9XY2ABCDEFGH-", false},
		{"353861053849681", false}, // an IMEI
		{"xtrk_0J5M8ZQ3RT6VW9XY2ABCDEFGH", false},
	}
	for _, tt := range tests {
		if got := ValidTokenFormat(tt.in); got != tt.want {
			t.Errorf("ValidTokenFormat(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
