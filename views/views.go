// Package views holds hostelhub's templ components: the layout, the pages,
// and the fragments (issue row, toast, dashboard) that pages, htmx swaps and
// the live streams all send. Components are pure: they render what they are
// given and do no I/O.
package views

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"time"

	"github.com/a-h/templ"

	"hostelhub/store"
)

// Page is what every full page needs besides its own content.
type Page struct {
	Title  string
	Viewer *Viewer // nil when signed out
	CSRF   string
	Flash  string
	// Hostels are those the page's hostel select offers, as the policy
	// allows the viewer; loaded only for pages with one.
	Hostels []store.Hostel
	// Stream is the page's live stream URL; empty for a page without one.
	Stream string
}

// Viewer is the signed-in person and what the policy lets them do. Pages
// show what a viewer may do from these, never from a role.
type Viewer struct {
	Name            string
	CanSeeDashboard bool
	CanReport       bool
	CanManage       bool // the Users and Hostels pages
	SeesManyHostels bool // lists name each issue's hostel
}

// IssueCan is what the viewer of an issue's row may do with it.
type IssueCan struct {
	MoveTo      []store.Status // the statuses the row's form offers; none: no form
	MeToo       bool           // offer "me too"
	SeeReporter bool           // show who reported it
	SeeHostel   bool           // name its hostel
}

// Errors maps a form field's name to what is wrong with it.
type Errors map[string]string

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func issueURL(id int64) string { return "/issues/" + itoa(id) }

func stamp(unix int64) string { return time.Unix(unix, 0).UTC().Format("2 Jan 2006, 15:04 UTC") }

func isoStamp(unix int64) string { return time.Unix(unix, 0).UTC().Format(time.RFC3339) }

// Since says how long ago something was, as a person would.
func Since(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h", int(d.Hours()))
	default:
		return fmt.Sprintf("%d days", int(d.Hours()/24))
	}
}

func duration(d time.Duration) string {
	if d == 0 {
		return "—"
	}
	if d < time.Hour {
		return fmt.Sprintf("%d min", int(d.Round(time.Minute).Minutes()))
	}
	if d < 72*time.Hour {
		return fmt.Sprintf("%.1f h", d.Hours())
	}
	return fmt.Sprintf("%.1f days", d.Hours()/24)
}

func title(s string) string {
	if s == "" {
		return s
	}
	b := []byte(s)
	if b[0] >= 'a' && b[0] <= 'z' {
		b[0] -= 'a' - 'A'
	}
	return string(b)
}

// htmxConfig keeps htmx within a strict Content-Security-Policy and lets
// 422 answers (a form with its errors) swap like successes, and 429 (a
// limit's refusal, a toast that the server retargets to #toasts) too.
const htmxConfig = `{"allowEval":false,"includeIndicatorStyles":false,"allowScriptTags":false,"historyCacheSize":0,` +
	`"responseHandling":[{"code":"204","swap":false},{"code":"[23]..","swap":true},{"code":"422","swap":true},{"code":"429","swap":true},{"code":"[45]..","swap":false,"error":true}]}`

func csrfHeaders(token string) string {
	if token == "" {
		return ""
	}
	return `{"X-CSRF-Token":"` + token + `"}`
}

// Live reports whether new issues belong at the top of this list: only an
// unfiltered (or open-only) first page takes them as they arrive.
func (f IssueFilter) Live() bool {
	return (f.Status == "" || f.Status == string(store.StatusOpen)) && f.Category == "" && f.Q == "" && f.Page <= 1
}

func filterQuery(f IssueFilter) string {
	v := url.Values{}
	if f.Status != "" {
		v.Set("status", f.Status)
	}
	if f.Category != "" {
		v.Set("category", f.Category)
	}
	if f.Q != "" {
		v.Set("q", f.Q)
	}
	if f.Hostel != 0 {
		v.Set("hostel", itoa(f.Hostel))
	}
	return v.Encode()
}

func pageURL(f IssueFilter, page int) string {
	q := filterQuery(f)
	if q != "" {
		q += "&"
	}
	return "/issues?" + q + "page=" + strconv.Itoa(page)
}

func errID(r Row) string {
	if r.Err == "" {
		return ""
	}
	return "status-error-" + itoa(r.Issue.ID)
}

func boolAttr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// rawBytes writes trusted, already-rendered HTML (a cached fragment) as it is.
func rawBytes(b []byte) templ.Component {
	return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}
