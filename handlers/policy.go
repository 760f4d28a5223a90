package handlers

import (
	"hostelhub/store"
)

// Action is something a user may or may not do.
type Action int

// The actions the policy rules on.
const (
	ViewHostel    Action = iota // see a hostel's issues, announcements and stream
	ReportIssue                 // file an issue in a hostel
	MeToo                       // say an issue affects you too
	Comment                     // comment on an issue
	ChangeStatus                // move an issue along the workflow
	Announce                    // post an announcement to a hostel
	AnnounceAll                 // post an announcement to every hostel
	ViewDashboard               // read the management dashboard
	ManageUsers                 // add, move and disable accounts
	ManageHostels               // add and rename hostels
)

// can is the one place that says whether u may do a to hostel hostelID's
// things (hostelID 0 for actions that concern no one hostel). Every
// handler asks it; nothing else decides.
func can(u *store.User, a Action, hostelID int64) bool {
	if u == nil || u.Disabled {
		return false
	}
	switch a {
	case ViewHostel:
		return u.InHostel(hostelID)
	case ReportIssue:
		return u.Role != store.Management && u.InHostel(hostelID)
	case MeToo:
		return u.Role == store.Student && u.InHostel(hostelID)
	case Comment, ChangeStatus:
		return u.Role != store.Student && u.InHostel(hostelID)
	case Announce:
		return u.Role != store.Student && u.InHostel(hostelID)
	case AnnounceAll, ViewDashboard, ManageUsers, ManageHostels:
		return u.Role == store.Management
	}
	return false
}

// canIssue rules on an action on one issue: the hostel rules, plus what a
// reporter may do to their own issue.
func canIssue(u *store.User, a Action, is *store.Issue, to store.Status, now int64) bool {
	if u == nil || !u.InHostel(is.HostelID) {
		return false
	}
	own := u.Role == store.Student && is.ReporterID == u.ID
	switch a {
	case MeToo:
		return can(u, MeToo, is.HostelID) && !own && is.Status.Unresolved()
	case Comment:
		return can(u, Comment, is.HostelID) || own
	case ChangeStatus:
		if can(u, ChangeStatus, is.HostelID) {
			return true
		}
		// A reporter may reopen their own resolved issue for a while.
		return own && is.Status == store.StatusResolved && to == store.StatusOpen &&
			is.ResolvedAt != nil && now-*is.ResolvedAt <= store.ReopenWindow
	}
	return can(u, a, is.HostelID)
}
