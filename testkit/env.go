package testkit

import (
	"bytes"
	"sync"
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
