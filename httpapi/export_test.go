package httpapi

import (
	"time"

	"github.com/gorilla/mux"
)

// RouterForTest is the router that NewServer wraps, built from d, so that
// tests can walk every route (openapi_test.go).
func RouterForTest(d Deps) *mux.Router { return routes(d, newLimits(d)).(*mux.Router) }

// SetSessionClock replaces the clock of v's JWKS cache; call it before v
// is used.
func SetSessionClock(v *SessionVerifier, now func() time.Time) { v.now = now }
