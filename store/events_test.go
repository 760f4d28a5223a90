package store

import (
	"context"
	"strings"
	"testing"
	"time"
)

// The event log is pruned by age, in batches, but always keeps its newest
// events: the newest id is the dashboard's version and must never go back.
func TestPruneEventsKeepsTheNewest(t *testing.T) {
	eachDialect(t, func(t *testing.T, open func(*[]Event) *Store) {
		ctx := context.Background()
		s := open(nil)
		const old = 2*pruneBatch + 2000
		threeDaysAgo := time.Now().Add(-72 * time.Hour).Unix()
		// A long log from three days ago, written as rows: one event per
		// transaction would take minutes.
		tx := s.DB().MustBeginTx(ctx, nil)
		for i := 0; i < old; i += 500 {
			var rows []string
			var args []any
			for range 500 {
				rows = append(rows, "(1, 'hostel_updated', 1, ?)")
				args = append(args, threeDaysAgo)
			}
			if _, err := tx.Exec(tx.Rebind(`INSERT INTO events (hostel_id, kind, ref_id, created_at) VALUES `+strings.Join(rows, ", ")), args...); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"North", "South", "East"} {
			if err := s.RenameHostel(ctx, 1, name); err != nil {
				t.Fatal(err)
			}
		}
		count := func() (n int) {
			t.Helper()
			if err := s.get(ctx, &n, `SELECT COUNT(*) FROM events`); err != nil {
				t.Fatal(err)
			}
			return n
		}
		total := count()
		_, latest, err := s.EventRange(ctx)
		if err != nil {
			t.Fatal(err)
		}

		if _, err := s.PruneEvents(ctx, time.Now(), 0); err == nil || count() != total {
			t.Fatalf("keep 0: err %v, %d events left of %d", err, count(), total)
		}
		dayAgo := time.Now().Add(-24 * time.Hour)
		n, err := s.PruneEvents(ctx, dayAgo, 10_000)
		if err != nil || n != int64(total-10_000) || count() != 10_000 {
			t.Fatalf("keep 10,000: deleted %d (err %v), %d left; want %d deleted", n, err, count(), total-10_000)
		}
		oldest, newest, _ := s.EventRange(ctx)
		if newest != latest || oldest != latest-10_000+1 {
			t.Fatalf("range %d..%d after pruning, want %d..%d", oldest, newest, latest-10_000+1, latest)
		}
		// Everything from before the cutoff, in more than one batch; the
		// three recent events stay.
		n, err = s.PruneEvents(ctx, dayAgo, 1)
		if err != nil || n != 10_000-3 || count() != 3 {
			t.Fatalf("by age: deleted %d (err %v), %d left", n, err, count())
		}
		// Even when every event is older than the cutoff, the newest stays,
		// and the next event comes after it.
		if n, err := s.PruneEvents(ctx, time.Now().Add(time.Hour), 1); err != nil || n != 2 || count() != 1 {
			t.Fatalf("all old: deleted %d (err %v), %d left", n, err, count())
		}
		if oldest, newest, _ := s.EventRange(ctx); oldest != latest || newest != latest {
			t.Fatalf("range %d..%d, want %d..%d", oldest, newest, latest, latest)
		}
		if err := s.RenameHostel(ctx, 1, "West"); err != nil {
			t.Fatal(err)
		}
		if _, newest, _ := s.EventRange(ctx); newest <= latest {
			t.Fatalf("the event after pruning has id %d, not above %d", newest, latest)
		}
	})
}
