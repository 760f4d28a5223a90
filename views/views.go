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
	Title   string
	User    *store.User // nil when signed out
	CSRF    string
	Flash   string
	Hostels []store.Hostel // every hostel, for pages with a hostel select; loaded only for those
	// Stream is the page's live stream URL; empty for a page without one.
	Stream string
}

// MultiHostel reports whether the signed-in user sees more than one hostel,
// so that lists name each issue's hostel.
func (p Page) MultiHostel() bool {
	return p.User != nil && (p.User.Role == store.Management || len(p.User.HostelIDs) > 1)
}

// UserHostels lists the hostels the signed-in user belongs to.
func (p Page) UserHostels() []store.Hostel {
	if p.User == nil {
		return nil
	}
	var hs []store.Hostel
	for _, h := range p.Hostels {
		if p.User.InHostel(h.ID) {
			hs = append(hs, h)
		}
	}
	return hs
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

func isStaff(r store.Role) bool { return r == store.Warden || r == store.Management }

// htmxConfig keeps htmx within a strict Content-Security-Policy and lets
// 422 answers (a form with its errors) swap like successes.
const htmxConfig = `{"allowEval":false,"includeIndicatorStyles":false,"allowScriptTags":false,"historyCacheSize":0,` +
	`"responseHandling":[{"code":"204","swap":false},{"code":"[23]..","swap":true},{"code":"422","swap":true},{"code":"[45]..","swap":false,"error":true}]}`

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
