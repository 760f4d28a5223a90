package store

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

var (
	benchOnce  sync.Once
	benchStore *Store
	benchDir   string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if benchStore != nil {
		benchStore.Close()
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

// bigStore is a 50,000-issue database over 10 hostels and 90 days, filled
// by the same code as demo mode, shared by the benchmarks.
func bigStore(b *testing.B) *Store {
	benchOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hostelhub-bench-")
		if err != nil {
			b.Fatal(err)
		}
		benchDir = dir
		s, err := Open(context.Background(), filepath.Join(dir, "bench.db"), Options{PasswordCost: bcrypt.MinCost})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Seed(context.Background(), SeedOptions{Hostels: 10, Issues: 50000, Days: 90, Password: "demo", Seed: 1}); err != nil {
			b.Fatal(err)
		}
		benchStore = s
	})
	return benchStore
}

func BenchmarkDashboard(b *testing.B) {
	s := bigStore(b)
	for b.Loop() {
		if _, err := s.Dashboard(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIssuesHostel(b *testing.B) {
	s := bigStore(b)
	for b.Loop() {
		if _, err := s.Issues(context.Background(), IssueFilter{HostelIDs: []int64{3}}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIssuesHostelQuery(b *testing.B) {
	s := bigStore(b)
	for b.Loop() {
		if _, err := s.Issues(context.Background(), IssueFilter{HostelIDs: []int64{3}, Status: StatusOpen, Query: "wi-fi"}); err != nil {
			b.Fatal(err)
		}
	}
}
