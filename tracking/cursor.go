package tracking

import (
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"time"
)

// RouteCursor is the position of a page in a device's route. PlanRoute
// rejects a cursor whose DeviceID, From or To differ from the request's.
type RouteCursor struct {
	DeviceID int64
	From, To time.Time // the query range, preserved to the nanosecond
	After    time.Time // recorded_at of the last point returned, to the millisecond; the next page starts strictly after it
}

// cursorVersion leads every encoded cursor so the format can change later.
const cursorVersion = 1

// maxCursorLen bounds the text DecodeRouteCursor looks at; an encoded cursor
// is at most about 75 characters.
const maxCursorLen = 128

// EncodeRouteCursor returns c as an opaque URL-safe string: base64url (no
// padding) of a version byte, varint fields and a CRC-32 of them. The CRC
// catches truncation and typos, not forgery: a cursor is not a credential
// (the device is authorized separately) and a forged one can only skip
// within the caller's own route.
func EncodeRouteCursor(c RouteCursor) string {
	b := make([]byte, 0, 64)
	b = append(b, cursorVersion)
	b = binary.AppendVarint(b, c.DeviceID)
	b = appendTime(b, c.From)
	b = appendTime(b, c.To)
	b = binary.AppendVarint(b, c.After.UnixMilli())
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeRouteCursor parses a string from EncodeRouteCursor; times come back in
// UTC (compare them with time.Time.Equal). Anything else is an *errs.FieldError for
// "cursor" of kind errs.Invalid.
func DecodeRouteCursor(s string) (RouteCursor, error) {
	bad := invalid("cursor", "malformed")
	if len(s) > maxCursorLen {
		return RouteCursor{}, bad
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) < 1+4 || b[0] != cursorVersion {
		return RouteCursor{}, bad
	}
	body, sum := b[:len(b)-4], b[len(b)-4:]
	if crc32.ChecksumIEEE(body) != binary.BigEndian.Uint32(sum) {
		return RouteCursor{}, bad
	}

	r := cursorReader{b: body[1:]}
	var c RouteCursor
	c.DeviceID = r.varint()
	c.From = r.time()
	c.To = r.time()
	c.After = time.UnixMilli(r.varint()).UTC()
	if r.failed || len(r.b) != 0 {
		return RouteCursor{}, bad
	}
	return c, nil
}

// appendTime writes Unix seconds and nanoseconds: any time.Time fits, unlike
// int64 nanoseconds since 1970.
func appendTime(b []byte, t time.Time) []byte {
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

// cursorReader reads varints, remembering the first failure.
type cursorReader struct {
	b      []byte
	failed bool
}

func (r *cursorReader) varint() int64   { return readVarint(r, binary.Varint) }
func (r *cursorReader) uvarint() uint64 { return readVarint(r, binary.Uvarint) }

// readVarint reads one value with read, binary.Varint or binary.Uvarint.
func readVarint[T int64 | uint64](r *cursorReader, read func([]byte) (T, int)) T {
	v, n := read(r.b)
	if n <= 0 {
		r.failed = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *cursorReader) time() time.Time {
	sec, nsec := r.varint(), r.uvarint()
	if nsec >= uint64(time.Second) {
		r.failed = true
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}
