package cache

import (
	"bytes"
	"compress/gzip"
	"errors"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"testing"
)

// gunzip reads exactly one gzip member (checking its CRC and length) from z.
func gunzip(t *testing.T, z []byte) ([]byte, error) {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(z))
	if err != nil {
		return nil, err
	}
	zr.Multistream(false)
	return io.ReadAll(zr)
}

// An entry survives marshal and unmarshalEntry, and AppendGzip stitches
// prefix + Plain + suffix into one valid gzip member at every size,
// including ones that take several stored blocks (over 65535 bytes).
func TestAppendGzip(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	text := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = "abcdefgh <>\n"[rnd.IntN(12)]
		}
		return b
	}
	for _, sizes := range [][3]int{{0, 0, 0}, {0, 100, 0}, {10, 0, 10}, {70000, 5000, 3}, {1, 200000, 140000}, {65535, 1, 65536}} {
		prefix, middle, suffix := text(sizes[0]), text(sizes[1]), text(sizes[2])
		ent, err := newEntry(middle)
		if err != nil {
			t.Fatal(err)
		}
		f, err := unmarshalEntry(ent.marshal())
		if err != nil || !bytes.Equal(f.Plain, middle) {
			t.Fatalf("unmarshalEntry: %v", err)
		}
		z := f.AppendGzip([]byte("kept"), prefix, suffix)
		if !bytes.HasPrefix(z, []byte("kept")) {
			t.Fatal("AppendGzip overwrote dst")
		}
		got, err := gunzip(t, z[4:])
		want := append(append(append([]byte{}, prefix...), middle...), suffix...)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("sizes %v: %d bytes, err %v; want %d bytes", sizes, len(got), err, len(want))
		}
	}
	// A body cached before bodies were packed (plain, with no magic) is
	// refused, as is a malformed entry: the cache renders again.
	if f, err := unmarshalEntry([]byte("<div>")); !errors.Is(err, errEntry) || f != nil {
		t.Errorf("a plain body was read as an entry: %v", err)
	}
	if f, err := unmarshalEntry([]byte(entryMagic + "\xff")); !errors.Is(err, errEntry) || f != nil {
		t.Errorf("a malformed entry was read: %v", err)
	}
}

// Entries that are not what marshal wrote are refused: no magic, a cut or
// overlong length, a length beyond the value.
func TestUnmarshalEntryRefuses(t *testing.T) {
	ent, err := newEntry([]byte("<section>dashboard</section>"))
	if err != nil {
		t.Fatal(err)
	}
	m := ent.marshal()
	for name, b := range map[string][]byte{
		"empty":           nil,
		"magic only":      []byte(entryMagic),
		"cut magic":       m[:len(entryMagic)-1],
		"cut varint":      []byte(entryMagic + "\x80"),
		"overlong varint": []byte(entryMagic + "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"),
		"cut plain":       m[:len(entryMagic)+1+10],
		"huge length":     []byte(entryMagic + "\xff\xff\xff\xff\xff\xff\xff\xff\x7f<div>"),
		"plain body":      ent.Plain,
	} {
		if f, err := unmarshalEntry(b); !errors.Is(err, errEntry) || f != nil {
			t.Errorf("%s: unmarshalEntry(%q) = %v, %v; want errEntry", name, b, f, err)
		}
	}
}

// An entry shares the bytes it was made from, but an append to its Plain
// (which is shared by every Get) never writes into them: not into the
// render's spare capacity, not into the deflate stream stored after it.
func TestEntryPlainIsFull(t *testing.T) {
	body := make([]byte, 5, 64)
	copy(body, "<div>")
	ent, err := newEntry(body)
	if err != nil {
		t.Fatal(err)
	}
	if cap(ent.Plain) != len(ent.Plain) {
		t.Errorf("newEntry: Plain has %d bytes of spare capacity", cap(ent.Plain)-len(ent.Plain))
	}
	f, err := unmarshalEntry(ent.marshal())
	if err != nil {
		t.Fatal(err)
	}
	if cap(f.Plain) != len(f.Plain) {
		t.Errorf("unmarshalEntry: Plain has %d bytes of spare capacity", cap(f.Plain)-len(f.Plain))
	}
	_ = append(f.Plain, "</div>"...) // shorter than the deflate stream after it
	if !bytes.Equal(f.marshal(), ent.marshal()) {
		t.Error("an append to Plain changed the entry")
	}
	got, err := gunzip(t, f.AppendGzip(nil, []byte("<p>"), []byte("</p>")))
	if err != nil || string(got) != "<p><div></p>" {
		t.Fatalf("after an append to Plain: %q, %v", got, err)
	}
}

// A CRC moved past a run and combined with the run's own is the CRC of the
// two, whatever their lengths.
func TestCRCCombine(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	for _, n := range [][2]int{{0, 0}, {0, 7}, {5, 0}, {1, 1}, {100, 3000}, {65537, 17}, {3, 200000}} {
		a, b := make([]byte, n[0]), make([]byte, n[1])
		for i := range a {
			a[i] = byte(rnd.IntN(256))
		}
		for i := range b {
			b[i] = byte(rnd.IntN(256))
		}
		want := crc32.ChecksumIEEE(append(append([]byte{}, a...), b...))
		got := crcMul(crcShift(int64(len(b))), crc32.ChecksumIEEE(a)) ^ crc32.ChecksumIEEE(b)
		if got != want {
			t.Errorf("lengths %v: got %08x, want %08x", n, got, want)
		}
	}
}
