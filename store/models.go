package store

import (
	"slices"
	"time"
)

// Role is what a user is to hostelhub.
type Role string

// The roles.
const (
	Student    Role = "student"
	Warden     Role = "warden"
	Management Role = "management"
)

// Roles lists every role, in the order forms show them.
var Roles = []Role{Student, Warden, Management}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return slices.Contains(Roles, r) }

// Status is where an issue stands.
type Status string

// The statuses.
const (
	StatusOpen       Status = "open"
	StatusInProgress Status = "in_progress"
	StatusResolved   Status = "resolved"
	StatusClosed     Status = "closed"
	StatusRejected   Status = "rejected"
)

// Statuses lists every status, in workflow order.
var Statuses = []Status{StatusOpen, StatusInProgress, StatusResolved, StatusClosed, StatusRejected}

// Valid reports whether s is a known status.
func (s Status) Valid() bool { return slices.Contains(Statuses, s) }

// Label is the status as people read it.
func (s Status) Label() string {
	switch s {
	case StatusInProgress:
		return "In progress"
	case StatusOpen:
		return "Open"
	case StatusResolved:
		return "Resolved"
	case StatusClosed:
		return "Closed"
	case StatusRejected:
		return "Rejected"
	}
	return string(s)
}

// Unresolved reports whether the issue still needs work.
func (s Status) Unresolved() bool { return s == StatusOpen || s == StatusInProgress }

// Categories an issue can be filed under.
var Categories = []string{"electrical", "plumbing", "furniture", "cleaning", "internet", "water", "mess", "security", "other"}

// ValidCategory reports whether c is a known category.
func ValidCategory(c string) bool { return slices.Contains(Categories, c) }

// Priority orders issues by urgency; it is stored as its rank so that the
// list's "most urgent first" is an index walk.
type Priority int

// The priorities, least urgent first.
const (
	Low Priority = iota
	Normal
	High
	Urgent
)

// Priorities lists every priority, least urgent first.
var Priorities = []Priority{Low, Normal, High, Urgent}

var priorityNames = [...]string{"low", "normal", "high", "urgent"}

// String is the priority's name in forms and JSON.
func (p Priority) String() string {
	if p < Low || p > Urgent {
		return "unknown"
	}
	return priorityNames[p]
}

// ParsePriority turns a name into a Priority.
func ParsePriority(name string) (Priority, bool) {
	i := slices.Index(priorityNames[:], name)
	return Priority(i), i >= 0
}

// MarshalText makes a Priority its name in JSON.
func (p Priority) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// Hostel is one building of students.
type Hostel struct {
	ID        int64  `db:"id" json:"id"`
	Name      string `db:"name" json:"name"`
	CreatedAt int64  `db:"created_at" json:"-"`
}

// User is someone who signs in.
type User struct {
	ID           int64   `db:"id"`
	Email        string  `db:"email"`
	Name         string  `db:"name"`
	PasswordHash string  `db:"password_hash"`
	Role         Role    `db:"role"`
	Room         string  `db:"room"`
	Disabled     bool    `db:"disabled"`
	CreatedAt    int64   `db:"created_at"`
	HostelIDs    []int64 `db:"-"` // a student's one hostel, a warden's hostels; none for management
}

// InHostel reports whether the user belongs to hostel id. Management belongs to all.
func (u *User) InHostel(id int64) bool {
	return u.Role == Management || slices.Contains(u.HostelIDs, id)
}

// HomeHostel is the hostel a student or warden sees first; 0 for management.
func (u *User) HomeHostel() int64 {
	if len(u.HostelIDs) == 0 {
		return 0
	}
	return u.HostelIDs[0]
}

// Issue is a problem reported in a hostel.
type Issue struct {
	ID          int64    `db:"id" json:"id"`
	HostelID    int64    `db:"hostel_id" json:"hostel_id"`
	HostelName  string   `db:"hostel_name" json:"hostel"`
	ReporterID  int64    `db:"reporter_id" json:"-"`
	Reporter    string   `db:"reporter_name" json:"-"`
	Title       string   `db:"title" json:"title"`
	Description string   `db:"description" json:"description"`
	Category    string   `db:"category" json:"category"`
	Priority    Priority `db:"priority" json:"priority"`
	Location    string   `db:"location" json:"location"`
	Status      Status   `db:"status" json:"status"`
	MeToo       int      `db:"metoo_count" json:"metoo_count"`
	CreatedAt   int64    `db:"created_at" json:"created_at"`
	UpdatedAt   int64    `db:"updated_at" json:"updated_at"`
	ResolvedAt  *int64   `db:"resolved_at" json:"resolved_at,omitempty"`
}

// Created is when the issue was reported.
func (i *Issue) Created() time.Time { return time.Unix(i.CreatedAt, 0).UTC() }

// Note is one line of an issue's history: its report, a status change or a comment.
type Note struct {
	ID         int64  `db:"id"`
	IssueID    int64  `db:"issue_id"`
	AuthorID   int64  `db:"author_id"`
	Author     string `db:"author_name"`
	AuthorRole Role   `db:"author_role"`
	Kind       string `db:"kind"`
	FromStatus Status `db:"from_status"`
	ToStatus   Status `db:"to_status"`
	Body       string `db:"body"`
	CreatedAt  int64  `db:"created_at"`
}

// Announcement is a notice to one hostel, or to all when HostelID is nil.
type Announcement struct {
	ID         int64   `db:"id" json:"id"`
	HostelID   *int64  `db:"hostel_id" json:"hostel_id"`
	HostelName *string `db:"hostel_name" json:"hostel"`
	AuthorID   int64   `db:"author_id" json:"-"`
	Author     string  `db:"author_name" json:"author"`
	Title      string  `db:"title" json:"title"`
	Body       string  `db:"body" json:"body"`
	CreatedAt  int64   `db:"created_at" json:"created_at"`
}

// EventKind names what happened; the names are the stream's event names.
type EventKind string

// The event kinds.
const (
	EventNewIssue      EventKind = "new_issue"
	EventStatusUpdated EventKind = "issue_status_updated"
	EventComment       EventKind = "issue_comment"
	EventMeToo         EventKind = "issue_metoo"
	EventAnnouncement  EventKind = "announcement"   // of one hostel, or of none: to every hostel
	EventHostel        EventKind = "hostel_updated" // added or renamed

	// Events about an account, of no hostel, which no stream shows: every
	// instance forgets what it keeps in memory of the session or account
	// (Store.Forget), and ends the streams that belonged to it.
	EventSession EventKind = "session_changed" // signed in, out, or its data changed; ref: sessionRef
	EventUser    EventKind = "user_changed"    // role, hostels, disabled or password; ref: the user's id
)

// Streamed reports whether streams show events of kind k. An event of no
// hostel that streams show is for every hostel: one event, however many
// hostels it reaches.
func (k EventKind) Streamed() bool { return k != EventSession && k != EventUser }

// streamedToEveryHostel are the kinds an event of no hostel may have that
// streams show (see Streamed).
var streamedToEveryHostel = []EventKind{EventAnnouncement}

// ChangesDashboard reports whether an event of kind k can change a figure
// on the management dashboard.
func (k EventKind) ChangesDashboard() bool {
	return k == EventNewIssue || k == EventStatusUpdated || k == EventHostel
}

// Event is one committed change, in the order of the log.
type Event struct {
	ID        int64     `db:"id"`
	HostelID  int64     `db:"hostel_id"`
	Kind      EventKind `db:"kind"`
	RefID     int64     `db:"ref_id"`
	CreatedAt int64     `db:"created_at"`
}
