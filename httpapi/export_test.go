package httpapi

import "github.com/gorilla/mux"

// RouterForTest is the router that NewServer wraps, built from d, so that
// tests can walk every route (openapi_test.go).
func RouterForTest(d Deps) *mux.Router { return routes(d, newLimits(d)).(*mux.Router) }

// CountingBody is a request body that counts the bytes the server read of it.
type CountingBody = countingBody
