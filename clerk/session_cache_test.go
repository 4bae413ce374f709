package clerk

import (
	"crypto/sha256"
	"testing"
	"time"
)

func TestVerifiedTokens(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	newCache := func() *verifiedTokens {
		return &verifiedTokens{entries: map[[sha256.Size]byte]Session{}}
	}
	sum := sha256.Sum256([]byte("token"))
	s := Session{UserID: "user_2abc", IssuedAt: now.Add(-time.Minute), ExpiresAt: now.Add(time.Minute)}

	t.Run("a hit until exp plus the leeway", func(t *testing.T) {
		c := newCache()
		c.put(sum, s, now)
		for _, at := range []time.Time{now, now.Add(time.Minute), now.Add(time.Minute + Leeway)} {
			if got, ok := c.get(sum, at); !ok || got != s {
				t.Errorf("get at %s = %v, %v; want the session", at, got, ok)
			}
		}
		if _, ok := c.get(sum, now.Add(time.Minute+Leeway+time.Millisecond)); ok {
			t.Error("an expired token was served from the cache")
		}
		if len(c.entries) != 0 {
			t.Errorf("the expired entry was kept: %d entries", len(c.entries))
		}
	})

	t.Run("another token misses", func(t *testing.T) {
		c := newCache()
		c.put(sum, s, now)
		if _, ok := c.get(sha256.Sum256([]byte("token2")), now); ok {
			t.Error("a token never verified was served from the cache")
		}
	})

	t.Run("bounded, evicting the expired first, then a few", func(t *testing.T) {
		c := newCache()
		for i := 0; i < maxVerifiedTokens; i++ {
			k := sha256.Sum256([]byte{byte(i), byte(i >> 8), byte(i >> 16)})
			e := s
			if i%4 == 0 {
				e.ExpiresAt = now.Add(-time.Minute) // expired by now
			}
			c.put(k, e, now.Add(-2*time.Minute))
		}
		c.put(sum, s, now)
		if n, want := len(c.entries), maxVerifiedTokens*3/4+1; n != want {
			t.Errorf("after evicting the expired: %d entries, want %d", n, want)
		}
		for i := 0; i < maxVerifiedTokens; i++ {
			k := sha256.Sum256([]byte{byte(i), byte(i >> 8), byte(i >> 16), 1})
			c.put(k, s, now)
			if n := len(c.entries); n > maxVerifiedTokens {
				t.Fatalf("%d entries, want at most %d", n, maxVerifiedTokens)
			}
		}
		if n := len(c.entries); n < maxVerifiedTokens*7/8 {
			t.Errorf("%d entries left: a full cache must shed only a few", n)
		}
	})

	t.Run("clear", func(t *testing.T) {
		c := newCache()
		c.put(sum, s, now)
		c.clear()
		if _, ok := c.get(sum, now); ok {
			t.Error("served after clear")
		}
	})
}
