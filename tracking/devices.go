package tracking

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/uptrace/bun"

	"github.com/usersync/usersync/errs"
	"github.com/usersync/usersync/live"
	"github.com/usersync/usersync/txn"
)

// CreateDevice registers a device for the user ownerID (a users.id) and
// returns it with its ingest token: the token is shown this once and only
// its hash is stored. It fails with an error of kind errs.Conflict when the user already
// has a device with this hardware id or has MaxDevicesPerUser devices, and
// with errs.UserDeleted when the user is (or is concurrently being) deleted.
func (s *Service) CreateDevice(ctx context.Context, ownerID int64, in NewDevice) (Device, string, error) {
	if err := in.Normalize(); err != nil {
		return Device{}, "", err
	}
	token, hash, hint, err := NewIngestToken()
	if err != nil {
		return Device{}, "", fmt.Errorf("create device: new token: %w", err)
	}
	now := s.now()
	row := deviceRow{
		UserID:     ownerID,
		Name:       in.Name,
		HardwareID: in.HardwareID,
		TokenHash:  hash,
		TokenHint:  hint,
		CreatedAt:  now.Truncate(time.Microsecond),
		UpdatedAt:  now.Truncate(time.Microsecond),
	}
	err = txn.Run(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		if err := s.lockLiveOwner(ctx, tx, ownerID); err != nil {
			return err
		}
		n, err := tx.NewSelect().Model((*deviceRow)(nil)).Where("user_id = ?", ownerID).Count(ctx)
		if err != nil {
			return fmt.Errorf("count devices: %w", err)
		}
		if n >= MaxDevicesPerUser {
			return errs.New(errs.Conflict, "device limit reached: a user may register at most %d devices", MaxDevicesPerUser)
		}
		err = tx.NewInsert().
			Model(&row).
			Column("user_id", "name", "hardware_id", "token_hash", "token_hint", "created_at", "updated_at").
			On("CONFLICT (user_id, hardware_id) DO NOTHING").
			Returning("*").
			Scan(ctx)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return errs.New(errs.Conflict, "hardware_id is already registered to one of your devices")
		case err != nil:
			return fmt.Errorf("insert device: %w", err)
		}
		return s.cfg.Feed.Publish(ctx, live.Change{Kind: live.Device, UserID: ownerID, DeviceID: row.ID})
	})
	if err != nil {
		return Device{}, "", err
	}
	return row.device(now, s.cfg.OnlineWindow), token, nil
}

// lockLiveOwner holds the owner's users row until the transaction ends, so
// that creates for one user take turns (the device cap holds under
// concurrency) and none slips past a concurrent tombstone, which must
// update that row. errs.UserDeleted if the user is deleted.
func (s *Service) lockLiveOwner(ctx context.Context, tx bun.Tx, ownerID int64) error {
	q := tx.NewSelect().Table("users").Column("id").Where("id = ? AND deleted_at IS NULL", ownerID)
	if s.rowLocks() {
		// NO KEY UPDATE: exclusive among writers, yet the devices' foreign key checks pass.
		q = q.For("NO KEY UPDATE")
	}
	var id int64
	err := q.Scan(ctx, &id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("user %d: %w", ownerID, errs.UserDeleted)
	case err != nil:
		return fmt.Errorf("lock user: %w", err)
	}
	return nil
}

// ListDevices returns the devices of ownerID by id.
func (s *Service) ListDevices(ctx context.Context, ownerID int64) ([]Device, error) {
	var rows []deviceRow
	if err := s.db.NewSelect().Model(&rows).Where("user_id = ?", ownerID).Order("id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	now := s.now()
	out := make([]Device, len(rows))
	for i := range rows {
		out[i] = rows[i].device(now, s.cfg.OnlineWindow)
	}
	return out, nil
}

// GetDevice returns device id of ownerID; ErrDeviceNotFound if there is none or
// it is another user's. Its LastLocation is what the latest route answers.
func (s *Service) GetDevice(ctx context.Context, ownerID, id int64) (Device, error) {
	var row deviceRow
	err := s.db.NewSelect().Model(&row).Where("id = ? AND user_id = ?", id, ownerID).Scan(ctx)
	if err != nil {
		return Device{}, deviceError("get device", id, err)
	}
	return row.device(s.now(), s.cfg.OnlineWindow), nil
}

// UserDevice is GetDevice for the live user whose Clerk id is clerkUserID,
// resolving user and device in one query: the path of a map polling its
// device's latest fix. ErrDeviceNotFound also when there is no such live user
// (no row, or a tombstone); a caller that must tell those apart resolves
// the user itself.
//
// On PostgreSQL it is a prepared statement: a map polls it more than
// anything else.
func (s *Service) UserDevice(ctx context.Context, clerkUserID string, id int64) (Device, error) {
	var row deviceRow
	var err error
	if db, ok := s.db.(*bun.DB); ok && s.rowLocks() {
		f := &row.fixColumns
		err = db.DB.QueryRowContext(ctx, userDeviceSQL, pgx.QueryExecModeCacheStatement, id, clerkUserID).Scan(
			&row.ID, &row.UserID, &row.Name, &row.HardwareID, &row.TokenHash, &row.TokenHint, &row.LastSeenAt,
			&row.PushToken, &f.LastRecordedAt, &f.LastReceivedAt, &f.Lat, &f.Lon, &f.AccuracyM, &f.AltitudeM,
			&f.SpeedMPS, &f.CourseDeg, &f.BatteryPct, &f.Motion, &f.OdometerM, &f.Charging, &f.Activity,
			&f.Event, &f.Alarm, &row.CreatedAt, &row.UpdatedAt)
	} else {
		err = s.db.NewSelect().Model(&row).
			Where("d.id = ?", id).
			Where("d.user_id = (SELECT u.id FROM users AS u WHERE u.clerk_user_id = ? AND u.deleted_at IS NULL)", clerkUserID).
			Scan(ctx)
	}
	if err != nil {
		return Device{}, deviceError("get device", id, err)
	}
	return row.device(s.now(), s.cfg.OnlineWindow), nil
}

// RenameDevice sets the name of device id of ownerID. updated_at moves
// only when the name changes.
func (s *Service) RenameDevice(ctx context.Context, ownerID, id int64, name string) (Device, error) {
	name, err := NormalizeDeviceName(name)
	if err != nil {
		return Device{}, err
	}
	now := s.now()
	var row deviceRow
	err = txn.Run(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		err := tx.NewUpdate().
			Model(&row).
			Set("name = ?", name).
			Set("updated_at = CASE WHEN name = ? THEN updated_at ELSE ? END", name, now.Truncate(time.Microsecond)).
			Where("id = ? AND user_id = ?", id, ownerID).
			Returning("*").
			Scan(ctx)
		if err != nil {
			return deviceError("rename device", id, err)
		}
		return s.cfg.Feed.Publish(ctx, live.Change{Kind: live.Device, UserID: ownerID, DeviceID: id})
	})
	if err != nil {
		return Device{}, err
	}
	return row.device(now, s.cfg.OnlineWindow), nil
}

// RotateToken gives device id of ownerID a new ingest token and returns it;
// the old one stops working when this returns. The push token goes with
// it: it belongs to the app that held the old credential, which may be a
// phone given away; the app registers again with the new one.
func (s *Service) RotateToken(ctx context.Context, ownerID, id int64) (Device, string, error) {
	token, hash, hint, err := NewIngestToken()
	if err != nil {
		return Device{}, "", fmt.Errorf("rotate token: new token: %w", err)
	}
	now := s.now()
	var row deviceRow
	err = s.db.NewUpdate().
		Model(&row).
		Set("token_hash = ?", hash).
		Set("token_hint = ?", hint).
		Set("push_token = NULL").
		Set("updated_at = ?", now.Truncate(time.Microsecond)).
		Where("id = ? AND user_id = ?", id, ownerID).
		Returning("*").
		Scan(ctx)
	if err != nil {
		return Device{}, "", deviceError("rotate token", id, err)
	}
	return row.device(now, s.cfg.OnlineWindow), token, nil
}

// DeleteDevice deletes device id of ownerID; its locations cascade.
func (s *Service) DeleteDevice(ctx context.Context, ownerID, id int64) error {
	return txn.Run(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		res, err := tx.NewDelete().
			Model((*deviceRow)(nil)).
			Where("id = ? AND user_id = ?", id, ownerID).
			Exec(ctx)
		if err := oneRowChanged(res, err, "delete device", fmt.Errorf("device %d: %w", id, ErrDeviceNotFound)); err != nil {
			return err
		}
		return s.cfg.Feed.Publish(ctx, live.Change{Kind: live.DeviceDeleted, UserID: ownerID, DeviceID: id})
	})
}

// Authenticate returns the id of the device whose ingest token is token;
// ErrInvalidToken if there is none. A string that is not shaped like a
// token (an IMEI, a Clerk token) is refused without a query. It is a read:
// ingest calls it before decoding a body or opening a write transaction.
func (s *Service) Authenticate(ctx context.Context, token string) (int64, error) {
	if !ValidTokenFormat(token) {
		return 0, ErrInvalidToken
	}
	var id int64
	var err error
	if db, ok := s.db.(*bun.DB); ok && s.rowLocks() {
		// Every tracker report starts here: a prepared statement.
		err = db.DB.QueryRowContext(ctx, authenticateSQL, pgx.QueryExecModeCacheStatement, HashToken(token)).Scan(&id)
	} else {
		err = s.db.NewSelect().Model((*deviceRow)(nil)).Column("id").
			Where("token_hash = ?", HashToken(token)).
			Scan(ctx, &id)
	}
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, ErrInvalidToken
	case err != nil:
		return 0, fmt.Errorf("authenticate device: %w", err)
	}
	return id, nil
}

// deviceError turns "no row" into ErrDeviceNotFound and wraps the rest.
func deviceError(op string, id int64, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("device %d: %w", id, ErrDeviceNotFound)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// oneRowChanged is the outcome of a statement meant to change one row, res
// and err as its Exec returned them: missing when it changed none, and a
// failure wrapped with op.
func oneRowChanged(res sql.Result, err error, op string, missing error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	n, err := res.RowsAffected()
	switch {
	case err != nil:
		return fmt.Errorf("%s: %w", op, err)
	case n == 0:
		return missing
	}
	return nil
}

// authenticateSQL is Authenticate's query on PostgreSQL.
const authenticateSQL = `SELECT d.id FROM devices AS d WHERE (token_hash = $1)`

// userDeviceSQL is UserDevice's query, every column of deviceRow in order.
const userDeviceSQL = `SELECT d.id, d.user_id, d.name, d.hardware_id, d.token_hash, d.token_hint, d.last_seen_at,
  d.push_token, d.last_recorded_at, d.last_received_at, d.lat, d.lon, d.accuracy_m, d.altitude_m,
  d.speed_mps, d.course_deg, d.battery_pct, d.motion, d.odometer_m, d.charging, d.activity,
  d.event, d.alarm, d.created_at, d.updated_at
FROM devices AS d
WHERE (d.id = $1) AND (d.user_id = (SELECT u.id FROM users AS u WHERE u.clerk_user_id = $2 AND u.deleted_at IS NULL))`
