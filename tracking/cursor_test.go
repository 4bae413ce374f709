package tracking

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/usersync/usersync/errs"
)

func TestRouteCursorRoundTrip(t *testing.T) {
	berlin := time.FixedZone("CET", 3600)
	tests := []struct {
		name string
		in   RouteCursor
		want RouteCursor // nil-zone, UTC
	}{
		{
			name: "typical",
			in: RouteCursor{
				DeviceID: 42,
				From:     time.Date(2026, 11, 26, 20, 53, 55, 0, time.UTC),
				To:       time.Date(2026, 11, 27, 20, 53, 55, 0, time.UTC),
				After:    time.Date(2026, 11, 27, 8, 1, 2, 345_000_000, time.UTC),
			},
			want: RouteCursor{
				DeviceID: 42,
				From:     time.Date(2026, 11, 26, 20, 53, 55, 0, time.UTC),
				To:       time.Date(2026, 11, 27, 20, 53, 55, 0, time.UTC),
				After:    time.Date(2026, 11, 27, 8, 1, 2, 345_000_000, time.UTC),
			},
		},
		{
			name: "range to the nanosecond, after to the millisecond, zones to UTC",
			in: RouteCursor{
				DeviceID: 1<<53 + 1,
				From:     time.Date(2026, 11, 26, 21, 0, 0, 123_456_789, berlin),
				To:       time.Date(2026, 11, 27, 21, 0, 0, 999_999_999, berlin),
				After:    time.Date(2026, 11, 27, 9, 0, 0, 345_678_901, berlin),
			},
			want: RouteCursor{
				DeviceID: 1<<53 + 1,
				From:     time.Date(2026, 11, 26, 20, 0, 0, 123_456_789, time.UTC),
				To:       time.Date(2026, 11, 27, 20, 0, 0, 999_999_999, time.UTC),
				After:    time.Date(2026, 11, 27, 8, 0, 0, 345_000_000, time.UTC),
			},
		},
		{
			name: "before 1970",
			in:   RouteCursor{DeviceID: 7, From: time.Date(1900, 1, 1, 0, 0, 0, 1, time.UTC), To: time.Date(1900, 1, 2, 0, 0, 0, 0, time.UTC), After: time.Date(1900, 1, 1, 0, 0, 0, 5_000_000, time.UTC)},
			want: RouteCursor{DeviceID: 7, From: time.Date(1900, 1, 1, 0, 0, 0, 1, time.UTC), To: time.Date(1900, 1, 2, 0, 0, 0, 0, time.UTC), After: time.Date(1900, 1, 1, 0, 0, 0, 5_000_000, time.UTC)},
		},
		{name: "zero", in: RouteCursor{}, want: RouteCursor{After: time.UnixMilli(time.Time{}.UnixMilli()).UTC()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := EncodeRouteCursor(tt.in)
			if strings.ContainsAny(s, "+/=") || len(s) > maxCursorLen {
				t.Errorf("EncodeRouteCursor() = %q, want short unpadded base64url", s)
			}
			got, err := DecodeRouteCursor(s)
			if err != nil {
				t.Fatalf("DecodeRouteCursor(%q) error = %v", s, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("round trip mismatch (-want +got):\n%s", diff)
			}
			// Zones and sub-millisecond After do not change the encoding.
			if canonical := EncodeRouteCursor(tt.want); s != canonical {
				t.Errorf("EncodeRouteCursor() = %q, want %q as for its UTC form", s, canonical)
			}
		})
	}
}

func TestDecodeRouteCursorGarbage(t *testing.T) {
	good := EncodeRouteCursor(RouteCursor{
		DeviceID: 42,
		From:     time.Date(2026, 11, 26, 20, 53, 55, 0, time.UTC),
		To:       time.Date(2026, 11, 27, 20, 53, 55, 0, time.UTC),
		After:    time.Date(2026, 11, 27, 8, 1, 2, 345_000_000, time.UTC),
	})
	raw, err := base64.RawURLEncoding.DecodeString(good)
	if err != nil {
		t.Fatal(err)
	}
	flipped := append([]byte(nil), raw...)
	flipped[2] ^= 0x01
	version2 := append([]byte(nil), raw...)
	version2[0] = 2
	enc := base64.RawURLEncoding.EncodeToString

	tests := []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"not base64", "!!!!"},
		{"padded", good + "=="},
		{"standard alphabet", base64.StdEncoding.EncodeToString(raw)},
		{"truncated", good[:len(good)-3]},
		{"extended", good + "AA"},
		{"bit flipped", enc(flipped)},
		{"other version", enc(version2)},
		{"too short", enc([]byte{1, 0, 0})},
		{"too long", strings.Repeat("A", maxCursorLen+4)},
		{"json", enc([]byte(`{"device_id":42}`))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeRouteCursor(tt.in)
			var fe *errs.FieldError
			if !errors.As(err, &fe) || !errors.Is(err, errs.Invalid) || fe.Field != "cursor" {
				t.Errorf("DecodeRouteCursor(%q) = %+v, %v; want a cursor *errs.FieldError", tt.in, got, err)
			}
		})
	}
}

func FuzzDecodeRouteCursor(f *testing.F) {
	f.Add(EncodeRouteCursor(RouteCursor{DeviceID: 42, After: time.UnixMilli(1795812835123)}))
	f.Add("")
	f.Add("AQ")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := DecodeRouteCursor(s)
		if err != nil {
			if !errors.Is(err, errs.Invalid) {
				t.Fatalf("DecodeRouteCursor() error = %v, want errs.Invalid", err)
			}
			return
		}
		// What decodes must encode back to the same cursor.
		again, err := DecodeRouteCursor(EncodeRouteCursor(c))
		if err != nil || !again.From.Equal(c.From) || !again.To.Equal(c.To) || !again.After.Equal(c.After) || again.DeviceID != c.DeviceID {
			t.Fatalf("re-encoding %+v gave %+v, %v", c, again, err)
		}
	})
}
