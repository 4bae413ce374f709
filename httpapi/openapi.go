package httpapi

import (
	_ "embed"
	"net/http"
)

// openAPISpec is the OpenAPI description of every route in routes.go;
// openapi_test.go holds the two to each other and to the handlers.
//
//go:embed openapi.yaml
var openAPISpec []byte

// handleOpenAPI serves openapi.yaml as it is in the source tree.
func handleOpenAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(openAPISpec)
	})
}
