package bench_test

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkVerifySession is the session check of every authenticated
// request: first a token seen for the first time (clerk-sdk-go's full
// verification), then one verified before (the verifier's cache). Tokens
// are minted before the timer starts, one per iteration of "fresh".
func BenchmarkVerifySession(b *testing.B) {
	fakeClerk, v := newVerifier(b)
	ctx := context.Background()
	minted := 0 // every token has a subject of its own, so none repeats
	mint := func(n int) []string {
		tokens := make([]string, n)
		for i := range tokens {
			minted++
			token, err := fakeClerk.Token("user_bench_"+strconv.Itoa(minted), time.Now(), time.Hour)
			if err != nil {
				b.Fatal(err)
			}
			tokens[i] = token
		}
		return tokens
	}
	b.Run("fresh", func(b *testing.B) {
		tokens := mint(b.N)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := v.Verify(ctx, tokens[i]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("reused", func(b *testing.B) {
		token := mint(1)[0]
		for b.Loop() {
			if _, err := v.Verify(ctx, token); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("rsa-only", func(b *testing.B) { // the signature check alone, for scale
		token := mint(1)[0]
		i := strings.LastIndexByte(token, '.')
		sig, _ := base64.RawURLEncoding.DecodeString(token[i+1:])
		sum := sha256.Sum256([]byte(token[:i]))
		block, _ := pem.Decode([]byte(fakeClerk.PublicPEM()))
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if err := rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), crypto.SHA256, sum[:], sig); err != nil {
				b.Fatal(err)
			}
		}
	})
}
