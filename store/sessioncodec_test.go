package store

import (
	"maps"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
)

func TestSessionCodecRoundTrip(t *testing.T) {
	deadline := time.Date(2026, 11, 26, 12, 0, 0, 123, time.UTC)
	in := map[string]any{"user_id": int64(42), "note": "Saved <b>.", "__rememberMe": true, "": false, "neg": int64(-7)}
	b, err := SessionCodec{}.Encode(deadline, in)
	if err != nil {
		t.Fatal(err)
	}
	gotDeadline, out, err := SessionCodec{}.Decode(b)
	if err != nil || !gotDeadline.Equal(deadline) || !maps.Equal(in, out) {
		t.Fatalf("got %v %v %v", gotDeadline, out, err)
	}
	if _, err := (SessionCodec{}).Encode(deadline, map[string]any{"x": []int{1}}); err == nil {
		t.Error("a value the codec cannot keep was accepted")
	}
	// Data in any other form is refused, never misread.
	old, _ := scs.GobCodec{}.Encode(deadline, map[string]any{"user_id": int64(7)})
	if _, _, err := (SessionCodec{}).Decode(old); err == nil {
		t.Error("gob data was read as a session")
	}
	// Cut anywhere, the data is refused, never misread.
	for i := len(sessionMagic); i < len(b); i++ {
		if _, v, err := (SessionCodec{}).Decode(b[:i]); err == nil && maps.Equal(v, in) {
			t.Errorf("cut at %d of %d: read as whole", i, len(b))
		}
	}
}

// FuzzSessionCodec: no input makes Decode panic, and whatever it accepts
// encodes and decodes to the same values.
func FuzzSessionCodec(f *testing.F) {
	b, _ := SessionCodec{}.Encode(time.Now(), map[string]any{"user_id": int64(42), "s": "x", "b": true})
	f.Add(b)
	f.Add([]byte(sessionMagic + "\x00\x00\x00\x00\x00\x00\x00\x00i\x01k\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, v, err := SessionCodec{}.Decode(data)
		if err != nil {
			return
		}
		again, err := SessionCodec{}.Encode(d, v)
		if err != nil {
			t.Fatalf("decoded values do not encode: %v %v", v, err)
		}
		d2, v2, err := SessionCodec{}.Decode(again)
		if err != nil || !d2.Equal(d) || !maps.Equal(v, v2) {
			t.Fatalf("round trip: %v %v -> %v %v %v", d, v, d2, v2, err)
		}
	})
}

func BenchmarkSessionDecode(b *testing.B) {
	values := map[string]any{"user_id": int64(42)}
	deadline := time.Now()
	gob, _ := scs.GobCodec{}.Encode(deadline, values)
	bin, _ := SessionCodec{}.Encode(deadline, values)
	for _, c := range []struct {
		name  string
		codec scs.Codec
		data  []byte
	}{{"gob", scs.GobCodec{}, gob}, {"binary", SessionCodec{}, bin}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				c.codec.Decode(c.data)
			}
		})
	}
}
