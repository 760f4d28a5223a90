package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// newTestStore opens a fresh SQLite file in a temp dir with a small demo fill.
func newTestStore(t testing.TB, events *[]Event) *Store {
	t.Helper()
	return openTestStore(t, filepath.Join(t.TempDir(), "test.db"), events)
}

func openTestStore(t testing.TB, dsn string, events *[]Event) *Store {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, dsn, Options{PasswordCost: bcrypt.MinCost, OnCommit: func(evs []Event) {
		if events != nil {
			*events = append(*events, evs...)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Seed(ctx, SeedOptions{Hostels: 3, Issues: 200, Days: 90, Password: "demo", Seed: 1}); err != nil {
		t.Fatal(err)
	}
	return s
}

// eachDialect runs a test on SQLite, and on PostgreSQL in a schema of its
// own when one answers at TEST_POSTGRES_URL (default: the local server).
func eachDialect(t *testing.T, test func(t *testing.T, open func(events *[]Event) *Store)) {
	t.Run("sqlite", func(t *testing.T) {
		test(t, func(events *[]Event) *Store { return newTestStore(t, events) })
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := postgresSchema(t)
		test(t, func(events *[]Event) *Store { return openTestStore(t, dsn, events) })
	})
}

// eachDatabase runs a test with the address of an empty database on each
// dialect, for tests that open it more than once, as instances do.
func eachDatabase(t *testing.T, test func(t *testing.T, dsn string)) {
	t.Run("sqlite", func(t *testing.T) { test(t, filepath.Join(t.TempDir(), "test.db")) })
	t.Run("postgres", func(t *testing.T) { test(t, postgresSchema(t)) })
}

// postgresSchema returns the address of a new schema on the PostgreSQL
// server at TEST_POSTGRES_URL (default: the local one), dropped after the
// test, or skips the test when none answers.
func postgresSchema(t *testing.T) string {
	base := os.Getenv("TEST_POSTGRES_URL")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	db, err := sql.Open("pgx", base)
	if err == nil {
		err = db.Ping()
	}
	if err != nil {
		t.Skipf("store: no PostgreSQL at %s (%v): the PostgreSQL run of this test is skipped", base, err)
	}
	schema := fmt.Sprintf("hostelhub_test_%d", rand.Int64())
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Exec("DROP SCHEMA " + schema + " CASCADE")
		db.Close()
	})
	return base + "&search_path=" + schema
}

func TestChangeStatusFollowsWorkflow(t *testing.T) {
	eachDialect(t, func(t *testing.T, open func(*[]Event) *Store) {
		ctx := context.Background()
		var events []Event
		s := open(&events)
		student, _ := s.UserByEmail(ctx, "student1@demo.test")
		warden, _ := s.UserByEmail(ctx, "warden1@demo.test")
		id, err := s.CreateIssue(ctx, NewIssue{HostelID: student.HomeHostel(), ReporterID: student.ID, Title: "Leaking tap", Category: "plumbing", Priority: High})
		if err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			to      Status
			note    string
			wantErr bool
		}{
			{StatusResolved, "", true}, // open → resolved skips a step
			{StatusInProgress, "", false},
			{StatusRejected, "", true}, // a rejection needs a note
			{StatusResolved, "fixed", false},
			{StatusResolved, "", true},
			{StatusOpen, "still leaks", false},
			{StatusInProgress, "", false},
			{StatusResolved, "", false},
			{StatusClosed, "", false},
			{StatusOpen, "", true},
		}
		for _, st := range steps {
			err := s.ChangeStatus(ctx, id, warden.ID, st.to, st.note)
			if got := err != nil; got != st.wantErr {
				t.Fatalf("move to %s: got error %v, want error %v", st.to, err, st.wantErr)
			}
			if err != nil && !errors.Is(err, ErrTransition) {
				t.Fatalf("move to %s: got %v, want ErrTransition", st.to, err)
			}
		}
		is, _ := s.Issue(ctx, id)
		if is.Status != StatusClosed || is.ResolvedAt == nil {
			t.Errorf("got status %s resolved_at %v, want closed with a resolution time", is.Status, is.ResolvedAt)
		}
		notes, _ := s.Notes(ctx, id)
		if got, want := len(notes), 1+6; got != want {
			t.Errorf("got %d history lines, want %d", got, want)
		}
		// One event for the report and one for each accepted move, in order.
		if got, want := len(events), 1+6; got != want {
			t.Fatalf("got %d events, want %d", got, want)
		}
		for i := 1; i < len(events); i++ {
			if events[i].ID <= events[i-1].ID || events[i].Kind != EventStatusUpdated || events[i].RefID != id {
				t.Errorf("event %d: got %+v", i, events[i])
			}
		}
	})
}

func TestMeTooCountsOnce(t *testing.T) {
	eachDialect(t, func(t *testing.T, open func(*[]Event) *Store) {
		ctx := context.Background()
		var events []Event
		s := open(&events)
		u, _ := s.UserByEmail(ctx, "student1@demo.test")
		page, _ := s.Issues(ctx, IssueFilter{HostelIDs: u.HostelIDs})
		is := page.Issues[0]
		for i, want := range []bool{true, false} {
			added, err := s.AddMeToo(ctx, is.ID, u.ID)
			if err != nil || added != want {
				t.Fatalf("me too %d: got %v, %v; want %v", i, added, err, want)
			}
		}
		after, _ := s.Issue(ctx, is.ID)
		if after.MeToo != is.MeToo+1 {
			t.Errorf("got count %d, want %d", after.MeToo, is.MeToo+1)
		}
		if len(events) != 1 {
			t.Errorf("got %d events, want 1", len(events))
		}
	})
}

func TestIssuesFilters(t *testing.T) {
	eachDialect(t, func(t *testing.T, open func(*[]Event) *Store) {
		ctx := context.Background()
		s := open(nil)
		hs, _ := s.Hostels(ctx)
		all, _ := s.Issues(ctx, IssueFilter{PerPage: 1000})
		if all.Total != 200 || len(all.Issues) != 200 {
			t.Fatalf("got %d (%d listed), want 200", all.Total, len(all.Issues))
		}
		for i := 1; i < len(all.Issues); i++ {
			a, b := all.Issues[i-1], all.Issues[i]
			ka := []int64{boolInt(a.Status.Unresolved()), int64(a.Priority), a.CreatedAt}
			kb := []int64{boolInt(b.Status.Unresolved()), int64(b.Priority), b.CreatedAt}
			if slices.Compare(ka, kb) < 0 {
				t.Fatalf("not unresolved, most urgent, newest first at %d: %v before %v", i, ka, kb)
			}
		}
		one, _ := s.Issues(ctx, IssueFilter{HostelIDs: []int64{hs[0].ID}, Status: StatusOpen, Category: "plumbing", PerPage: 1000})
		for _, is := range one.Issues {
			if is.HostelID != hs[0].ID || is.Status != StatusOpen || is.Category != "plumbing" {
				t.Errorf("filter let through %+v", is)
			}
		}
		q, _ := s.Issues(ctx, IssueFilter{Query: "TAP"})
		for _, is := range q.Issues {
			if is.Title != "Leaking tap" {
				t.Errorf("query tap found %q", is.Title)
			}
		}
		if q.Total == 0 {
			t.Error("query tap found nothing")
		}
		none, _ := s.Issues(ctx, IssueFilter{Query: "100%_"})
		if none.Total != 0 {
			t.Errorf("LIKE wildcards in the query matched %d issues", none.Total)
		}
		p2, _ := s.Issues(ctx, IssueFilter{Page: 2, PerPage: 25})
		if len(p2.Issues) != 25 || p2.Issues[0].ID != all.Issues[25].ID || p2.Pages() != 8 {
			t.Errorf("page 2: got %d issues starting %d of %d pages", len(p2.Issues), p2.Issues[0].ID, p2.Pages())
		}
	})
}

func TestDashboardMatchesRows(t *testing.T) {
	eachDialect(t, func(t *testing.T, open func(*[]Event) *Store) {
		ctx := context.Background()
		s := open(nil)
		d, err := s.Dashboard(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d.Total != 200 {
			t.Errorf("got total %d, want 200", d.Total)
		}
		sum := 0
		for _, n := range d.ByStatus {
			sum += n
		}
		var openN int
		s.get(ctx, &openN, `SELECT COUNT(*) FROM issues WHERE status = 'open'`)
		if sum != 200 || d.ByStatus[StatusOpen] != openN {
			t.Errorf("by status: got sum %d, open %d; want 200, %d", sum, d.ByStatus[StatusOpen], openN)
		}
		if len(d.Days) != DashboardDays || len(d.Hostels) != 3 || len(d.Categories) != len(Categories) {
			t.Errorf("got %d days, %d hostels, %d categories", len(d.Days), len(d.Hostels), len(d.Categories))
		}
		for _, is := range d.Overdue {
			if !is.Status.Unresolved() || d.At.Unix()-is.CreatedAt < int64(OverdueAfter.Seconds()) {
				t.Errorf("overdue list has %+v", is)
			}
		}
	})
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func TestSessionsExpire(t *testing.T) {
	eachDialect(t, func(t *testing.T, open func(*[]Event) *Store) {
		ctx := context.Background()
		s := open(nil)
		ss := s.Sessions([]byte("secret"))
		if err := ss.CommitCtx(ctx, "live", []byte("a"), time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := ss.CommitCtx(ctx, "dead", []byte("b"), time.Now().Add(-time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, found, _ := ss.FindCtx(ctx, "dead"); found {
			t.Error("an expired session was found")
		}
		if err := s.DeleteExpiredSessions(ctx); err != nil {
			t.Fatal(err)
		}
		var n int
		s.get(ctx, &n, `SELECT COUNT(*) FROM sessions`)
		if b, found, _ := ss.FindCtx(ctx, "live"); !found || string(b) != "a" || n != 1 {
			t.Errorf("after sweeping: live found %v (%q), %d rows; want found, 1 row", found, b, n)
		}
		// The table keys sessions by an HMAC of the token, not the token.
		var token string
		s.get(ctx, &token, `SELECT token FROM sessions`)
		if token == "live" {
			t.Error("a session token is stored as it is")
		}
	})
}
