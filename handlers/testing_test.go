package handlers

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/crypto/bcrypt"

	"hostelhub/handlers/webtest"
	"hostelhub/realtime"
	"hostelhub/store"
	"hostelhub/store/limits"
)

// testServer is the whole HTTP layer over a real SQLite file. Nothing
// follows the event log: what streams and the dashboard cache make of a
// commit is package main's to wire, and its tests' to check.
type testServer struct {
	*httptest.Server
	store   *store.Store
	echo    *echo.Echo
	handler *Handler
}

type testOptions struct {
	issues, hostels, days int
	perAddr, perAcct      RateLimit
	logger                *slog.Logger    // nil: logs go nowhere
	requestLog            io.Writer       // request lines in JSON, when set
	metricsElsewhere      bool            // /metrics is served on an address of its own
	limits                Limits          // the per-user limits; by default none a test reaches
	limitBackend          *limits.Backend // nil: in memory
}

func newTestServer(t testing.TB, opts ...func(*testOptions)) *testServer {
	t.Helper()
	o := testOptions{issues: 60, hostels: 3, days: 30, perAddr: RateLimit{Every: time.Millisecond, Burst: 1000}, perAcct: RateLimit{Every: time.Millisecond, Burst: 1000},
		limits: Limits{Reports: maxLimit, Comments: maxLimit, MeToo: maxLimit, Announcements: maxLimit, Streams: maxLimit}}
	for _, f := range opts {
		f(&o)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "hostelhub.db"), store.Options{PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Seed(ctx, store.SeedOptions{Hostels: o.hostels, Issues: o.issues, Days: o.days, Password: webtest.DemoPassword, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	logger := o.logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	hub := realtime.NewHub(realtime.HubOptions{Logger: logger})
	h := New(Options{
		Store: st, Logger: logger, RequestLog: o.requestLog, SessionSecret: []byte("test secret test secret test secret"),
		LoginPerAddress: o.perAddr, LoginPerAccount: o.perAcct, Hub: hub, MetricsElsewhere: o.metricsElsewhere,
		Limits: o.limits, LimitBackend: o.limitBackend,
	})
	e := h.Echo()
	srv := httptest.NewServer(e)
	// The hub first, so that open streams end and the server can close.
	t.Cleanup(func() { hub.Close(); srv.Close() })
	return &testServer{Server: srv, store: st, echo: e, handler: h}
}

// client is a browser with no cookies yet.
func (ts *testServer) client(t testing.TB) *webtest.Client { return webtest.NewClient(t, ts.URL) }

// login signs in as email with the demo password, failing the test if it cannot.
func (ts *testServer) login(t testing.TB, email string) *webtest.Client {
	t.Helper()
	c := ts.client(t)
	c.SignIn(email, webtest.DemoPassword)
	return c
}

func (ts *testServer) user(t testing.TB, email string) *store.User {
	t.Helper()
	u, err := ts.store.UserByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// issueOf returns an issue of the hostel with the given status, filed by someone else than notBy.
func (ts *testServer) issueOf(t testing.TB, hostelID int64, status store.Status, notBy int64) *store.Issue {
	t.Helper()
	page, err := ts.store.Issues(context.Background(), store.IssueFilter{HostelIDs: []int64{hostelID}, Status: status, PerPage: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for i := range page.Issues {
		if page.Issues[i].ReporterID != notBy {
			return &page.Issues[i]
		}
	}
	t.Fatalf("no %s issue in hostel %d", status, hostelID)
	return nil
}

func (ts *testServer) countRows(t testing.TB, table string) int {
	t.Helper()
	var n int
	if err := ts.store.DB().QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// syncBuffer is a buffer that a server's goroutines write while a test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
