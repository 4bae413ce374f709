package tracking

import (
	"encoding/json"
	"errors"
)

// Bounds of an OsmAnd JSON body, enforced while it is decoded.
const (
	// maxOsmAndValues caps the values (objects, arrays, strings, numbers,
	// …) and keys of one body: a Traccar Client report has about 40, so
	// this leaves room for 1000 of them and none for a body of junk, whose
	// decoding then allocates a few MB at most.
	maxOsmAndValues = 64 * maxOsmAndReports
	// maxOsmAndDepth caps nesting: reports nest four levels deep.
	maxOsmAndDepth = 16
)

var (
	errTooManyElements = errors.New("an array holds too many elements")
	errTooManyValues   = errors.New("too many values")
	errTooDeep         = errors.New("nested too deeply")
)

// boundedDecoder reads one JSON value as json.Decoder.Decode into an any
// would (with UseNumber), token by token, and stops as soon as the value
// breaks a bound: an array longer than maxArray, more than maxValues values
// and keys in all, or deeper than maxDepth. So a 1 MiB body of 300,000 empty objects
// is refused at its 1001st, without the others ever being built.
type boundedDecoder struct {
	dec       *json.Decoder
	maxArray  int
	maxValues int
	maxDepth  int
	values    int
}

func (b *boundedDecoder) value(depth int) (any, error) {
	if b.values++; b.values > b.maxValues {
		return nil, errTooManyValues
	}
	if depth > b.maxDepth {
		return nil, errTooDeep
	}
	tok, err := b.dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('['):
		var out []any
		for b.dec.More() {
			if len(out) == b.maxArray {
				return nil, errTooManyElements
			}
			v, err := b.value(depth + 1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		if out == nil {
			out = []any{}
		}
		_, err := b.dec.Token() // ]
		return out, err
	case json.Delim('{'):
		out := map[string]any{}
		for b.dec.More() {
			key, err := b.dec.Token()
			if err != nil {
				return nil, err
			}
			if b.values++; b.values > b.maxValues {
				return nil, errTooManyValues
			}
			v, err := b.value(depth + 1)
			if err != nil {
				return nil, err
			}
			out[key.(string)] = v // a repeated key: the last wins, as in Decode
		}
		_, err := b.dec.Token() // }
		return out, err
	}
	return tok, nil // a string, json.Number, bool or nil
}
