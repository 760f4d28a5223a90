package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sync/errgroup"
)

// ReopenWindow is how long after resolution a reporter may reopen an issue.
const ReopenWindow = 14 * 24 * 60 * 60 // seconds

// transitions is the status workflow: from → the statuses it may move to.
var transitions = map[Status][]Status{
	StatusOpen:       {StatusInProgress, StatusRejected},
	StatusInProgress: {StatusResolved, StatusRejected},
	StatusResolved:   {StatusClosed, StatusOpen},
}

// NextStatuses lists where an issue in status from may go.
func NextStatuses(from Status) []Status { return transitions[from] }

// TransitionError is a refused status change; it wraps ErrTransition.
type TransitionError struct{ From, To Status }

func (e *TransitionError) Error() string {
	if e.From == e.To {
		return fmt.Sprintf("The issue is already %s.", strings.ToLower(e.From.Label()))
	}
	return fmt.Sprintf("An issue cannot move from %s to %s.", strings.ToLower(e.From.Label()), strings.ToLower(e.To.Label()))
}

func (e *TransitionError) Unwrap() error { return ErrTransition }

// CheckTransition returns a *TransitionError unless the workflow allows from → to.
func CheckTransition(from, to Status) error {
	for _, s := range transitions[from] {
		if s == to {
			return nil
		}
	}
	return &TransitionError{From: from, To: to}
}

// NewIssue is what a reporter fills in.
type NewIssue struct {
	HostelID    int64
	ReporterID  int64
	Title       string
	Description string
	Category    string
	Priority    Priority
	Location    string
}

const issueColumns = `i.id, i.hostel_id, h.name AS hostel_name, i.reporter_id, u.name AS reporter_name,
	i.title, i.description, i.category, i.priority, i.location, i.status, i.metoo_count,
	i.created_at, i.updated_at, i.resolved_at
	FROM issues i JOIN hostels h ON h.id = i.hostel_id JOIN users u ON u.id = i.reporter_id`

// CreateIssue files a new open issue and its first history line.
func (s *Store) CreateIssue(ctx context.Context, n NewIssue) (int64, error) {
	var id int64
	err := s.write(ctx, func(t *tx) error {
		var err error
		id, err = t.insert(`INSERT INTO issues (hostel_id, reporter_id, title, description, category, priority, location, status, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			n.HostelID, n.ReporterID, n.Title, n.Description, n.Category, n.Priority, n.Location, StatusOpen, t.now, t.now)
		if err != nil {
			return err
		}
		if _, err := t.exec(`INSERT INTO issue_notes (issue_id, author_id, kind, to_status, created_at) VALUES (?, ?, 'reported', ?, ?)`,
			id, n.ReporterID, StatusOpen, t.now); err != nil {
			return err
		}
		return t.event(n.HostelID, EventNewIssue, id)
	})
	if err != nil {
		return 0, fmt.Errorf("store: create issue: %w", err)
	}
	return id, nil
}

// Issue returns one issue.
func (s *Store) Issue(ctx context.Context, id int64) (*Issue, error) {
	var i Issue
	if err := s.get(ctx, &i, `SELECT `+issueColumns+` WHERE i.id = ?`, id); err != nil {
		return nil, fmt.Errorf("store: issue %d: %w", id, err)
	}
	return &i, nil
}

// IssueFilter narrows a list of issues.
type IssueFilter struct {
	HostelIDs []int64 // nil: every hostel
	Status    Status
	Category  string
	Query     string // words in the title, description or location
	Page      int    // from 1
	PerPage   int
}

// IssuePage is one page of a list.
type IssuePage struct {
	Issues  []Issue
	Total   int
	Page    int
	PerPage int
}

// Pages is the number of pages in the whole list.
func (p *IssuePage) Pages() int {
	if p.PerPage <= 0 || p.Total == 0 {
		return 1
	}
	return (p.Total + p.PerPage - 1) / p.PerPage
}

// Issues lists issues that still need work first, then most urgent, then newest.
func (s *Store) Issues(ctx context.Context, f IssueFilter) (*IssuePage, error) {
	if f.PerPage <= 0 {
		f.PerPage = 25
	}
	if f.Page < 1 {
		f.Page = 1
	}
	where, args := []string{"1=1"}, []any{}
	if f.HostelIDs != nil {
		if len(f.HostelIDs) == 0 {
			return &IssuePage{Page: 1, PerPage: f.PerPage}, nil
		}
		where = append(where, "i.hostel_id IN (?)")
		args = append(args, f.HostelIDs)
	}
	if f.Status != "" {
		where = append(where, "i.status = ?")
		args = append(args, f.Status)
	}
	if f.Category != "" {
		where = append(where, "i.category = ?")
		args = append(args, f.Category)
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		// Case-insensitive: SQLite's LIKE already is (for ASCII, like its
		// LOWER); PostgreSQL's is ILIKE.
		like := "%" + escapeLike(q) + "%"
		op := "LIKE"
		if s.dialect == Postgres {
			op = "ILIKE"
		}
		where = append(where, fmt.Sprintf(`(i.title %[1]s ? ESCAPE '\' OR i.location %[1]s ? ESCAPE '\' OR i.description %[1]s ? ESCAPE '\')`, op))
		args = append(args, like, like, like)
	}
	cond := strings.Join(where, " AND ")

	page := &IssuePage{Page: f.Page, PerPage: f.PerPage}
	countQ, countArgs, err := s.in(`SELECT COUNT(*) FROM issues i WHERE `+cond, args...)
	if err != nil {
		return nil, fmt.Errorf("store: issues: %w", err)
	}
	listQ, listArgs, err := s.in(`SELECT `+issueColumns+` WHERE `+cond+
		` ORDER BY i.active DESC, i.priority DESC, i.created_at DESC, i.id DESC LIMIT ? OFFSET ?`,
		append(args, f.PerPage, (f.Page-1)*f.PerPage)...)
	if err != nil {
		return nil, fmt.Errorf("store: issues: %w", err)
	}
	// The count and the page walk the same rows: side by side, not one after the other.
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.db.GetContext(gctx, &page.Total, countQ, countArgs...) })
	g.Go(func() error { return s.db.SelectContext(gctx, &page.Issues, listQ, listArgs...) })
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("store: issues: %w", err)
	}
	return page, nil
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// ChangeStatus moves an issue along the workflow and records who did it and why.
// A move the workflow does not allow returns a *TransitionError.
func (s *Store) ChangeStatus(ctx context.Context, issueID, actorID int64, to Status, note string) error {
	if to == StatusRejected && strings.TrimSpace(note) == "" {
		return fmt.Errorf("store: change status: a note is required to reject: %w", ErrTransition)
	}
	err := s.write(ctx, func(t *tx) error {
		var cur struct {
			HostelID   int64  `db:"hostel_id"`
			Status     Status `db:"status"`
			ResolvedAt *int64 `db:"resolved_at"`
		}
		if err := t.Get(&cur, t.Rebind(`SELECT hostel_id, status, resolved_at FROM issues WHERE id = ?`), issueID); err != nil {
			return notFound(err)
		}
		if err := CheckTransition(cur.Status, to); err != nil {
			return err
		}
		// A closed issue keeps the time it was resolved; a reopened or
		// rejected one has none.
		resolved := cur.ResolvedAt
		switch to {
		case StatusResolved:
			resolved = &t.now
		case StatusOpen, StatusInProgress, StatusRejected:
			resolved = nil
		}
		if _, err := t.exec(`UPDATE issues SET status = ?, updated_at = ?, resolved_at = ? WHERE id = ?`,
			to, t.now, resolved, issueID); err != nil {
			return err
		}
		return t.statusNote(cur.HostelID, issueID, actorID, cur.Status, to, note)
	})
	if err != nil {
		return fmt.Errorf("store: change status of issue %d: %w", issueID, err)
	}
	return nil
}

func (t *tx) statusNote(hostelID, issueID, actorID int64, from, to Status, note string) error {
	if _, err := t.exec(`INSERT INTO issue_notes (issue_id, author_id, kind, from_status, to_status, body, created_at)
		VALUES (?, ?, 'status', ?, ?, ?, ?)`, issueID, actorID, from, to, note, t.now); err != nil {
		return err
	}
	return t.event(hostelID, EventStatusUpdated, issueID)
}

// AddComment appends a comment to an issue's history.
func (s *Store) AddComment(ctx context.Context, issueID, authorID int64, body string) error {
	err := s.write(ctx, func(t *tx) error {
		var hostelID int64
		if err := t.Get(&hostelID, t.Rebind(`SELECT hostel_id FROM issues WHERE id = ?`), issueID); err != nil {
			return notFound(err)
		}
		if _, err := t.exec(`INSERT INTO issue_notes (issue_id, author_id, kind, body, created_at) VALUES (?, ?, 'comment', ?, ?)`,
			issueID, authorID, body, t.now); err != nil {
			return err
		}
		if _, err := t.exec(`UPDATE issues SET updated_at = ? WHERE id = ?`, t.now, issueID); err != nil {
			return err
		}
		return t.event(hostelID, EventComment, issueID)
	})
	if err != nil {
		return fmt.Errorf("store: comment on issue %d: %w", issueID, err)
	}
	return nil
}

// AddMeToo counts userID as also affected by an issue, once: a second call
// changes nothing and reports added false.
func (s *Store) AddMeToo(ctx context.Context, issueID, userID int64) (added bool, err error) {
	err = s.write(ctx, func(t *tx) error {
		var hostelID int64
		if err := t.Get(&hostelID, t.Rebind(`SELECT hostel_id FROM issues WHERE id = ?`), issueID); err != nil {
			return notFound(err)
		}
		res, err := t.exec(`INSERT INTO metoos (issue_id, user_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
			issueID, userID, t.now)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		added = true
		if _, err := t.exec(`UPDATE issues SET metoo_count = metoo_count + 1 WHERE id = ?`, issueID); err != nil {
			return err
		}
		return t.event(hostelID, EventMeToo, issueID)
	})
	if err != nil {
		return false, fmt.Errorf("store: me too on issue %d: %w", issueID, err)
	}
	return added, nil
}

// HasMeToo reports whether userID already said "me too" on issueID.
func (s *Store) HasMeToo(ctx context.Context, issueID, userID int64) (bool, error) {
	var n int
	if err := s.get(ctx, &n, `SELECT COUNT(*) FROM metoos WHERE issue_id = ? AND user_id = ?`, issueID, userID); err != nil {
		return false, fmt.Errorf("store: me too: %w", err)
	}
	return n > 0, nil
}

// Notes returns an issue's history, oldest first.
func (s *Store) Notes(ctx context.Context, issueID int64) ([]Note, error) {
	var notes []Note
	err := s.selectAll(ctx, &notes, `SELECT n.id, n.issue_id, n.author_id, u.name AS author_name, u.role AS author_role,
		n.kind, n.from_status, n.to_status, n.body, n.created_at
		FROM issue_notes n JOIN users u ON u.id = n.author_id WHERE n.issue_id = ? ORDER BY n.id`, issueID)
	if err != nil {
		return nil, fmt.Errorf("store: notes of issue %d: %w", issueID, err)
	}
	return notes, nil
}

func notFound(err error) error {
	if isNoRows(err) {
		return ErrNotFound
	}
	return err
}

func isNoRows(err error) bool { return err != nil && errors.Is(err, errNoRows) }
