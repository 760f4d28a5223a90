package handlers

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/alexedwards/scs/v2"
)

// sessionCodec keeps session data as JSON. A hostelhub session holds a few
// plain values (the user id, a flash message), and decoding them as JSON
// costs a fraction of gob, which builds its type machinery anew on every
// request. Data written by scs's gob codec still decodes.
type sessionCodec struct{}

type sessionData struct {
	Deadline time.Time         `json:"d"`
	Ints     map[string]int64  `json:"i,omitempty"`
	Strings  map[string]string `json:"s,omitempty"`
	Bools    map[string]bool   `json:"b,omitempty"`
}

func (sessionCodec) Encode(deadline time.Time, values map[string]any) ([]byte, error) {
	d := sessionData{Deadline: deadline}
	for k, v := range values {
		switch v := v.(type) {
		case int64:
			d.Ints = setIn(d.Ints, k, v)
		case int:
			d.Ints = setIn(d.Ints, k, int64(v))
		case string:
			d.Strings = setIn(d.Strings, k, v)
		case bool:
			d.Bools = setIn(d.Bools, k, v)
		default:
			return nil, fmt.Errorf("session: cannot keep %q of type %T", k, v)
		}
	}
	return json.Marshal(d)
}

func (sessionCodec) Decode(b []byte) (time.Time, map[string]any, error) {
	if len(b) == 0 || b[0] != '{' {
		return scs.GobCodec{}.Decode(b)
	}
	var d sessionData
	if err := json.Unmarshal(b, &d); err != nil {
		return time.Time{}, nil, err
	}
	values := make(map[string]any, len(d.Ints)+len(d.Strings)+len(d.Bools))
	for k, v := range d.Ints {
		values[k] = v
	}
	for k, v := range d.Strings {
		values[k] = v
	}
	for k, v := range d.Bools {
		values[k] = v
	}
	return d.Deadline, values, nil
}

func setIn[V any](m map[string]V, k string, v V) map[string]V {
	if m == nil {
		m = make(map[string]V)
	}
	m[k] = v
	return m
}
