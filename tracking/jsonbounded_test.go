package tracking

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/usersync/usersync/errs"
)

// TestParseOsmAndBoundedWhileDecoding: a 1 MiB JSON body of 300,000 empty
// objects, as a top-level array or as Traccar Client's location array, is
// refused without the objects being built; so are bodies of many values
// or deep nesting that hold no array at all.
func TestParseOsmAndBoundedWhileDecoding(t *testing.T) {
	empties := strings.TrimSuffix(strings.Repeat("{},", 300_000), ",")
	tests := []struct {
		name, body, wantMsg string
		maxAlloc            uint64 // bytes
	}{
		{"top-level array", "[" + empties + "]", "must hold at most 1000 locations", 1 << 20},
		{"nested location array", `{"device_id":"` + testToken + `","location":[` + empties + "]}", "must hold at most 1000 locations", 1 << 20},
		{"an array of an unknown key", `{"id":"` + testToken + `","lat":1,"lon":2,"extras":[` + empties + "]}", "must hold at most 1000 locations", 1 << 20},
		// 64,000 keys and values are read (about 200 bytes of garbage each) before the refusal.
		{"an object of 100,000 keys", "{" + manyKeys(100_000) + "}", "too many values", 16 << 20},
		{"nesting 10,000 deep", strings.Repeat(`{"a":`, 10_000) + "1" + strings.Repeat("}", 10_000), "nested too deeply", 1 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Not parallel: no other test allocates meanwhile.
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := ParseOsmAnd(url.Values{}, "application/json", []byte(tt.body), SpeedKnots, osmAndNow)
			runtime.ReadMemStats(&after)
			var fe *errs.FieldError
			if !errors.As(err, &fe) || fe.Field != "body" || !strings.Contains(fe.Msg, tt.wantMsg) {
				t.Fatalf("ParseOsmAnd() error = %v, want body: …%s…", err, tt.wantMsg)
			}
			if got := after.TotalAlloc - before.TotalAlloc; got > tt.maxAlloc {
				t.Errorf("refusing a %d-byte body allocated %d bytes, want it refused before it is built", len(tt.body), got)
			}
		})
	}
}

// manyKeys is n distinct keys with a value each.
func manyKeys(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"%x":0`, i)
	}
	return b.String()
}

// boundedValues are JSON bodies within the bounds, which boundedDecoder must
// read exactly as json.Decoder.Decode into an any does.
var boundedValues = []string{
	`null`, `true`, `1.50`, `"a\u00e9\ud83d\ude00"`, `[]`, `{}`, `[1,[2,[3]],{"a":{}}]`,
	`{"a":1,"a":2,"b":[null,false,"x"],"c":{"d":-0.0e+5}}`,
	`{"device_id":"trk_X","location":[{"timestamp":1,"coords":{"latitude":"1","longitude":2}}]}`,
	"\"\xff\"", `{"k\u0000":1}`,
}

func TestBoundedDecoderMatchesDecode(t *testing.T) {
	for _, body := range boundedValues {
		matchDecode(t, []byte(body))
	}
}

func FuzzBoundedDecoderMatchesDecode(f *testing.F) {
	for _, body := range boundedValues {
		f.Add([]byte(body))
	}
	f.Fuzz(func(t *testing.T, body []byte) { matchDecode(t, body) })
}

// matchDecode compares the two on one value; bodies beyond the bounds are
// skipped, as are bodies that Decode refuses but the bounded reader has not
// finished reading (it reads one value; Decode also reads one value).
func matchDecode(t *testing.T, body []byte) {
	t.Helper()
	want, wantErr := decodeAny(body)
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	bd := boundedDecoder{dec: dec, maxArray: 1000, maxValues: 64_000, maxDepth: 16}
	got, gotErr := bd.value(0)
	if errors.Is(gotErr, errTooManyElements) || errors.Is(gotErr, errTooManyValues) || errors.Is(gotErr, errTooDeep) {
		return
	}
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("body %q: error %v, Decode's %v", body, gotErr, wantErr)
	}
	if gotErr != nil {
		return
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("body %q: (-Decode +bounded):\n%s", body, diff)
	}
}

func decodeAny(body []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return v, err
}
