package handlers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"hostelhub/realtime"
	"hostelhub/store"
	"hostelhub/views"
)

// replayLimit is the most events a reconnecting stream is sent; a longer
// gap makes the page reload instead.
const replayLimit = 500

func hostelTopic(id int64) string { return "hostel:" + strconv.FormatInt(id, 10) }

// EventSource is the store's event table as the realtime follower reads it.
type EventSource struct{ Store *store.Store }

// After returns the events after afterID, in order, those of no hostel
// included: they have no topic, so they reach the follower's OnMessage
// and no stream.
func (s EventSource) After(ctx context.Context, afterID int64, limit int) ([]realtime.Message, error) {
	evs, err := s.Store.Log(ctx, afterID, limit)
	if err != nil {
		return nil, err
	}
	return messages(evs), nil
}

// Latest is the newest event's id.
func (s EventSource) Latest(ctx context.Context) (int64, error) { return s.Store.LatestEventID(ctx) }

func messages(evs []store.Event) []realtime.Message {
	ms := make([]realtime.Message, len(evs))
	for i, e := range evs {
		ms[i] = realtime.Message{ID: e.ID, Kind: string(e.Kind), Ref: e.RefID}
		if e.HostelID != 0 {
			ms[i].Topic = hostelTopic(e.HostelID)
		}
	}
	return ms
}

// Fragments renders what an event shows each audience: the same templ
// components the pages use, once per audience, with nothing a viewer of
// that role may not see.
type Fragments struct{ Store *store.Store }

// Render is a realtime.Renderer.
func (f Fragments) Render(ctx context.Context, m realtime.Message, audience string) ([]realtime.Frame, error) {
	as := store.Role(audience)
	switch store.EventKind(m.Kind) {
	case store.EventNewIssue:
		is, err := f.Store.Issue(ctx, m.Ref)
		if err != nil {
			return nil, err
		}
		return frames(ctx,
			frame{"toast", views.Toast("New issue: "+is.Title, fmt.Sprintf("/issues/%d", is.ID))},
			frame{"new_issue", views.IssueRow(views.Row{Issue: is, As: as, Multi: as == store.Management})},
		)
	case store.EventStatusUpdated, store.EventComment:
		is, err := f.Store.Issue(ctx, m.Ref)
		if err != nil {
			return nil, err
		}
		notes, err := f.Store.Notes(ctx, m.Ref)
		if err != nil || len(notes) == 0 {
			return nil, err
		}
		note := &notes[len(notes)-1]
		toast := fmt.Sprintf("%s: now %s", is.Title, strings.ToLower(is.Status.Label()))
		if note.Kind == "comment" {
			toast = "New comment on " + is.Title
		}
		return frames(ctx,
			frame{"toast", views.Toast(toast, fmt.Sprintf("/issues/%d", is.ID))},
			frame{m.Kind, templ.Join(
				views.IssueRow(views.Row{Issue: is, As: as, Multi: as == store.Management, OOB: true}),
				views.NoteAppend(note),
			)},
		)
	case store.EventMeToo:
		is, err := f.Store.Issue(ctx, m.Ref)
		if err != nil {
			return nil, err
		}
		return frames(ctx, frame{m.Kind, views.IssueRow(views.Row{Issue: is, As: as, Multi: as == store.Management, OOB: true})})
	case store.EventAnnouncement:
		a, err := f.Store.Announcement(ctx, m.Ref)
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

// hostelEvents is one hostel's live stream, for those who may see the hostel.
func (h *Handler) hostelEvents(c echo.Context) error {
	u := currentUser(c)
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return errNotFound
	}
	if !can(u, ViewHostel, id) {
		return forbidden()
	}
	if _, err := h.store.Hostel(c.Request().Context(), id); errors.Is(err, store.ErrNotFound) {
		return errNotFound
	} else if err != nil {
		return err
	}
	return h.stream(c, u, []int64{id})
}

// userEvents is the stream of every hostel the user sees: a warden's
// hostels, or (management) all of them.
func (h *Handler) userEvents(c echo.Context) error {
	u := currentUser(c)
	if u.Role == store.Management {
		return h.stream(c, u, nil)
	}
	if len(u.HostelIDs) == 0 {
		return forbidden() // nobody's stream: and never, by a nil list, everybody's
	}
	return h.stream(c, u, append([]int64{}, u.HostelIDs...))
}

// stream serves the events of hostelIDs; nil means every hostel, which
// only management may have.
func (h *Handler) stream(c echo.Context, u *store.User, hostelIDs []int64) error {
	if hostelIDs == nil && u.Role != store.Management {
		return forbidden()
	}
	if h.hub == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "Live updates are off")
	}
	last := realtime.LastEventID(c.Request(), "last_event_id")
	topics := []string{realtime.AllTopics}
	if hostelIDs != nil {
		topics = make([]string, len(hostelIDs))
		for i, id := range hostelIDs {
			topics[i] = hostelTopic(id)
		}
	}
	audience := string(u.Role)
	err := h.hub.Serve(c.Response(), c.Request(), realtime.StreamOptions{
		Topics:      topics,
		Audience:    audience,
		LastEventID: last,
		Replay: func(ctx context.Context, after int64) ([]realtime.Delivery, bool, error) {
			return h.replay(ctx, after, hostelIDs, audience)
		},
		Reload:    realtime.Frame{Event: "reload", Data: []byte("The list changed too much while you were away.")},
		Heartbeat: h.heartbeat,
		Detach:    true, // an open stream then costs its own goroutine and little else
	})
	if errors.Is(err, realtime.ErrSlow) || errors.Is(err, realtime.ErrClosed) {
		return nil // the browser reconnects and replays
	}
	return err
}

// replay renders the events after afterID for one audience; a gap longer
// than replayLimit, one that reaches back past the events still kept, or an
// id from the future (a database restored from a backup), is too old to
// replay.
func (h *Handler) replay(ctx context.Context, afterID int64, hostelIDs []int64, audience string) ([]realtime.Delivery, bool, error) {
	oldest, latest, err := h.store.EventRange(ctx)
	if err != nil {
		return nil, false, err
	}
	if afterID > latest || afterID < oldest-1 {
		return nil, true, nil
	}
	evs, err := h.store.EventsAfter(ctx, afterID, hostelIDs, replayLimit+1)
	if err != nil {
		return nil, false, err
	}
	if len(evs) > replayLimit {
		return nil, true, nil
	}
	ds := make([]realtime.Delivery, 0, len(evs))
	for _, m := range messages(evs) {
		fs, err := h.fragments.Render(ctx, m, audience)
		if err != nil {
			return nil, false, err
		}
		if len(fs) > 0 {
			ds = append(ds, realtime.Delivery{ID: m.ID, Frames: fs})
		}
	}
	return ds, false, nil
}

// streamURL is the live stream a page listens to, resuming after the
// newest event the page was rendered from.
func streamURL(hostelIDs []int64, latest int64) string {
	path := "/events"
	if len(hostelIDs) == 1 {
		path = fmt.Sprintf("/hostels/%d/events", hostelIDs[0])
	}
	return fmt.Sprintf("%s?last_event_id=%d", path, latest)
}

// liveStream is the stream URL for a page about hostelIDs (nil: every
// hostel), resuming after the newest event now. Call it before reading
// what the page shows, so that nothing committed in between is missed.
func (h *Handler) liveStream(ctx context.Context, hostelIDs []int64) (string, error) {
	if h.hub == nil || (hostelIDs != nil && len(hostelIDs) == 0) {
		return "", nil // no streams, or no hostel to stream
	}
	latest, err := h.store.LatestEventID(ctx)
	if err != nil {
		return "", err
	}
	return streamURL(hostelIDs, latest), nil
}
