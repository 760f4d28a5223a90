package handlers

import (
	"slices"

	"hostelhub/store"
	"hostelhub/views"
)

// The policy: the one place that says what a user may do to a hostel's
// things. What depends on the role alone is also enforced on the route
// (routes.go); what depends on the object — this issue's hostel, its
// reporter, its state — is decided here, and pages are told the outcome
// as capabilities (views.Viewer, views.IssueCan), never the role.

// action is something a user may or may not do.
type action int

const (
	viewHostel     action = iota // see a hostel's issues, announcements and stream
	reportIssue                  // file an issue in a hostel
	meToo                        // say an issue affects you too
	comment                      // comment on an issue
	changeStatus                 // move an issue along the workflow
	announce                     // post an announcement to a hostel
	announceAll                  // post an announcement to every hostel
	viewDashboard                // read the management dashboard
	manageAccounts               // add, move and disable accounts; add and rename hostels
	readMetrics                  // read the app's metrics (when they have no address of their own)
)

// can says whether u may do a to hostel hostelID's things (hostelID 0 for
// actions that concern no one hostel).
func can(u *store.User, a action, hostelID int64) bool {
	if u == nil || u.Disabled {
		return false
	}
	switch a {
	case viewHostel:
		return u.InHostel(hostelID)
	case reportIssue:
		return u.Role != store.Management && u.InHostel(hostelID)
	case meToo:
		return u.Role == store.Student && u.InHostel(hostelID)
	case comment, changeStatus, announce:
		return u.Role != store.Student && u.InHostel(hostelID)
	case announceAll, viewDashboard, manageAccounts, readMetrics:
		return u.Role == store.Management
	}
	return false
}

// canSome says whether u's role may do a at all, in some hostel: what a
// route decides before it knows which hostel's thing is asked for.
func canSome(u *store.User, a action) bool {
	if u == nil || u.Disabled {
		return false
	}
	switch a {
	case reportIssue:
		return u.Role != store.Management
	case meToo:
		return u.Role == store.Student
	case announce:
		return u.Role != store.Student
	case announceAll, viewDashboard, manageAccounts, readMetrics:
		return u.Role == store.Management
	}
	return true // seeing, commenting, changing status: decided per issue
}

// canIssue rules on an action on one issue: the hostel rules, plus what a
// reporter may do to their own issue. now is in Unix seconds.
func canIssue(u *store.User, a action, is *store.Issue, to store.Status, now int64) bool {
	if u == nil || !u.InHostel(is.HostelID) {
		return false
	}
	own := u.Role == store.Student && is.ReporterID == u.ID
	switch a {
	case meToo:
		return can(u, meToo, is.HostelID) && !own && is.Status.Unresolved()
	case comment:
		return can(u, comment, is.HostelID) || own
	case changeStatus:
		if can(u, changeStatus, is.HostelID) {
			return true
		}
		// A reporter may reopen their own resolved issue for a while.
		return own && is.Status == store.StatusResolved && to == store.StatusOpen &&
			is.ResolvedAt != nil && now-*is.ResolvedAt <= store.ReopenWindow
	}
	return can(u, a, is.HostelID)
}

// visibleHostels are the hostels whose things u sees: nil for every hostel
// (management), else u's own (perhaps none).
func visibleHostels(u *store.User) []int64 {
	if u.Role == store.Management {
		return nil
	}
	return append([]int64{}, u.HostelIDs...)
}

// canSeeNames says whether u sees who reported an issue and who wrote in
// its history; students see only "a resident".
func canSeeNames(u *store.User) bool { return u != nil && u.Role != store.Student }

// aResident is how a student sees every other student: by no name.
const aResident = "A resident"

// authorName is who wrote n as u may know them: students see no other
// student's name, anywhere, and their own as "You".
func authorName(u *store.User, n *store.Note) string {
	switch {
	case canSeeNames(u):
		return n.Author
	case n.AuthorID == u.ID:
		return "You"
	case n.AuthorRole == store.Student:
		return aResident
	}
	return n.Author
}

// history is an issue's history as u sees it.
func history(u *store.User, notes []store.Note) []views.Note {
	out := make([]views.Note, len(notes))
	for i := range notes {
		out[i] = views.Note{Note: &notes[i], By: authorName(u, &notes[i])}
	}
	return out
}

// seesManyHostels says whether u's lists span hostels, so that each issue
// names its own.
func seesManyHostels(u *store.User) bool {
	return u != nil && (u.Role == store.Management || len(u.HostelIDs) > 1)
}

// viewer is what every page shows of the signed-in user and their rights.
func viewer(u *store.User) *views.Viewer {
	if u == nil {
		return nil
	}
	return &views.Viewer{
		Name:            u.Name,
		CanSeeDashboard: can(u, viewDashboard, 0),
		CanReport:       can(u, reportIssue, u.HomeHostel()),
		CanManage:       can(u, manageAccounts, 0),
		SeesManyHostels: seesManyHostels(u),
	}
}

// issueCan is what u may do with an issue from its row.
func issueCan(u *store.User, is *store.Issue, now int64) views.IssueCan {
	c := views.IssueCan{
		MeToo:       canIssue(u, meToo, is, "", now),
		SeeReporter: canSeeNames(u),
		SeeHostel:   seesManyHostels(u),
	}
	// The row offers the workflow's next steps to those who work the issue;
	// a reporter's reopen has a form of its own on the issue's page.
	if can(u, changeStatus, is.HostelID) {
		for _, s := range store.NextStatuses(is.Status) {
			if canIssue(u, changeStatus, is, s, now) {
				c.MoveTo = append(c.MoveTo, s)
			}
		}
	}
	return c
}

// hostelsFor narrows every hostel to those u may do a in, in the order given.
func hostelsFor(u *store.User, a action, all []store.Hostel) []store.Hostel {
	return slices.DeleteFunc(slices.Clone(all), func(h store.Hostel) bool { return !can(u, a, h.ID) })
}
