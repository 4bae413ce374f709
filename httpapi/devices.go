package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/usersync/usersync/errs"
	"github.com/usersync/usersync/jsontime"
	"github.com/usersync/usersync/tracking"
)

// deviceStore is the tracking service as the device routes need it.
type deviceStore interface {
	CreateDevice(ctx context.Context, ownerID int64, in tracking.NewDevice) (tracking.Device, string, error)
	ListDevices(ctx context.Context, ownerID int64) ([]tracking.Device, error)
	GetDevice(ctx context.Context, ownerID, id int64) (tracking.Device, error)
	UserDevice(ctx context.Context, clerkUserID string, id int64) (tracking.Device, error)
	RenameDevice(ctx context.Context, ownerID, id int64, name string) (tracking.Device, error)
	RotateToken(ctx context.Context, ownerID, id int64) (tracking.Device, string, error)
	DeleteDevice(ctx context.Context, ownerID, id int64) error
}

// deviceJSON is the wire shape of a device.
type deviceJSON struct {
	ID           int64          `json:"id"`
	Name         string         `json:"name"`
	HardwareID   *string        `json:"hardware_id"`
	TokenHint    string         `json:"token_hint"`
	Status       string         `json:"status"`
	LastSeenAt   *jsontime.Time `json:"last_seen_at"`
	LastLocation *locationJSON  `json:"last_location"`
	CreatedAt    jsontime.Time  `json:"created_at"`
	UpdatedAt    jsontime.Time  `json:"updated_at"`

	// PushRegistered tells that the device's app registered a push token,
	// which itself is never shown.
	PushRegistered bool `json:"push_registered"`
}

func toDeviceJSON(d tracking.Device) deviceJSON {
	return deviceJSON{
		ID:           d.ID,
		Name:         d.Name,
		HardwareID:   d.HardwareID,
		TokenHint:    d.TokenHint,
		Status:       string(d.Status),
		LastSeenAt:   jsontime.Ptr(d.LastSeenAt),
		LastLocation: toLocationJSON(d.LastLocation),
		CreatedAt:    jsontime.Of(d.CreatedAt),
		UpdatedAt:    jsontime.Of(d.UpdatedAt),

		PushRegistered: d.PushRegistered,
	}
}

// deviceWithToken is the answer of the routes that issue a token, the only
// time it is shown.
type deviceWithToken struct {
	Device      deviceJSON `json:"device"`
	IngestToken string     `json:"ingest_token"`
}

// deviceRequest is the body of POST and PATCH /api/devices.
type deviceRequest struct {
	Name       text `json:"name"`
	HardwareID text `json:"hardware_id"`
}

// The body is checked in full before any state is looked at: 400
// comes before 404, 409 and 410 (docs/api.md, "Order of checks").

// name returns the name as sent; the tracking rules check it further.
func (req *deviceRequest) name() (string, error) {
	if !req.Name.Set || req.Name.Null {
		return "", &errs.FieldError{Field: "name", Msg: "required"}
	}
	if err := req.Name.wellFormed("name"); err != nil {
		return "", err
	}
	return req.Name.Value, nil
}

// newDevice returns the device to create, normalized and checked.
func (req *deviceRequest) newDevice() (tracking.NewDevice, error) {
	name, err := req.name()
	if err != nil {
		return tracking.NewDevice{}, err
	}
	in := tracking.NewDevice{Name: name}
	if req.HardwareID.Set && !req.HardwareID.Null {
		if err := req.HardwareID.wellFormed("hardware_id"); err != nil {
			return tracking.NewDevice{}, err
		}
		in.HardwareID = &req.HardwareID.Value
	}
	if err := in.Normalize(); err != nil {
		return tracking.NewDevice{}, err
	}
	return in, nil
}

func handleListDevices(logger *slog.Logger, us userGetter, ds deviceStore) http.Handler {
	return apiHandler(logger, func(w http.ResponseWriter, r *http.Request) error {
		owner, ok, err := sessionOwner(r.Context(), us)
		if err != nil {
			return err
		}
		out := []deviceJSON{}
		if ok {
			list, err := ds.ListDevices(r.Context(), owner)
			if err != nil {
				return err
			}
			for _, d := range list {
				out = append(out, toDeviceJSON(d))
			}
		}
		encode(w, http.StatusOK, struct {
			Devices []deviceJSON `json:"devices"`
		}{out})
		return nil
	})
}

func handleCreateDevice(logger *slog.Logger, us userGetter, ds deviceStore) http.Handler {
	return apiHandler(logger, func(w http.ResponseWriter, r *http.Request) error {
		var req deviceRequest
		if err := decode(w, r, userBodyLimit, &req); err != nil {
			return err
		}
		in, err := req.newDevice()
		if err != nil {
			return err
		}
		owner, ok, err := sessionOwner(r.Context(), us)
		if err != nil {
			return err
		}
		if !ok {
			return errNotSynced
		}
		d, token, err := ds.CreateDevice(r.Context(), owner, in)
		if err != nil {
			return err
		}
		w.Header().Set("Location", "/api/devices/"+strconv.FormatInt(d.ID, 10))
		w.Header().Set("Cache-Control", "no-store") // it carries the token
		encode(w, http.StatusCreated, deviceWithToken{toDeviceJSON(d), token})
		return nil
	})
}

// deviceHandler serves a route of the session user's device {id}: do runs
// once the owner and the id are known, and an error of either is written
// as the API's error.
func deviceHandler(logger *slog.Logger, us userGetter, do func(w http.ResponseWriter, r *http.Request, owner, id int64) error) http.Handler {
	return deviceInputHandler(logger, us, "id", noInput,
		func(w http.ResponseWriter, r *http.Request, owner, id int64, _ struct{}) error {
			return do(w, r, owner, id)
		})
}

// deviceInputHandler is deviceHandler for a route that reads its request
// first, the device id from the path's idVar: an error of read (400, 413)
// comes before the user's (410) and the device's (404), the order of
// docs/api.md.
func deviceInputHandler[In any](logger *slog.Logger, us userGetter, idVar string,
	read func(w http.ResponseWriter, r *http.Request) (In, error),
	do func(w http.ResponseWriter, r *http.Request, owner, id int64, in In) error) http.Handler {
	return apiHandler(logger, func(w http.ResponseWriter, r *http.Request) error {
		in, err := read(w, r)
		if err != nil {
			return err
		}
		owner, id, err := deviceOwner(r, us, idVar)
		if err != nil {
			return err
		}
		return do(w, r, owner, id, in)
	})
}

// noInput is the read of a route that reads nothing before the device.
func noInput(http.ResponseWriter, *http.Request) (struct{}, error) { return struct{}{}, nil }

func handleGetDevice(logger *slog.Logger, us userGetter, ds deviceStore) http.Handler {
	return deviceHandler(logger, us, func(w http.ResponseWriter, r *http.Request, owner, id int64) error {
		d, err := ds.GetDevice(r.Context(), owner, id)
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, toDeviceJSON(d))
		return nil
	})
}

// handlePatchDevice renames the device.
func handlePatchDevice(logger *slog.Logger, us userGetter, ds deviceStore) http.Handler {
	return deviceInputHandler(logger, us, "id", readDeviceName, func(w http.ResponseWriter, r *http.Request, owner, id int64, name string) error {
		d, err := ds.RenameDevice(r.Context(), owner, id, name)
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, toDeviceJSON(d))
		return nil
	})
}

// readDeviceName reads the body of PATCH /api/devices/{id}: the new name,
// normalized and checked.
func readDeviceName(w http.ResponseWriter, r *http.Request) (string, error) {
	var req deviceRequest
	if err := decode(w, r, userBodyLimit, &req); err != nil {
		return "", err
	}
	name, err := req.name()
	if err != nil {
		return "", err
	}
	return tracking.NormalizeDeviceName(name)
}

func handleRotateToken(logger *slog.Logger, us userGetter, ds deviceStore) http.Handler {
	return deviceHandler(logger, us, func(w http.ResponseWriter, r *http.Request, owner, id int64) error {
		d, token, err := ds.RotateToken(r.Context(), owner, id)
		if err != nil {
			return err
		}
		w.Header().Set("Cache-Control", "no-store") // it carries the token
		encode(w, http.StatusOK, deviceWithToken{toDeviceJSON(d), token})
		return nil
	})
}

func handleDeleteDevice(logger *slog.Logger, us userGetter, ds deviceStore) http.Handler {
	return deviceHandler(logger, us, func(w http.ResponseWriter, r *http.Request, owner, id int64) error {
		if err := ds.DeleteDevice(r.Context(), owner, id); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}
