package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/usersync/usersync/migrations/dbtest"
	"github.com/usersync/usersync/testkit"
)

// TestServeTracking runs the binary with the tracking settings set and
// follows a device from registration to its latest fix over real HTTP: the
// settings reach the service (OSMAND_SPEED_UNIT=kmh turns 36 into 10 m/s)
// and the device token stays out of the logs.
func TestServeTracking(t *testing.T) {
	key := testkit.NewKey(t, "ins_test")
	dbtest.EachURL(t, func(t *testing.T, databaseURL string) {
		t.Parallel()
		base, stop, logs := startServer(t, map[string]string{
			"ADDR":                 "127.0.0.1:0",
			"DATABASE_URL":         databaseURL,
			"CLERK_JWT_KEY":        key.PublicPEM(t),
			"OSMAND_SPEED_UNIT":    "kmh",
			"DEVICE_ONLINE_WINDOW": "1h",
			"LOG_LEVEL":            "debug",
		})
		session := key.TokenAt(t, "user_map", time.Now().Add(-time.Second))
		call := func(method, path, auth, body string) (int, []byte) {
			t.Helper()
			req, err := http.NewRequest(method, base+path, strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if auth != "" {
				req.Header.Set("Authorization", "Bearer "+auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			return resp.StatusCode, b
		}

		if status, body := call(http.MethodPost, "/api/devices", session, `{"name":"Bella"}`); status != http.StatusConflict {
			t.Errorf("create before the first sync = %d %s, want 409", status, body)
		}
		if status, body := call(http.MethodPost, "/api/auth/sync", session, `{"clerk_user_id":"user_map","email":"map@example.com"}`); status != http.StatusOK {
			t.Fatalf("sync = %d %s", status, body)
		}
		status, body := call(http.MethodPost, "/api/devices", session, `{"name":"Bella"}`)
		var created struct {
			Device struct {
				ID int64 `json:"id"`
			} `json:"device"`
			IngestToken string `json:"ingest_token"`
		}
		if err := json.Unmarshal(body, &created); err != nil || status != http.StatusCreated {
			t.Fatalf("create = %d %s", status, body)
		}

		at := time.Now().Add(-time.Minute).Unix()
		q := fmt.Sprintf("/api/ingest/osmand?id=%s&lat=52.52&lon=13.4&speed=36&timestamp=%d", created.IngestToken, at)
		if status, body := call(http.MethodGet, q, "", ""); status != http.StatusOK || len(body) != 0 {
			t.Fatalf("osmand = %d %q", status, body)
		}

		status, body = call(http.MethodGet, "/api/devices/"+strconv.FormatInt(created.Device.ID, 10), session, "")
		var dev struct {
			Status       string `json:"status"`
			LastLocation struct {
				RecordedAt time.Time `json:"recorded_at"`
				SpeedMPS   float64   `json:"speed_mps"`
			} `json:"last_location"`
		}
		if err := json.Unmarshal(body, &dev); err != nil || status != http.StatusOK {
			t.Fatalf("device = %d %s", status, body)
		}
		if dev.Status != "online" || dev.LastLocation.SpeedMPS != 10 || dev.LastLocation.RecordedAt.Unix() != at {
			t.Errorf("device = %s, want online with 36 km/h as 10 m/s", body)
		}

		if err := stop(); err != nil {
			t.Fatalf("serve returned %v after cancel", err)
		}
		if strings.Contains(logs.String(), created.IngestToken) {
			t.Error("the device token reached a log line")
		}
	})
}
