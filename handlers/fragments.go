package handlers

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/a-h/templ"

	"hostelhub/realtime"
	"hostelhub/store"
	"hostelhub/views"
)

// What a live stream shows of an event is rendered here, by the same policy
// and components as the pages, once per audience: the viewers who see the
// event alike. An audience is named by the role of its viewers, with
// "+many" for those whose lists span hostels ("warden+many").

// audienceOf is the audience u's streams belong to.
func audienceOf(u *store.User) string {
	a := string(u.Role)
	if seesManyHostels(u) && u.Role != store.Management {
		a += "+many"
	}
	return a
}

// member is a viewer who stands for audience a in hostelID: the policy
// rules for it as for everyone of the audience. It is nobody in
// particular, so it owns no issue.
func member(a string, hostelID int64) *store.User {
	role, many := strings.CutSuffix(a, "+many")
	u := &store.User{Role: store.Role(role), HostelIDs: []int64{hostelID}}
	if many {
		u.HostelIDs = append(u.HostelIDs, 0) // another hostel: lists name each issue's
	}
	return u
}

// Frames renders what audience sees of e: a realtime.Renderer.
func (h *Handler) Frames(ctx context.Context, e store.Event, audience string) ([]realtime.Frame, error) {
	switch e.Kind {
	case store.EventNewIssue:
		is, err := h.store.Issue(ctx, e.RefID)
		if err != nil {
			return nil, err
		}
		return frames(ctx,
			frame{"toast", views.Toast("New issue: "+is.Title, fmt.Sprintf("/issues/%d", is.ID))},
			frame{"new_issue", views.IssueRow(h.streamRow(audience, is))},
		)
	case store.EventStatusUpdated, store.EventComment:
		is, err := h.store.Issue(ctx, e.RefID)
		if err != nil {
			return nil, err
		}
		notes, err := h.store.Notes(ctx, e.RefID)
		if err != nil || len(notes) == 0 {
			return nil, err
		}
		note := &notes[len(notes)-1]
		toast := fmt.Sprintf("%s: now %s", is.Title, strings.ToLower(is.Status.Label()))
		if note.Kind == "comment" {
			toast = "New comment on " + is.Title
		}
		row := h.streamRow(audience, is)
		row.OOB = true
		return frames(ctx,
			frame{"toast", views.Toast(toast, fmt.Sprintf("/issues/%d", is.ID))},
			frame{string(e.Kind), templ.Join(views.IssueRow(row), views.NoteAppend(views.Note{Note: note, By: authorName(member(audience, is.HostelID), note)}))},
		)
	case store.EventMeToo:
		is, err := h.store.Issue(ctx, e.RefID)
		if err != nil {
			return nil, err
		}
		row := h.streamRow(audience, is)
		row.OOB = true
		return frames(ctx, frame{string(e.Kind), views.IssueRow(row)})
	case store.EventAnnouncement:
		a, err := h.store.Announcement(ctx, e.RefID)
		if err != nil {
			return nil, err
		}
		return frames(ctx,
			frame{"toast", views.Toast("Announcement: "+a.Title, "/announcements")},
			frame{"announcement", views.AnnouncementItem(a)},
		)
	}
	return nil, nil
}

// streamRow is an issue's row as audience sees it.
func (h *Handler) streamRow(audience string, is *store.Issue) views.Row {
	return views.Row{Issue: is, Can: issueCan(member(audience, is.HostelID), is, h.now())}
}

type frame struct {
	event string
	comp  templ.Component
}

func frames(ctx context.Context, fs ...frame) ([]realtime.Frame, error) {
	out := make([]realtime.Frame, len(fs))
	for i, f := range fs {
		var buf bytes.Buffer
		if err := f.comp.Render(ctx, &buf); err != nil {
			return nil, err
		}
		out[i] = realtime.Frame{Event: f.event, Data: buf.Bytes()}
	}
	return out, nil
}
