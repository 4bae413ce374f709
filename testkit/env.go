package testkit

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// Env is a getenv over m, for the functions that read the environment.
func Env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// LockedBuffer is an io.Writer that a test may read while a server writes.
type LockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *LockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Eventually polls cond every 10 ms until it holds, failing the test
// after wait: how a test sees something happen in the background.
func Eventually(t testing.TB, wait time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(wait); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, wait)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
