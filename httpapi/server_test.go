package httpapi_test

import (
	"net/http"
	"testing"
)

func TestUnknownRoutesAndMethods(t *testing.T) {
	t.Parallel()
	srv := startServer(t, sqliteDB(t), nil)

	tests := []struct {
		method, path string
		status       int
		msg          string
	}{
		{http.MethodGet, "/nope", http.StatusNotFound, "not found"},
		{http.MethodPost, "/api/auth/sync/extra", http.StatusNotFound, "not found"},
		{http.MethodGet, "/api/auth/sync", http.StatusMethodNotAllowed, "method not allowed"},
		{http.MethodPut, "/api/auth/sync", http.StatusMethodNotAllowed, "method not allowed"},
		{http.MethodPost, "/healthz", http.StatusMethodNotAllowed, "method not allowed"},
		{http.MethodDelete, "/readyz", http.StatusMethodNotAllowed, "method not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			t.Parallel()
			res := srv.send(t, srv.newRequest(t, tt.method, tt.path, ""))
			wantError(t, res, tt.status, tt.msg)
		})
	}
}
