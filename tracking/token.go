package tracking

import (
	"crypto/rand"
	"crypto/sha256"
	"strings"
)

// TokenPrefix starts every ingest token. 26 Crockford base32 symbols follow,
// each from 5 random bits: 130 bits, over the 128 we require.
const TokenPrefix = "trk_"

const (
	tokenSymbols   = 26
	tokenHintChars = 4
	crockford      = "0123456789ABCDEFGHJKMNPQRSTVWXYZ" // no I, L, O, U
)

// NewIngestToken returns a new device token, its SHA-256 hash (the only form
// that is stored) and its hint, the prefix and first four symbols
// ("trk_0J5M"), which identifies it in listings without revealing it.
func NewIngestToken() (token string, hash []byte, hint string, err error) {
	var b [tokenSymbols]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, "", err
	}
	var sb strings.Builder
	sb.Grow(len(TokenPrefix) + tokenSymbols)
	sb.WriteString(TokenPrefix)
	for _, c := range b {
		sb.WriteByte(crockford[c&31]) // 256 is a multiple of 32: no bias
	}
	token = sb.String()
	return token, HashToken(token), token[:len(TokenPrefix)+tokenHintChars], nil
}

// HashToken returns the SHA-256 of token, the form tokens are stored and
// looked up in. A fast hash suffices: the token has 130 random bits, so there
// is nothing to brute-force.
func HashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// ValidTokenFormat reports whether s has the shape of an ingest token
// (uppercase, as issued). It lets the HTTP layer answer 401 without a
// database look-up for an IMEI or other junk; it proves nothing about s.
func ValidTokenFormat(s string) bool {
	rest, ok := strings.CutPrefix(s, TokenPrefix)
	if !ok || len(rest) != tokenSymbols {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if strings.IndexByte(crockford, rest[i]) < 0 {
			return false
		}
	}
	return true
}
