package handlers

import (
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
)

func TestSessionCodecRoundTrip(t *testing.T) {
	deadline := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	in := map[string]any{"user_id": int64(42), "flash": "Saved <b>.", "__rememberMe": true}
	b, err := sessionCodec{}.Encode(deadline, in)
	if err != nil {
		t.Fatal(err)
	}
	gotDeadline, out, err := sessionCodec{}.Decode(b)
	if err != nil || !gotDeadline.Equal(deadline) || out["user_id"] != int64(42) || out["flash"] != "Saved <b>." || out["__rememberMe"] != true {
		t.Fatalf("got %v %v %v", gotDeadline, out, err)
	}
	if _, err := (sessionCodec{}).Encode(deadline, map[string]any{"x": []int{1}}); err == nil {
		t.Error("a value the codec cannot keep was accepted")
	}
	// A session written by scs's gob codec before still reads.
	old, _ := scs.GobCodec{}.Encode(deadline, map[string]any{"user_id": int64(7)})
	if _, v, err := (sessionCodec{}).Decode(old); err != nil || v["user_id"] != int64(7) {
		t.Errorf("gob session: %v %v", v, err)
	}
}

func BenchmarkSessionDecode(b *testing.B) {
	values := map[string]any{"user_id": int64(42)}
	deadline := time.Now()
	for _, c := range []struct {
		name  string
		codec scs.Codec
	}{{"gob", scs.GobCodec{}}, {"json", sessionCodec{}}} {
		data, _ := c.codec.Encode(deadline, values)
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				c.codec.Decode(data)
			}
		})
	}
}
