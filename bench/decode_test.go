package bench_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/usersync/usersync/bench"
	"github.com/usersync/usersync/webhooks"
)

// BenchmarkDecodeEvent decodes the user.updated body the webhook load
// sends (about 1.7 KB), as the webhook route does for every delivery.
func BenchmarkDecodeEvent(b *testing.B) {
	ms := time.Now().UnixMilli()
	body := []byte(fmt.Sprintf(bench.WebhookBody, 42, ms, 7))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		ev, err := webhooks.DecodeEvent(body)
		if err != nil || ev.User == nil || ev.User.Email == nil {
			b.Fatalf("%+v, %v", ev, err)
		}
	}
}
