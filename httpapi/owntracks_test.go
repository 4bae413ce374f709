package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/usersync/usersync/tracking"
	"github.com/usersync/usersync/users"
)

// TestOwnTracks: who may post, and the answers OwnTracks needs: 200 [] for
// anything a retry cannot improve, 401 only for a bad token.
func TestOwnTracks(t *testing.T) {
	eachTrackingServer(t, func(t *testing.T, s *trackingServer) {
		ann, d, token := s.annsDevice(t)
		tst := time.Now().Add(-time.Hour).Unix()
		location := func(lat float64, tst int64) string {
			return fmt.Sprintf(`{"_type":"location","lat":%v,"lon":13.4,"tst":%d,"tid":"bl"}`, lat, tst)
		}
		post := func(auth, body string) response {
			req := s.newRequest(t, http.MethodPost, "/api/ingest/owntracks", body)
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			return s.send(t, req)
		}
		const ok, unauthorized = "[]\n", `{"error":"invalid device token"}` + "\n"

		// Credentials: the token as the Basic password with any user name, or a Bearer token.
		for i, auth := range []string{basicAuth("ann", token), basicAuth("", token), basicAuth("Ann Lee", token), "Bearer " + token} {
			res := post(auth, location(52.52, tst+int64(i)))
			if res.status != http.StatusOK || string(res.body) != ok || res.header.Get("Content-Type") != "application/json; charset=utf-8" {
				t.Errorf("credentials %d: %d %q (%s), want 200 []", i, res.status, res.body, res.header.Get("Content-Type"))
			}
		}
		if n := len(s.routePoints(t, ann, d.ID)); n != 4 {
			t.Errorf("%d points stored, want 4", n)
		}
		for name, auth := range map[string]string{
			"none":              "",
			"an unknown token":  basicAuth("ann", "trk_"+strings.Repeat("0", 26)),
			"an IMEI":           basicAuth("ann", "353861053849681"),
			"the token as user": basicAuth(token, "secret"),
			"not base64":        "Basic !!!",
			"a session token":   "Bearer " + ann,
		} {
			res := post(auth, location(52.52, tst))
			if res.status != http.StatusUnauthorized || string(res.body) != unauthorized {
				t.Errorf("%s: %d %q, want 401", name, res.status, res.body)
			}
		}

		// A point that breaks a rule, or does not decode, is dropped with
		// 200 [] (OwnTracks iOS deletes a message on a 4xx) and a log line;
		// the device was seen.
		e, eToken := s.createDevice(t, ann, "Rex")
		for _, body := range []string{
			location(91, tst), // out of range
			location(52.52, time.Now().Add(time.Hour).Unix()),                          // from the future
			`{"_type":"location","lon":13.4,"tst":` + strconv.FormatInt(tst, 10) + `}`, // no lat
			`{"_type":"location","lat":"north","lon":13.4,"tst":1}`,                    // not a number
			`{"_type":"location","lat":1,"lon":2,"tst":` + strconv.FormatInt(tst, 10) + `,"bs":7}`,
		} {
			if res := post(basicAuth("ann", eToken), body); res.status != http.StatusOK || string(res.body) != ok {
				t.Errorf("%s: %d %q, want 200 []", body, res.status, res.body)
			}
		}
		if n := len(s.routePoints(t, ann, e.ID)); n != 0 {
			t.Errorf("%d invalid points stored", n)
		}
		var got device
		s.do(t, http.MethodGet, fmt.Sprintf("/api/devices/%d", e.ID), ann, "").want(t, http.StatusOK).json(t, &got)
		if got.LastSeenAt == nil {
			t.Error("a location message with a dropped point did not mark the device seen")
		}
		logs := s.logs.String()
		for _, reason := range []string{"lat: must be between -90 and 90", "recorded_at: must not be more than 10 minutes in the future",
			"lat: required", "lat: must be a number", "bs: must be 0, 1, 2 or 3"} {
			if !strings.Contains(logs, `"msg":"owntracks location rejected"`) || !strings.Contains(logs, `"reason":"`+reason+`"`) {
				t.Errorf("no log line for %q", reason)
			}
		}

		// A body no app sends: 400, after the token.
		for _, body := range []string{`{"_type":"location"`, `[{"_type":"location"}]`, `"location"`} {
			if res := post(basicAuth("ann", token), body); res.status != http.StatusBadRequest || !strings.Contains(string(res.body), "body: must be a JSON object") {
				t.Errorf("%s: %d %q, want 400", body, res.status, res.body)
			}
			if res := post(basicAuth("ann", "trk_"+strings.Repeat("0", 26)), body); res.status != http.StatusUnauthorized {
				t.Errorf("%s with an unknown token: %d, want 401", body, res.status)
			}
		}
		if res := post(basicAuth("ann", token), `{"_type":"card","face":"`+strings.Repeat("A", 1<<20)+`"}`); res.status != http.StatusRequestEntityTooLarge {
			t.Errorf("a body over 1 MiB: %d, want 413", res.status)
		}
		s.do(t, http.MethodGet, "/api/ingest/owntracks", token, "").want(t, http.StatusMethodNotAllowed)

		logs = s.logs.String()
		if strings.Contains(logs, token) || strings.Contains(logs, eToken) {
			t.Errorf("a device token reached the logs:\n%s", logs)
		}
	})
}

// TestOwnTracksRateLimited: the limiter's refusal is a 503 with the
// limiter's Retry-After on the OwnTracks route, a 429 on the others.
func TestOwnTracksRateLimited(t *testing.T) {
	db := sqliteDB(t)
	ctx := context.Background()
	email := "ann@example.com"
	u, err := users.NewService(db).Upsert(ctx, users.Write{ClerkUserID: "user_ann", Email: &email, Version: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	track := tracking.NewService(db, tracking.Config{})
	_, token, err := track.CreateDevice(ctx, u.User.ID, tracking.NewDevice{Name: "Bella"})
	if err != nil {
		t.Fatal(err)
	}
	srv := oaServer(t, db, oaConfig{burst: 1}) // one request, refilled in 1000 s
	post := func(path, auth, body string) *http.Response {
		req, err := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", auth)
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	body := fmt.Sprintf(`{"_type":"location","lat":52.52,"lon":13.4,"tst":%d}`, time.Now().Add(-time.Minute).Unix())
	if res := post("/api/ingest/owntracks", basicAuth("ann", token), body); res.StatusCode != http.StatusOK {
		t.Fatalf("first request: %d", res.StatusCode)
	}
	// The Basic password is the bucket's key, as a Bearer token is: the same bucket.
	for _, auth := range []string{basicAuth("bob", token), "Bearer " + token} {
		res := post("/api/ingest/owntracks", auth, body)
		if retry, _ := strconv.Atoi(res.Header.Get("Retry-After")); res.StatusCode != http.StatusServiceUnavailable || retry < 900 {
			t.Errorf("over the limit: %d, Retry-After %q; want 503 with the limiter's wait", res.StatusCode, res.Header.Get("Retry-After"))
		}
	}
	if res := post("/api/ingest/locations", "Bearer "+token, `{"locations":[]}`); res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("another ingest route over the limit: %d, want 429", res.StatusCode)
	}
}
