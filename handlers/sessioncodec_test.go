package handlers

import (
	"encoding/json"
	"maps"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
)

func TestSessionCodecRoundTrip(t *testing.T) {
	deadline := time.Date(2026, 11, 26, 12, 0, 0, 123, time.UTC)
	in := map[string]any{"user_id": int64(42), "note": "Saved <b>.", "__rememberMe": true, "": false, "neg": int64(-7)}
	b, err := sessionCodec{}.Encode(deadline, in)
	if err != nil {
		t.Fatal(err)
	}
	gotDeadline, out, err := sessionCodec{}.Decode(b)
	if err != nil || !gotDeadline.Equal(deadline) || !maps.Equal(in, out) {
		t.Fatalf("got %v %v %v", gotDeadline, out, err)
	}
	if _, err := (sessionCodec{}).Encode(deadline, map[string]any{"x": []int{1}}); err == nil {
		t.Error("a value the codec cannot keep was accepted")
	}
	// Sessions written before, by scs's gob codec or as JSON, still read.
	old, _ := scs.GobCodec{}.Encode(deadline, map[string]any{"user_id": int64(7)})
	if _, v, err := (sessionCodec{}).Decode(old); err != nil || v["user_id"] != int64(7) {
		t.Errorf("gob session: %v %v", v, err)
	}
	js, _ := json.Marshal(jsonSession{Deadline: deadline, Ints: map[string]int64{"user_id": 8}})
	if d, v, err := (sessionCodec{}).Decode(js); err != nil || v["user_id"] != int64(8) || !d.Equal(deadline) {
		t.Errorf("JSON session: %v %v %v", d, v, err)
	}
	// Cut anywhere, the data is refused, never misread.
	for i := len(sessionMagic); i < len(b); i++ {
		if _, v, err := (sessionCodec{}).Decode(b[:i]); err == nil && maps.Equal(v, in) {
			t.Errorf("cut at %d of %d: read as whole", i, len(b))
		}
	}
}

// FuzzSessionCodec: no input makes Decode panic, and whatever it accepts
// encodes and decodes to the same values.
func FuzzSessionCodec(f *testing.F) {
	b, _ := sessionCodec{}.Encode(time.Now(), map[string]any{"user_id": int64(42), "s": "x", "b": true})
	f.Add(b)
	f.Add([]byte(sessionMagic + "\x00\x00\x00\x00\x00\x00\x00\x00i\x01k\xff"))
	f.Add([]byte(`{"d":"2026-01-01T00:00:00Z","i":{"user_id":1}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, v, err := sessionCodec{}.Decode(data)
		if err != nil {
			return
		}
		if !time.Unix(0, d.UnixNano()).Equal(d) {
			return // a deadline outside 1678–2262 (gob's or JSON's zero time): scs treats it as expired
		}
		again, err := sessionCodec{}.Encode(d, v)
		if err != nil {
			return // gob may hold types this codec does not keep
		}
		d2, v2, err := sessionCodec{}.Decode(again)
		if err != nil || !d2.Equal(d) || !maps.Equal(v, v2) {
			t.Fatalf("round trip: %v %v -> %v %v %v", d, v, d2, v2, err)
		}
	})
}

func BenchmarkSessionDecode(b *testing.B) {
	values := map[string]any{"user_id": int64(42)}
	deadline := time.Now()
	js, _ := json.Marshal(jsonSession{Deadline: deadline, Ints: map[string]int64{"user_id": 42}})
	gob, _ := scs.GobCodec{}.Encode(deadline, values)
	bin, _ := sessionCodec{}.Encode(deadline, values)
	for _, c := range []struct {
		name string
		data []byte
	}{{"gob", gob}, {"json", js}, {"binary", bin}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				sessionCodec{}.Decode(c.data)
			}
		})
	}
}
