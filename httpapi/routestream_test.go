package httpapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/usersync/usersync/clerk"
	"github.com/usersync/usersync/tracking"
	"github.com/usersync/usersync/users"
)

// oneUser is the users service holding one live user.
type oneUser struct{}

func (oneUser) Get(context.Context, string) (users.User, error) { return users.User{ID: 1}, nil }

// failingRoute emits points and then fails as a broken database would.
type failingRoute struct{ pointsBeforeFailure int }

func (failingRoute) PlanRoute(deviceID int64, _ tracking.RouteQuery) (tracking.RoutePlan, error) {
	return tracking.RoutePlan{DeviceID: deviceID, From: time.Unix(0, 0), To: time.Unix(3600, 0), Limit: 10}, nil
}

func (f failingRoute) Route(_ context.Context, _ int64, _ tracking.RoutePlan, emit func(tracking.Location) error) (tracking.RoutePage, error) {
	for i := range f.pointsBeforeFailure {
		if err := emit(tracking.Location{RecordedAt: time.Unix(int64(i), 0), Lat: 1, Lon: 2}); err != nil {
			return tracking.RoutePage{}, err
		}
	}
	return tracking.RoutePage{}, errors.New("connection reset by database")
}

// TestRouteFailure: a failure before the first point is a JSON 500; one
// after it cuts the connection, whether or not bytes of the page were sent,
// so that a client never takes a truncated page for a whole one.
func TestRouteFailure(t *testing.T) {
	for _, tc := range []struct {
		name   string
		points int
	}{
		{"before the first point", 0},
		{"with the page still buffered", 3},
		{"with part of the page sent", 2000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logger := slog.New(slog.NewTextHandler(io.Discard, nil))
			h := handleRoute(logger, oneUser{}, failingRoute{pointsBeforeFailure: tc.points})
			srv := httptest.NewServer(observe(logger, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				r = mux.SetURLVars(r, map[string]string{"deviceId": "7"})
				h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sessionKey, clerk.Session{UserID: "user_x"})))
			})))
			defer srv.Close()

			resp, err := http.Get(srv.URL)
			if err != nil {
				if tc.points == 0 {
					t.Fatal(err)
				}
				return // cut before the headers
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			switch {
			case tc.points == 0:
				if resp.StatusCode != http.StatusInternalServerError || string(body) != `{"error":"Database error occurred"}`+"\n" {
					t.Errorf("%d %q, want 500 with the database error body", resp.StatusCode, body)
				}
			case !errors.Is(err, io.ErrUnexpectedEOF):
				t.Errorf("read a whole body after a failure (%v): %.100q", err, body)
			case !strings.HasPrefix(string(body), `{"device_id":7`):
				t.Errorf("body %.100q, want the page's start", body)
			}
		})
	}
}
