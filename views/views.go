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
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

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

// fit is what a form shows again of a value typed into a field of at
// most max characters (its maxlength): the value's text, cut at max
// characters. What is not text (bytes that are not UTF-8, control
// characters but tab and line breaks, NUL among them) is left out. A
// refused megabyte is answered with a field's worth, not a megabyte.
func fit(s string, max int) string {
	n, clean := 0, true
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if n == max || notText(r, size) {
			clean = false
			break
		}
		n++
		i += size
	}
	if clean {
		return s
	}
	var b strings.Builder
	n = 0
	for i := 0; i < len(s) && n < max; {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !notText(r, size) {
			b.WriteString(s[i : i+size])
			n++
		}
		i += size
	}
	return b.String()
}

func notText(r rune, size int) bool {
	return r == utf8.RuneError && size == 1 || unicode.IsControl(r) && r != '\t' && r != '\n' && r != '\r'
}

// message is one line of an error summary: its text, and the id of the
// field it is about when the form shows that field.
type message struct{ Field, Text string }

// summary orders errs as the form shows its fields, then the rest by name.
func summary(errs Errors, fields []string) []message {
	out := make([]message, 0, len(errs))
	for _, f := range fields {
		if msg, ok := errs[f]; ok {
			out = append(out, message{Field: f, Text: msg})
		}
	}
	rest := make([]string, 0, len(errs))
	for f := range errs {
		if !slices.Contains(fields, f) {
			rest = append(rest, f)
		}
	}
	slices.Sort(rest)
	for _, f := range rest {
		out = append(out, message{Text: errs[f]})
	}
	return out
}

// fieldAttrs ties a form field to its message when it has one: the
// field is marked invalid and described by its message (after hints, the
// ids of its other descriptions).
func fieldAttrs(errs Errors, field string, hints ...string) templ.Attributes {
	_, bad := errs[field]
	a := templ.Attributes{"aria-invalid": boolAttr(bad)}
	if bad {
		hints = append(hints[:len(hints):len(hints)], field+"-error")
	}
	if len(hints) > 0 {
		a["aria-describedby"] = strings.Join(hints, " ")
	}
	return a
}

// groupAttrs ties a group of fields (a fieldset) to its message.
func groupAttrs(errs Errors, field string) templ.Attributes {
	if _, bad := errs[field]; bad {
		return templ.Attributes{"aria-describedby": field + "-error"}
	}
	return templ.Attributes{}
}

// reopenErrors is why a reporter's reopening was refused, told beside its
// note: the row that would show it has no status form for them.
func reopenErrors(d IssueDetail) Errors {
	if d.Row.Err == "" {
		return nil
	}
	return Errors{"reopen-note": d.Row.Err}
}

// reportFields are the report form's fields, as it shows them.
func reportFields(p Page) []string {
	fields := []string{"title", "category", "priority", "location", "description"}
	if len(p.Hostels) > 1 {
		fields = append([]string{"hostel_id"}, fields...)
	}
	return fields
}

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
