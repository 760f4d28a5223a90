package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// SeedOptions size the demo data.
type SeedOptions struct {
	Hostels  int // demo hostels; accounts warden{k}/student{k}@demo.test for each
	Issues   int // spread over the last Days days
	Days     int
	Password string // of every demo account
	Seed     uint64 // for the random spread; the same seed gives the same data
}

// DemoAccount is a seeded account, for printing at start.
type DemoAccount struct {
	Email  string
	Role   Role
	Hostel string
}

// Empty reports whether the database has no accounts yet.
func (s *Store) Empty(ctx context.Context) (bool, error) {
	var n int
	if err := s.get(ctx, &n, `SELECT COUNT(*) FROM users`); err != nil {
		return false, fmt.Errorf("store: count users: %w", err)
	}
	return n == 0, nil
}

var demoHostelNames = []string{"Aravali", "Nilgiri", "Shivalik", "Vindhya", "Satpura", "Himadri", "Kailash", "Karakoram", "Zanskar", "Dhauladhar"}

var demoTitles = map[string][]string{
	"electrical": {"Socket not working", "Tube light flickering", "Fan regulator broken", "Switchboard sparks", "No power in the room"},
	"plumbing":   {"Leaking tap", "Blocked drain", "Flush not working", "Shower has no pressure", "Pipe leaking under the sink"},
	"furniture":  {"Broken chair", "Bed frame cracked", "Cupboard door off its hinge", "Study table wobbles", "Window latch broken"},
	"cleaning":   {"Corridor not swept", "Washroom needs cleaning", "Dustbin overflowing", "Cobwebs in the common room"},
	"internet":   {"No Wi-Fi", "Wi-Fi drops every few minutes", "LAN port dead", "Very slow internet at night"},
	"water":      {"No hot water", "Water cooler not cooling", "Drinking water tastes odd", "Tank overflowing"},
	"mess":       {"Food served cold", "Mess timings not followed", "Insects near the mess", "Menu not displayed"},
	"security":   {"Main gate lock broken", "Corridor light out at night", "CCTV camera down", "Stranger in the building"},
	"other":      {"Noise after midnight", "Notice board damaged", "Laundry machine broken", "Stray dogs near the entrance"},
}

var demoPlaces = []string{"Common room", "Mess hall", "Ground floor corridor", "First floor washroom", "Reading room", "Laundry", "Main gate", "Terrace"}

// Seed fills an empty database with demo hostels, accounts and issues spread
// over the last Days days. Issues arrive as history, not as live changes, so
// no events are written for them.
func (s *Store) Seed(ctx context.Context, o SeedOptions) ([]DemoAccount, error) {
	if o.Hostels < 1 || o.Hostels > len(demoHostelNames) {
		return nil, fmt.Errorf("store: seed: between 1 and %d hostels", len(demoHostelNames))
	}
	if o.Days < 1 {
		o.Days = 90
	}
	// Every demo account shares one password, so one hash serves them all.
	hash, err := s.HashPassword(o.Password)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	var accounts []DemoAccount
	err = s.write(ctx, func(t *tx) error {
		user := func(email, name string, role Role, room string, hostels ...int64) (int64, error) {
			id, err := t.insert(`INSERT INTO users (email, name, password_hash, role, room, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
				email, name, hash, role, room, t.now)
			if err != nil {
				return 0, err
			}
			return id, t.setHostels(id, hostels)
		}
		if _, err := user("admin@demo.test", "Asha Admin", Management, ""); err != nil {
			return err
		}
		accounts = append(accounts, DemoAccount{Email: "admin@demo.test", Role: Management})

		hostels := make([]int64, o.Hostels)
		wardens := make([]int64, o.Hostels)
		students := make([][]int64, o.Hostels)
		for k := range o.Hostels {
			name := demoHostelNames[k]
			if hostels[k], err = t.insert(`INSERT INTO hostels (name, created_at) VALUES (?, ?)`, name, t.now); err != nil {
				return err
			}
			email := fmt.Sprintf("warden%d@demo.test", k+1)
			if wardens[k], err = user(email, fmt.Sprintf("Warden of %s", name), Warden, "", hostels[k]); err != nil {
				return err
			}
			accounts = append(accounts, DemoAccount{Email: email, Role: Warden, Hostel: name})
			email = fmt.Sprintf("student%d@demo.test", k+1)
			sid, err := user(email, fmt.Sprintf("Student %d", k+1), Student, fmt.Sprintf("%d01", k+1), hostels[k])
			if err != nil {
				return err
			}
			accounts = append(accounts, DemoAccount{Email: email, Role: Student, Hostel: name})
			students[k] = append(students[k], sid)
			// Other residents, so that issues come from many people.
			for j := 2; j <= 12; j++ {
				sid, err := user(fmt.Sprintf("resident%d.%d@demo.test", k+1, j), fmt.Sprintf("Resident %d-%d", k+1, j),
					Student, fmt.Sprintf("%d%02d", k+1, j), hostels[k])
				if err != nil {
					return err
				}
				students[k] = append(students[k], sid)
			}
		}
		return t.seedIssues(rng, o, hostels, wardens, students)
	})
	if err != nil {
		return nil, fmt.Errorf("store: seed: %w", err)
	}
	return accounts, nil
}

func (t *tx) seedIssues(rng *rand.Rand, o SeedOptions, hostels, wardens []int64, students [][]int64) error {
	insIssue, err := t.Preparex(t.Rebind(`INSERT INTO issues (hostel_id, reporter_id, title, description, category, priority, location, status, metoo_count, created_at, updated_at, resolved_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`))
	if err != nil {
		return err
	}
	defer insIssue.Close()
	insNote, err := t.Preparex(t.Rebind(`INSERT INTO issue_notes (issue_id, author_id, kind, from_status, to_status, body, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`))
	if err != nil {
		return err
	}
	defer insNote.Close()

	now := t.now
	span := int64(o.Days) * 86400
	for range o.Issues {
		k := rng.IntN(len(hostels))
		category := Categories[rng.IntN(len(Categories))]
		titles := demoTitles[category]
		title := titles[rng.IntN(len(titles))]
		reporter := students[k][rng.IntN(len(students[k]))]
		priority := Priority([]int{0, 1, 1, 1, 2, 2, 3}[rng.IntN(7)])
		location := fmt.Sprintf("Room %d%02d", k+1, 1+rng.IntN(40))
		if rng.IntN(4) == 0 {
			location = demoPlaces[rng.IntN(len(demoPlaces))]
		}
		created := now - rng.Int64N(span)
		age := now - created

		// Older issues are further along: most are resolved within days.
		status, started, resolved := StatusOpen, int64(0), int64(0)
		took := int64(3600 + rng.ExpFloat64()*float64(36*3600)/(1+float64(priority)))
		switch r := rng.IntN(100); {
		case r < 4 && age > 3600:
			status = StatusRejected
		case r < 7:
			// Some issues wait: parts on order, a contractor to come.
			if rng.IntN(2) == 0 {
				started = created + min(age, took)/3
				status = StatusInProgress
			}
		case took < age:
			resolved = created + took
			started = created + took/3
			status = StatusResolved
			if rng.IntN(3) > 0 && now-resolved > 86400 {
				status = StatusClosed
			}
		case took/3 < age:
			started = created + took/3
			status = StatusInProgress
		}
		updated := created
		var resolvedAt any
		if resolved > 0 {
			resolvedAt, updated = resolved, resolved
		} else if started > 0 {
			updated = started
		}
		desc := fmt.Sprintf("%s. Noticed on %s; please have a look.", title, time.Unix(created, 0).UTC().Format("Monday 2 January"))
		var id int64
		if err := insIssue.QueryRowx(hostels[k], reporter, title, desc, category, priority, location, status,
			rng.IntN(4), created, updated, resolvedAt).Scan(&id); err != nil {
			return err
		}
		if _, err := insNote.Exec(id, reporter, "reported", "", StatusOpen, "", created); err != nil {
			return err
		}
		warden := wardens[k]
		if status == StatusRejected {
			if _, err := insNote.Exec(id, warden, "status", StatusOpen, StatusRejected, "Duplicate of an earlier report.", created+600); err != nil {
				return err
			}
			continue
		}
		if started > 0 {
			if _, err := insNote.Exec(id, warden, "status", StatusOpen, StatusInProgress, "Sent to maintenance.", started); err != nil {
				return err
			}
		}
		if resolved > 0 {
			if _, err := insNote.Exec(id, warden, "status", StatusInProgress, StatusResolved, "Fixed.", resolved); err != nil {
				return err
			}
		}
		if status == StatusClosed {
			if _, err := insNote.Exec(id, warden, "status", StatusResolved, StatusClosed, "", resolved+86400); err != nil {
				return err
			}
		}
	}
	return nil
}
