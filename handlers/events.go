package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"

	"hostelhub/realtime"
	"hostelhub/store"
)

// replayLimit is the most events a reconnecting stream is sent; a longer
// gap makes the page reload instead.
const replayLimit = 500

// hostelEvents is one hostel's live stream, for those who may see the hostel.
func (h *Handler) hostelEvents(c echo.Context) error {
	u := currentUser(c)
	id, ok := parseID(c.Param("id"))
	if !ok {
		return errNotFound
	}
	if !can(u, viewHostel, id) {
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
	hostels := visibleHostels(u)
	if hostels != nil && len(hostels) == 0 {
		return forbidden() // nobody's stream: and never, by an empty list, everybody's
	}
	return h.stream(c, u, hostels)
}

// stream serves the events of hostelIDs (nil: every hostel), which the
// caller has checked u may see.
func (h *Handler) stream(c echo.Context, u *store.User, hostelIDs []int64) error {
	if isHEAD(c) {
		return streamHead(c) // checked as GET is, then answered without holding the connection
	}
	last := realtime.LastEventID(c.Request(), "last_event_id")
	audience := audienceOf(u)
	// The stream belongs to the session and the account it was opened
	// with: their change or end ends it (the page reloads, and the server
	// says what it may show now).
	token, _ := c.Get(sessionTokenKey).(string)
	sess, found, err := h.sessionStore.Session(c.Request().Context(), token)
	if err != nil {
		return errSessionStore
	}
	if !found {
		return echo.NewHTTPError(http.StatusUnauthorized, "Sign in first.")
	}
	release, err := h.acquireStream(c, u) // a user's open streams, across instances
	if err != nil {
		return err
	}
	err = h.hub.Serve(c.Response(), c.Request(), realtime.StreamOptions{
		Done:        release,
		HostelIDs:   hostelIDs,
		Audience:    audience,
		UserID:      u.ID,
		Session:     sess.Ref,
		Expires:     sess.Expires,
		Check:       func(ctx context.Context) bool { return h.stillAllowed(ctx, token, u) },
		Revoked:     realtime.Frame{Event: "reload", Data: []byte("Your sign-in changed.")},
		LastEventID: last,
		Replay: func(ctx context.Context, after, upTo int64) ([]realtime.Delivery, bool, error) {
			return h.replay(ctx, after, upTo, hostelIDs, audience)
		},
		Reload:    realtime.Frame{Event: "reload", Data: []byte("The list changed too much while you were away.")},
		Heartbeat: h.heartbeat,
		Detach:    true, // an open stream then costs its own goroutine and little else
	})
	if errors.Is(err, realtime.ErrSlow) || errors.Is(err, realtime.ErrClosed) || errors.Is(err, realtime.ErrRevoked) {
		return nil // the browser reconnects and replays, or reloads
	}
	return err
}

// stillAllowed says whether the session of token still belongs to u, and u
// is still as it was when the stream was authorised: the memory a change
// forgets is read, so a change heard before the stream subscribed shows here.
func (h *Handler) stillAllowed(ctx context.Context, token string, u *store.User) bool {
	sess, found, err := h.sessionStore.Session(ctx, token)
	if err != nil || !found {
		return false
	}
	if id, _ := sess.Values[sessionUserKey].(int64); id != u.ID {
		return false
	}
	now, err := h.store.User(ctx, u.ID)
	return err == nil && !now.Disabled && now.Role == u.Role && slices.Equal(now.HostelIDs, u.HostelIDs)
}

// replay renders the events after afterID for one audience; a gap longer
// than replayLimit, one that reaches back past the events still kept, or an
// id from the future (a database restored from a backup), is too old to
// replay.
func (h *Handler) replay(ctx context.Context, afterID, upTo int64, hostelIDs []int64, audience string) ([]realtime.Delivery, bool, error) {
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
	for _, e := range evs {
		if e.ID > upTo {
			break // live
		}
		fs, err := h.Frames(ctx, e, audience)
		if err != nil {
			return nil, false, err
		}
		if len(fs) > 0 {
			ds = append(ds, realtime.Delivery{ID: e.ID, Frames: fs})
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
	if hostelIDs != nil && len(hostelIDs) == 0 {
		return "", nil // no hostel to stream
	}
	latest, err := h.store.LatestEventID(ctx)
	if err != nil {
		return "", err
	}
	return streamURL(hostelIDs, latest), nil
}
