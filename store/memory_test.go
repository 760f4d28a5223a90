package store

import (
	"context"
	"slices"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Two instances on one database: what one changes, the other serves from
// memory until it hears the event from the log, and then never again.
func TestSessionsAndAccountsAreForgottenByEvent(t *testing.T) {
	eachDatabase(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		a := openTestStore(t, dsn, nil)
		b, err := Open(ctx, dsn, Options{PasswordCost: bcrypt.MinCost})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		heard, _ := b.LatestEventID(ctx)
		hear := func() { // b's follower, by hand
			t.Helper()
			evs, err := b.Log(ctx, heard, 1000)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range evs {
				b.Forget(e)
				heard = e.ID
			}
		}

		secret := []byte("one secret for every instance")
		sa, sb := a.Sessions(secret), b.Sessions(secret)
		if err := sa.CommitCtx(ctx, "token", []byte("signed in"), time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if data, found, err := sb.FindCtx(ctx, "token"); err != nil || !found || string(data) != "signed in" {
			t.Fatalf("b finds the session a wrote: %q %v %v", data, found, err)
		}
		// b now answers from memory: a change behind the store's back (no
		// event) is not seen, which is why every change goes through it.
		if _, err := b.db.Exec(b.db.Rebind(`UPDATE sessions SET data = ?`), []byte("changed in SQL")); err != nil {
			t.Fatal(err)
		}
		if data, _, _ := sb.FindCtx(ctx, "token"); string(data) != "signed in" {
			t.Fatalf("b read the database again: %q", data)
		}

		if err := sa.DeleteCtx(ctx, "token"); err != nil {
			t.Fatal(err)
		}
		if _, found, _ := sa.FindCtx(ctx, "token"); found {
			t.Error("a still finds the session it deleted")
		}
		if _, found, _ := sb.FindCtx(ctx, "token"); !found {
			t.Error("b forgot the session before hearing the event")
		}
		hear()
		if _, found, _ := sb.FindCtx(ctx, "token"); found {
			t.Error("b still finds a session deleted on a, after hearing the event")
		}

		student, err := a.UserByEmail(ctx, "student1@demo.test")
		if err != nil {
			t.Fatal(err)
		}
		if u, err := b.User(ctx, student.ID); err != nil || u.Disabled {
			t.Fatalf("b: %+v %v", u, err)
		}
		if err := a.UpdateUser(ctx, student.ID, []int64{2}, true); err != nil {
			t.Fatal(err)
		}
		if u, _ := a.User(ctx, student.ID); !u.Disabled || !slices.Equal(u.HostelIDs, []int64{2}) {
			t.Errorf("a after its own change: disabled %v, hostels %v", u.Disabled, u.HostelIDs)
		}
		hear()
		if u, _ := b.User(ctx, student.ID); !u.Disabled || !slices.Equal(u.HostelIDs, []int64{2}) {
			t.Errorf("b after hearing the event: disabled %v, hostels %v", u.Disabled, u.HostelIDs)
		}

		// A caller may change the account it was given; the next one gets
		// the account as it is.
		u, _ := b.User(ctx, student.ID)
		u.HostelIDs[0], u.Disabled = 3, false
		if u, _ := b.User(ctx, student.ID); !u.Disabled || u.HostelIDs[0] != 2 {
			t.Errorf("a caller's change reached the next caller: %+v", u)
		}

		// These events are in the log every instance reads, never in what
		// streams show.
		all, _ := a.Log(ctx, 0, 100000)
		shown, _ := a.EventsAfter(ctx, 0, nil, 100000)
		kinds := map[EventKind]int{}
		for _, e := range all {
			kinds[e.Kind]++
			if (e.Kind == EventSession || e.Kind == EventUser) != (e.HostelID == 0) {
				t.Errorf("event %d %s of hostel %d", e.ID, e.Kind, e.HostelID)
			}
		}
		if kinds[EventSession] != 2 || kinds[EventUser] != 1 {
			t.Errorf("log: %v; want 2 session events (commit, delete) and 1 account event", kinds)
		}
		for _, e := range shown {
			if e.HostelID == 0 {
				t.Errorf("streams would show %s", e.Kind)
			}
		}
		if len(shown) != len(all)-3 {
			t.Errorf("streams see %d of %d events; want all but 3", len(shown), len(all))
		}
	})
}

// A read that began before a change must not fill the memory after it:
// the change would be undone for as long as the entry lived.
func TestAReadFromBeforeAChangeIsNotKept(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, nil)
	ss := s.Sessions([]byte("secret"))
	if err := ss.CommitCtx(ctx, "token", []byte("signed in"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	read, release := make(chan struct{}), make(chan struct{})
	s.afterSessionRead = func() {
		s.afterSessionRead = nil
		close(read)
		<-release
	}

	done := make(chan bool)
	go func() {
		_, found, _ := ss.FindCtx(ctx, "token")
		done <- found
	}()
	<-read // the session is read, and not yet kept
	if err := ss.DeleteCtx(ctx, "token"); err != nil {
		t.Fatal(err)
	}
	close(release)
	if !<-done {
		t.Fatal("the read in flight did not find the session it read")
	}
	if _, found, _ := ss.FindCtx(ctx, "token"); found {
		t.Error("a signed-out session is found again: the read from before the sign-out was kept")
	}
}

func TestKeptSessionsExpire(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, nil)
	ss := s.Sessions([]byte("secret"))
	if err := ss.CommitCtx(ctx, "token", []byte("x"), time.Now().Add(300*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := ss.FindCtx(ctx, "token"); !found {
		t.Fatal("not found while live")
	}
	time.Sleep(350 * time.Millisecond)
	if _, found, _ := ss.FindCtx(ctx, "token"); found {
		t.Error("an expired session is still found in memory")
	}
}

func TestMemoryIsBounded(t *testing.T) {
	a := newMemory()
	a.limit = 64
	for i := range 1000 {
		a.keepUser(a.generation(), &User{ID: int64(i)})
		token := time.Duration(i).String()
		a.keepSession(a.generation(), token, sessionKeyFor(token), []byte("x"), time.Now().Add(time.Hour).UnixNano())
	}
	if len(a.users) > 64 || len(a.sessions) > 64 || len(a.tokens) != len(a.sessions) {
		t.Errorf("kept %d users, %d sessions and %d tokens; limit 64, a token a session", len(a.users), len(a.sessions), len(a.tokens))
	}
	if _, ok := a.session(time.Duration(999).String(), time.Now()); !ok {
		t.Error("the newest session was not kept")
	}
	if _, ok := a.user(999); !ok {
		t.Error("the newest account was not kept")
	}
}

func sessionKeyFor(token string) string {
	return (&Store{}).Sessions([]byte("k")).key(token)
}
