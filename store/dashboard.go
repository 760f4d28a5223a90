package store

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"
)

// Dashboard windows.
const (
	DashboardDays = 30             // the created-vs-resolved series
	OverdueAfter  = 72 * time.Hour // an unresolved issue older than this is overdue
	OverdueShown  = 10             // how many overdue issues the dashboard lists
)

// Dashboard is every figure management reads, computed at one moment.
type Dashboard struct {
	At         time.Time
	Total      int
	ByStatus   map[Status]int
	Hostels    []HostelFigures
	Categories []CategoryFigures
	Days       []DayFigures // oldest first, DashboardDays long, today last
	Overdue    []Issue      // oldest first
	OverdueN   int          // all overdue issues, not only those listed
}

// HostelFigures are one hostel's figures.
type HostelFigures struct {
	ID            int64
	Name          string
	Total         int
	Open          int
	InProgress    int
	Resolved      int           // resolved or closed
	MedianResolve time.Duration // 0 when nothing was resolved
}

// CategoryFigures are one category's figures.
type CategoryFigures struct {
	Category   string
	Total      int
	Unresolved int
}

// DayFigures are one UTC day's counts.
type DayFigures struct {
	Day      time.Time
	Created  int
	Resolved int
}

// Dashboard computes the management dashboard. Its queries run side by side.
func (s *Store) Dashboard(ctx context.Context) (*Dashboard, error) {
	now := s.now().UTC()
	d := &Dashboard{At: now, ByStatus: make(map[Status]int, len(Statuses))}
	var (
		counts []struct {
			HostelID int64  `db:"hostel_id"`
			Status   Status `db:"status"`
			Category string `db:"category"`
			N        int    `db:"n"`
		}
		hostels []Hostel
		medians []time.Duration
		days    []struct {
			D        int64 `db:"d"`
			Created  int   `db:"created"`
			Resolved int   `db:"resolved"`
		}
	)
	today := now.Truncate(24 * time.Hour)
	first := today.AddDate(0, 0, -(DashboardDays - 1))
	overdueBefore := now.Add(-OverdueAfter).Unix()

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return s.selectAll(gctx, &counts, `SELECT hostel_id, status, category, COUNT(*) AS n FROM issues GROUP BY hostel_id, status, category`)
	})
	g.Go(func() error {
		if err := s.selectAll(gctx, &hostels, `SELECT * FROM hostels ORDER BY name, id`); err != nil {
			return err
		}
		medians = make([]time.Duration, len(hostels))
		for i, h := range hostels {
			g.Go(func() (err error) { medians[i], err = s.medianResolve(gctx, h.ID); return err })
		}
		return nil
	})
	g.Go(func() error {
		// One index range count per day and series: cheaper than grouping
		// a month of rows by an expression.
		return s.selectAll(gctx, &days, `WITH RECURSIVE days (d) AS (SELECT CAST(? AS BIGINT) UNION ALL SELECT d + 86400 FROM days WHERE d < ?)
			SELECT d,
				(SELECT COUNT(*) FROM issues WHERE created_at >= d AND created_at < d + 86400) AS created,
				(SELECT COUNT(*) FROM issues WHERE resolved_at >= d AND resolved_at < d + 86400) AS resolved
			FROM days ORDER BY d`, first.Unix(), today.Unix())
	})
	g.Go(func() error {
		return s.selectAll(gctx, &d.Overdue, `SELECT `+issueColumns+` WHERE i.status IN ('open', 'in_progress') AND i.created_at < ?
			ORDER BY i.created_at, i.id LIMIT ?`, overdueBefore, OverdueShown)
	})
	g.Go(func() error {
		return s.get(gctx, &d.OverdueN, `SELECT COUNT(*) FROM issues WHERE status IN ('open', 'in_progress') AND created_at < ?`, overdueBefore)
	})
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("store: dashboard: %w", err)
	}

	byHostel := make(map[int64]*HostelFigures, len(hostels))
	for i, h := range hostels {
		d.Hostels = append(d.Hostels, HostelFigures{ID: h.ID, Name: h.Name, MedianResolve: medians[i]})
	}
	for i := range d.Hostels {
		byHostel[d.Hostels[i].ID] = &d.Hostels[i]
	}
	byCategory := make(map[string]*CategoryFigures, len(Categories))
	for _, c := range Categories {
		d.Categories = append(d.Categories, CategoryFigures{Category: c})
	}
	for i := range d.Categories {
		byCategory[d.Categories[i].Category] = &d.Categories[i]
	}
	for _, c := range counts {
		d.Total += c.N
		d.ByStatus[c.Status] += c.N
		if h := byHostel[c.HostelID]; h != nil {
			h.Total += c.N
			switch c.Status {
			case StatusOpen:
				h.Open += c.N
			case StatusInProgress:
				h.InProgress += c.N
			case StatusResolved, StatusClosed:
				h.Resolved += c.N
			}
		}
		if cat := byCategory[c.Category]; cat != nil {
			cat.Total += c.N
			if c.Status.Unresolved() {
				cat.Unresolved += c.N
			}
		}
	}

	for _, day := range days {
		d.Days = append(d.Days, DayFigures{Day: time.Unix(day.D, 0).UTC(), Created: day.Created, Resolved: day.Resolved})
	}
	return d, nil
}

// medianResolve returns a hostel's median time from report to resolution,
// over every issue that was resolved (closed ones included): a walk to the
// middle of the partial index on resolve_secs, not a read of every row.
func (s *Store) medianResolve(ctx context.Context, hostelID int64) (time.Duration, error) {
	var m *float64
	err := s.get(ctx, &m, `SELECT AVG(d) FROM (
		SELECT resolve_secs AS d FROM issues WHERE hostel_id = ? AND resolve_secs IS NOT NULL ORDER BY resolve_secs
		LIMIT 2 - (SELECT COUNT(*) FROM issues WHERE hostel_id = ? AND resolve_secs IS NOT NULL) % 2
		OFFSET ((SELECT COUNT(*) FROM issues WHERE hostel_id = ? AND resolve_secs IS NOT NULL) - 1) / 2) AS middle`,
		hostelID, hostelID, hostelID)
	if err != nil || m == nil {
		return 0, err
	}
	return time.Duration(*m * float64(time.Second)), nil
}
