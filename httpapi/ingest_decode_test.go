package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/usersync/usersync/errs"
	"github.com/usersync/usersync/tracking"
)

// ingestBodies are batches where reading them in one pass could differ
// from reading them point by point.
var ingestBodies = []string{
	``, `null`, `[]`, `{}`, `{"locations":null}`, `{"locations":[]}`, `{"locations":{}}`, `{"locations":[1]}`,
	`{"locations":[{"recorded_at":"2026-11-27T20:53:55.123Z","lat":52.52,"lon":13.4,"accuracy_m":4.8}]}`,
	`{"locations":[null,{"recorded_at":"2026-11-27T20:53:55Z","lat":1,"lon":2},[1,2],{"lat":"x"},{"recorded_at":5}]}`,
	`{"Locations":[{"recorded_at":"2026-11-27T20:53:55Z","lat":1,"lon":2}]}`,
	`{"locations":[{"recorded_at":"2026-11-27T20:53:55Z","lat":1,"lon":2,"accuracy_m":5}],` +
		`"locations":[{"recorded_at":"2026-11-27T20:53:56Z","lat":1,"lon":2}]}`,
	`{"locations":[{"recorded_at":"2026-11-27T20:53:55Z","lat":1,"lon":2,"accuracy_m":5}],` +
		`"LOCATIONS":[null]}`,
	`{"locations":[{"recorded_at":"2026-11-27T20:53:55Z","lat":1,"lon":2,"accuracy_m":5}],` +
		`"locati\u006fns":[{"recorded_at":"2026-11-27T20:53:56Z","lat":1,"lon":2}]}`,
	"{\"locations\":[{\"recorded_at\":\"2026-11-27T20:53:55Z\",\"lat\":1,\"lon\":2,\"accuracy_m\":5}]," +
		"\"location\u017f\":[{\"recorded_at\":\"2026-11-27T20:53:56Z\",\"lat\":1,\"lon\":2}]}",
	`{"locations":[{"recorded_at":"2026-11-27T20:53:55Z","lat":1,"lon":2,"lat":3,"LON":4,"Accuracy_M":7}]}`,
	`{"locations":[{"recorded_at":"2026-11-27T20:53:55Z","lat":1e400,"lon":2}]}`,
	`{"locations":[{"recorded_at":"not a time","lat":1,"lon":2}],"other":"locations"}`,
	`{"locations":[{"recorded_at":"2026-11-27T20:53:55Z","lat":1,"lon":2}]} trailing`,
	`{"locations":[{"recorded_at":"2026-11-27T20:53:55Z","lat":1,"lon":2,"motion":true,"odometer_m":5.5,"charging":false,` +
		`"activity":"walking","event":"","alarm":"sos"}]}`,
	`{"locations":[{"recorded_at":"2026-11-27T20:53:55Z","lat":1,"lon":2,"motion":"yes"},` +
		`{"recorded_at":"2026-11-27T20:53:56Z","lat":1,"lon":2,"event":5},` +
		`{"recorded_at":"2026-11-27T20:53:57Z","lat":1,"lon":2,"alarm":"\ud800"},` +
		`{"recorded_at":"2026-11-27T20:53:58Z","lat":1,"lon":2,"Alarm":"a","ALARM":null,"Motion":false}]}`,
	"{\"locations\":[{\"recorded_at\":\"2026-11-27T20:53:55Z\",\"lat\":1,\"lon\":2,\"activity\":\"\xff\"}]}",
}

func TestDecodeBatchMatchesReference(t *testing.T) {
	many := make([]string, 1001)
	for i := range many {
		many[i] = fmt.Sprintf(`{"recorded_at":"2026-11-27T20:%02d:%02dZ","lat":1,"lon":%d}`, i/60%60, i%60, i%180)
	}
	bodies := append(ingestBodies,
		`{"locations":[`+strings.Join(many[:1000], ",")+`]}`,
		`{"locations":[`+strings.Join(many, ",")+`]}`)
	for i, body := range bodies {
		t.Run(fmt.Sprint(i), func(t *testing.T) { matchReference(t, []byte(body)) })
	}
}

func FuzzDecodeBatchMatchesReference(f *testing.F) {
	for _, b := range ingestBodies {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) { matchReference(t, body) })
}

// matchReference checks that the streaming decoder reads body as the
// reference does. Past the point cap the streaming decoder stops where the
// reference reads on (a later syntax error or "locations" key cannot change
// its answer), so there only the status must agree.
func matchReference(t *testing.T, body []byte) {
	t.Helper()
	got, gotErr := decodeBatchFrom(bytes.NewReader(body))
	want, wantErr := referenceDecodeBatch(body)
	if gotErr != nil && gotErr.Error() == "locations: must hold 1 to 1000 points" {
		if wantErr == nil || !errors.Is(wantErr, errs.Invalid) {
			t.Fatalf("body %q: error %v, want %v", body, gotErr, wantErr)
		}
		return
	}
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("body %q: error %v, want %v", body, gotErr, wantErr)
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(batch{}), cmp.Comparer(func(a, b error) bool {
		return fmt.Sprint(a) == fmt.Sprint(b)
	})); diff != "" {
		t.Fatalf("body %q: batches differ (-reference +streaming):\n%s", body, diff)
	}
}

// referenceDecodeBatch is the batch as encoding/json reads it: the whole
// body into a list of raw points, then each point on its own. It
// materializes every point, which is why the service streams instead.
func referenceDecodeBatch(body []byte) (batch, error) {
	var raw struct {
		Locations []json.RawMessage `json:"locations"`
	}
	if err := unmarshalBody(body, &raw); err != nil {
		return batch{}, err
	}
	if err := checkBatchSize(len(raw.Locations)); err != nil {
		return batch{}, err
	}
	b := batch{received: len(raw.Locations)}
	for i, p := range raw.Locations {
		var pj pointJSON
		if err := json.Unmarshal(p, &pj); err != nil {
			b.add(i, tracking.Location{}, pointError(err))
			continue
		}
		l, err := pj.location()
		b.add(i, l, err)
	}
	return b, nil
}

// countingBody is a request body that counts the bytes read through it;
// the external tests have it as CountingBody (export_test.go).
type countingBody struct {
	R io.Reader
	N int
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.R.Read(p)
	c.N += n
	return n, err
}

func (c *countingBody) Close() error { return nil }

// TestDecodeBatchCapWhileDecoding: a 1 MiB body of 300,000 empty objects
// is refused at its 1001st point, having read a few kilobytes of it and
// allocated nothing per object beyond those.
func TestDecodeBatchCapWhileDecoding(t *testing.T) {
	body := []byte(`{"locations":[` + strings.TrimSuffix(strings.Repeat("{},", 300_000), ",") + `]}`)
	if len(body) < 850<<10 || len(body) > ingestBodyLimit {
		t.Fatalf("body is %d bytes, want about 1 MiB", len(body))
	}
	in := &countingBody{R: bytes.NewReader(body)}
	_, err := decodeBatchFrom(in)
	var e *errs.FieldError
	if !errors.As(err, &e) || e.Field != "locations" {
		t.Fatalf("err = %v, want the locations cap", err)
	}
	if in.N > 64<<10 {
		t.Errorf("read %d bytes of the body before refusing it, want no more than the first points and a buffer", in.N)
	}
	// Not parallel: no other test allocates meanwhile.
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	decodeBatchFrom(bytes.NewReader(body))
	runtime.ReadMemStats(&after)
	// The first 1000 points are decoded (about 300 bytes each, with the
	// tracker attributes), the 299,000 others never: 85 MB if they were.
	if got := after.TotalAlloc - before.TotalAlloc; got > 512<<10 {
		t.Errorf("refusing 300,000 points allocated %d bytes, want them not materialized", got)
	}
}

// BenchmarkDecodeBatch is a full batch of 1000 points: the streaming
// decoder, and for comparison json.Unmarshal of the whole body into typed
// points (the fastest encoding/json can do, but it materializes every
// element before the count can be checked).
//
//	go test ./httpapi -run '^$' -bench DecodeBatch -benchmem
func BenchmarkDecodeBatch(b *testing.B) {
	points := make([]string, tracking.MaxIngestPoints)
	for i := range points {
		points[i] = fmt.Sprintf(`{"recorded_at":"2026-11-27T20:%02d:%02d.123Z","lat":52.520008,"lon":13.404954,`+
			`"accuracy_m":4.8,"altitude_m":41.2,"speed_mps":1.39,"course_deg":271.5,"battery_pct":87}`, i/60%60, i%60)
	}
	body := []byte(`{"locations":[` + strings.Join(points, ",") + `]}`)
	b.Run("streaming", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, err := decodeBatchFrom(bytes.NewReader(body)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("unmarshal-whole", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var typed struct {
				Locations []pointJSON `json:"locations"`
			}
			if err := json.Unmarshal(body, &typed); err != nil {
				b.Fatal(err)
			}
		}
	})
}
