package cache

import (
	"bytes"
	"context"
	"sync"
	"testing"
)

// benchBody is about the size of the rendered dashboard fragment.
var benchBody = bytes.Repeat([]byte("<td>42</td>"), 800)

func benchCache(b *testing.B) (*Cache, RenderFunc) {
	c := New(Options{}) // the memory tier: the same with or without Redis once the copy is in process
	c.Advance(1)
	render := func(context.Context) ([]byte, error) { return benchBody, nil }
	if _, st, err := c.Get(context.Background(), "html", render); err != nil || st != Miss {
		b.Fatalf("warm-up Get: %s, %v", st, err)
	}
	return c, render
}

// BenchmarkGetHit measures Get on the in-process tier.
func BenchmarkGetHit(b *testing.B) {
	c, render := benchCache(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		ent, st, _ := c.Get(ctx, "html", render)
		if st != Hit || len(ent.Plain) != len(benchBody) {
			b.Fatal("not a hit")
		}
	}
}

// BenchmarkGetHitParallel measures Get on the in-process tier from all Ps.
func BenchmarkGetHitParallel(b *testing.B) {
	c, render := benchCache(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ent, st, _ := c.Get(ctx, "html", render)
			if st != Hit || len(ent.Plain) != len(benchBody) {
				b.Error("not a hit")
				return
			}
		}
	})
}

// controlMap is the baseline: the same bytes in a plain map under an RWMutex.
type controlMap struct {
	mu sync.RWMutex
	m  map[string][]byte
}

func (c *controlMap) get(k string) ([]byte, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok := c.m[k]
	return v, ok
}

// BenchmarkMemoryControl is a plain map lookup of the same bytes under an
// RWMutex, to compare with BenchmarkGetHit.
func BenchmarkMemoryControl(b *testing.B) {
	c := &controlMap{m: map[string][]byte{"html": benchBody}}
	b.ReportAllocs()
	for b.Loop() {
		body, ok := c.get("html")
		if !ok || len(body) != len(benchBody) {
			b.Fatal("missing")
		}
	}
}

// BenchmarkMemoryControlParallel is BenchmarkMemoryControl from all Ps, to
// compare with BenchmarkGetHitParallel.
func BenchmarkMemoryControlParallel(b *testing.B) {
	c := &controlMap{m: map[string][]byte{"html": benchBody}}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			body, ok := c.get("html")
			if !ok || len(body) != len(benchBody) {
				b.Error("missing")
				return
			}
		}
	})
}
