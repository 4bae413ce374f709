package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/usersync/usersync/testkit"
	"github.com/usersync/usersync/tracking"
)

func TestDeviceRoutes(t *testing.T) {
	eachTrackingServer(t, func(t *testing.T, s *trackingServer) {
		ann := s.user(t, "user_ann")

		// An empty list first.
		var list struct{ Devices []device }
		s.do(t, http.MethodGet, "/api/devices", ann, "").want(t, http.StatusOK).json(t, &list)
		if list.Devices == nil || len(list.Devices) != 0 {
			t.Errorf("devices of a new user = %v, want []", list.Devices)
		}

		res := s.do(t, http.MethodPost, "/api/devices", ann, `{"name":"Bella's collar","hardware_id":"353861053849681"}`).want(t, http.StatusCreated)
		var created struct {
			Device      device `json:"device"`
			IngestToken string `json:"ingest_token"`
		}
		res.json(t, &created)
		d := created.Device
		if got, want := res.header.Get("Location"), fmt.Sprintf("/api/devices/%d", d.ID); got != want {
			t.Errorf("Location = %q, want %q", got, want)
		}
		wantJSONResponse(t, res)
		if !tracking.ValidTokenFormat(created.IngestToken) || d.TokenHint != created.IngestToken[:8] {
			t.Errorf("ingest_token %q, token_hint %q", created.IngestToken, d.TokenHint)
		}
		if d.Name != "Bella's collar" || d.HardwareID == nil || *d.HardwareID != "353861053849681" ||
			d.Status != "unknown" || d.LastSeenAt != nil || string(d.LastLocation) != "null" {
			t.Errorf("created device = %+v", d)
		}
		// Exactly the documented keys.
		var raw map[string]json.RawMessage
		res.json(t, &raw)
		wantKeys := []string{"created_at", "hardware_id", "id", "last_location", "last_seen_at", "name", "push_registered",
			"status", "token_hint", "updated_at"}
		if diff := cmp.Diff(wantKeys, jsonKeys(t, raw["device"])); diff != "" {
			t.Errorf("device keys mismatch (-want +got):\n%s", diff)
		}
		if strings.Contains(string(res.body), `"token_hash"`) {
			t.Error("the token hash reached the wire")
		}

		path := fmt.Sprintf("/api/devices/%d", d.ID)
		var got device
		s.do(t, http.MethodGet, path, ann, "").want(t, http.StatusOK).json(t, &got)
		if got.ID != d.ID || got.Name != d.Name {
			t.Errorf("GET %s = %+v", path, got)
		}

		s.do(t, http.MethodPatch, path, ann, `{"name":"  Bella  "}`).want(t, http.StatusOK).json(t, &got)
		if got.Name != "Bella" || *got.HardwareID != "353861053849681" {
			t.Errorf("PATCH = %+v, want the trimmed name and the hardware id kept", got)
		}

		// A report makes the device online, with its fix.
		s.ingest(t, created.IngestToken, point(time.Now().Add(-time.Minute), 0))
		s.do(t, http.MethodGet, path, ann, "").want(t, http.StatusOK).json(t, &got)
		if got.Status != "online" || got.LastSeenAt == nil || !strings.Contains(string(got.LastLocation), `"received_at"`) {
			t.Errorf("device after a report = %+v %s", got, got.LastLocation)
		}

		var rotated struct {
			Device      device `json:"device"`
			IngestToken string `json:"ingest_token"`
		}
		s.do(t, http.MethodPost, path+"/token", ann, "").want(t, http.StatusOK).json(t, &rotated)
		if rotated.IngestToken == created.IngestToken || rotated.Device.TokenHint != rotated.IngestToken[:8] {
			t.Errorf("rotated = %+v", rotated)
		}
		s.do(t, http.MethodPost, "/api/ingest/locations", created.IngestToken, `{"locations":[`+point(time.Now(), 1)+`]}`).
			want(t, http.StatusUnauthorized)
		s.ingest(t, rotated.IngestToken, point(time.Now(), 1))

		second, _ := s.createDevice(t, ann, "Phone")
		s.do(t, http.MethodGet, "/api/devices", ann, "").want(t, http.StatusOK).json(t, &list)
		if len(list.Devices) != 2 || list.Devices[0].ID != d.ID || list.Devices[1].ID != second.ID {
			t.Errorf("list = %+v, want both by id", list.Devices)
		}

		del := s.do(t, http.MethodDelete, path, ann, "").want(t, http.StatusNoContent)
		if len(del.body) != 0 {
			t.Errorf("204 with a body: %q", del.body)
		}
		s.do(t, http.MethodGet, path, ann, "").want(t, http.StatusNotFound)
		s.do(t, http.MethodGet, fmt.Sprintf("/api/locations/%d/latest", d.ID), ann, "").want(t, http.StatusNotFound)
		n, err := s.db.NewSelect().Table("locations").Where("device_id = ?", d.ID).Count(context.Background())
		if err != nil || n != 0 {
			t.Errorf("%d locations outlive their device (%v)", n, err)
		}
	})
}

// userRoute is a request of a user route, with a valid body.
type userRoute struct{ method, path, body string }

// deviceRoutes are the user routes of the device id.
func deviceRoutes(id string) []userRoute {
	return []userRoute{
		{http.MethodGet, "/api/devices/" + id, ""},
		{http.MethodPatch, "/api/devices/" + id, `{"name":"mine now"}`},
		{http.MethodPost, "/api/devices/" + id + "/token", ""},
		{http.MethodDelete, "/api/devices/" + id, ""},
		{http.MethodGet, "/api/locations/" + id + "/latest", ""},
		{http.MethodGet, "/api/locations/" + id + "/route", ""},
	}
}

// TestAnotherUsersDeviceIs404: on every user route, another user's device
// answers byte for byte as an absent id and as a malformed one.
func TestAnotherUsersDeviceIs404(t *testing.T) {
	eachTrackingServer(t, func(t *testing.T, s *trackingServer) {
		ann, bob := s.user(t, "user_ann"), s.user(t, "user_bob")
		d, token := s.createDevice(t, ann, "Ann's")
		s.ingest(t, token, point(time.Now().Add(-time.Minute), 0))
		const want = `{"error":"device not found"}` + "\n"

		ids := map[string]string{
			"another user's": fmt.Sprint(d.ID),
			"absent":         fmt.Sprint(d.ID + 1000),
			"not a number":   "abc",
			"leading zero":   "0" + fmt.Sprint(d.ID),
			"signed":         "+" + fmt.Sprint(d.ID),
			"zero":           "0",
			"too large":      "99999999999999999999",
		}
		for name, id := range ids {
			for _, rt := range append(deviceRoutes(id),
				userRoute{http.MethodGet, "/api/locations/" + id + "/route?format=geojson&limit=5", ""}) {
				res := s.do(t, rt.method, rt.path, bob, rt.body)
				if res.status != http.StatusNotFound || string(res.body) != want {
					t.Errorf("%s: %s %s = %d %q, want 404 %q", name, rt.method, rt.path, res.status, res.body, want)
				}
			}
		}

		// Ann's device is untouched.
		var got device
		s.do(t, http.MethodGet, fmt.Sprintf("/api/devices/%d", d.ID), ann, "").want(t, http.StatusOK).json(t, &got)
		if got.Name != "Ann's" || got.TokenHint != d.TokenHint {
			t.Errorf("Ann's device after Bob's attempts = %+v", got)
		}
	})
}

// TestUserStates: a user without a row has no devices and cannot create
// one (409); a deleted user gets 410 on every user route.
func TestUserStates(t *testing.T) {
	eachTrackingServer(t, func(t *testing.T, s *trackingServer) {

		stranger := s.key.Sign(t, testkit.SessionClaims("user_unsynced"))
		s.do(t, http.MethodGet, "/api/devices", stranger, "").want(t, http.StatusOK)
		if res := s.do(t, http.MethodGet, "/api/devices", stranger, ""); string(res.body) != `{"devices":[]}`+"\n" {
			t.Errorf("devices of a user without a row = %q", res.body)
		}
		s.do(t, http.MethodPost, "/api/devices", stranger, `{"name":"x"}`).want(t, http.StatusConflict)
		s.do(t, http.MethodGet, "/api/devices/1", stranger, "").want(t, http.StatusNotFound)
		s.do(t, http.MethodGet, "/api/locations/1/route", stranger, "").want(t, http.StatusNotFound)

		ann := s.user(t, "user_ann")
		d, token := s.createDevice(t, ann, "Ann's")
		if _, err := s.users.Delete(context.Background(), "user_ann", time.Now()); err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprint(d.ID)
		for _, rt := range append([]userRoute{
			{http.MethodGet, "/api/devices", ""},
			{http.MethodPost, "/api/devices", `{"name":"x"}`},
		}, deviceRoutes(id)...) {
			res := s.do(t, rt.method, rt.path, ann, rt.body)
			if res.status != http.StatusGone || string(res.body) != `{"error":"user has been deleted"}`+"\n" {
				t.Errorf("deleted user: %s %s = %d %s, want 410", rt.method, rt.path, res.status, res.body)
			}
		}
		// The body before the user: 400 for a deleted user's bad body.
		s.do(t, http.MethodPatch, "/api/devices/"+id, ann, `{"name":""}`).want(t, http.StatusBadRequest)
		// The deletion took the device and its token.
		s.do(t, http.MethodPost, "/api/ingest/locations", token, `{"locations":[`+point(time.Now(), 0)+`]}`).
			want(t, http.StatusUnauthorized)

		s.do(t, http.MethodGet, "/api/devices", "", "").want(t, http.StatusUnauthorized)
		s.do(t, http.MethodGet, "/api/devices", token, "").want(t, http.StatusUnauthorized) // a device token is no session
	})
}

func TestCreateDeviceErrors(t *testing.T) {
	eachTrackingServer(t, func(t *testing.T, s *trackingServer) {
		ann := s.user(t, "user_ann")

		for _, tc := range []struct {
			body string
			want string // a part of the error
		}{
			{`{}`, "name: required"},
			{`{"name":null}`, "name: required"},
			{`{"name":""}`, "name: must be 1 to 100 characters"},
			{`{"name":"   "}`, "name: must be 1 to 100 characters"},
			{`{"name":"` + strings.Repeat("x", 101) + `"}`, "name: must be 1 to 100 characters"},
			{`{"name":"a\u0007b"}`, "name: must not contain control characters"},
			{`{"name":42}`, "name must be a string"},
			{`{"name":"a\ud800b"}`, "name is not valid UTF-8"},
			{`{"name":"x","hardware_id":""}`, "hardware_id"},
			{`{"name":"x","hardware_id":"353 861"}`, "hardware_id"},
			{`{"name":"x","hardware_id":"` + strings.Repeat("9", 65) + `"}`, "hardware_id"},
			{`{"name":"x","hardware_id":7}`, "hardware_id must be a string"},
			{`{"name":`, "not valid JSON"},
		} {
			res := s.do(t, http.MethodPost, "/api/devices", ann, tc.body)
			if res.status != http.StatusBadRequest || !strings.Contains(string(res.body), tc.want) {
				t.Errorf("POST %s = %d %s, want 400 with %q", tc.body, res.status, res.body, tc.want)
			}
		}
		s.do(t, http.MethodPost, "/api/devices", ann, `{"name":"`+strings.Repeat("x", 70<<10)+`"}`).
			want(t, http.StatusRequestEntityTooLarge)
		d, _ := s.createDevice(t, ann, "x")
		// The body before the device: 400 on a malformed id too.
		for _, id := range []string{fmt.Sprint(d.ID), "abc"} {
			s.do(t, http.MethodPatch, "/api/devices/"+id, ann, `{"hardware_id":"x"}`).want(t, http.StatusBadRequest)
		}

		s.do(t, http.MethodPost, "/api/devices", ann, `{"name":"a","hardware_id":"353861053849681"}`).want(t, http.StatusCreated)
		res := s.do(t, http.MethodPost, "/api/devices", ann, `{"name":"b","hardware_id":"353861053849681"}`).want(t, http.StatusConflict)
		if !strings.Contains(string(res.body), "hardware_id") {
			t.Errorf("duplicate hardware id: %s", res.body)
		}
		// Unique per user only: Bob may label his device alike.
		bob := s.user(t, "user_bob")
		s.do(t, http.MethodPost, "/api/devices", bob, `{"name":"b","hardware_id":"353861053849681"}`).want(t, http.StatusCreated)

		// 100 devices, then 409.
		for i := 3; i <= tracking.MaxDevicesPerUser; i++ {
			s.createDevice(t, ann, fmt.Sprint("tracker ", i))
		}
		res = s.do(t, http.MethodPost, "/api/devices", ann, `{"name":"one too many"}`).want(t, http.StatusConflict)
		if !strings.Contains(string(res.body), "100") {
			t.Errorf("over the cap: %s", res.body)
		}
	})
}
