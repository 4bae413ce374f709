package httpapi

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
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

func TestDecodeBatchOnePassMatchesPointByPoint(t *testing.T) {
	many := make([]string, 1001)
	for i := range many {
		many[i] = fmt.Sprintf(`{"recorded_at":"2026-11-27T20:%02d:%02dZ","lat":1,"lon":%d}`, i/60%60, i%60, i%180)
	}
	bodies := append(ingestBodies,
		`{"locations":[`+strings.Join(many[:1000], ",")+`]}`,
		`{"locations":[`+strings.Join(many, ",")+`]}`)
	for i, body := range bodies {
		t.Run(fmt.Sprint(i), func(t *testing.T) { matchPointByPoint(t, []byte(body)) })
	}
}

func FuzzDecodeBatchOnePassMatchesPointByPoint(f *testing.F) {
	for _, b := range ingestBodies {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) { matchPointByPoint(t, body) })
}

func matchPointByPoint(t *testing.T, body []byte) {
	t.Helper()
	got, gotErr := decodeBatchBody(body)
	want, wantErr := decodeBatchPointByPoint(body)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("body %q: error %v, want %v", body, gotErr, wantErr)
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(batch{}), cmp.Comparer(func(a, b error) bool {
		return fmt.Sprint(a) == fmt.Sprint(b)
	})); diff != "" {
		t.Fatalf("body %q: batches differ (-point by point +one pass):\n%s", body, diff)
	}
}
