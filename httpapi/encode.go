package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/usersync/usersync/errs"
)

// encode writes v as the JSON response body.
func encode(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	// The status is sent; an encoding error can only be a broken connection.
	_ = json.NewEncoder(w).Encode(v)
}

// readBody reads at most limit bytes of the request body: 413 past it.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit { // refused before a byte is read
		return nil, errs.New(errs.TooLarge, "request body is larger than %d bytes", limit)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, errs.New(errs.TooLarge, "request body is larger than %d bytes", limit)
	case err != nil:
		return nil, errs.New(errs.Invalid, "cannot read request body")
	}
	return body, nil
}

// decode reads a JSON body of at most limit bytes into v. Unknown
// fields are ignored; trailing data after the value is an error.
func decode(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	body, err := readBody(w, r, limit)
	if err != nil {
		return err
	}
	return unmarshalBody(body, v)
}

// unmarshalBody is decode for a body already read.
func unmarshalBody(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return errs.New(errs.Invalid, "%s has the wrong type", typeErr.Field)
		}
		return errs.New(errs.Invalid, "request body is not valid JSON")
	}
	return nil
}
