package handlers

import (
	"fmt"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"hostelhub/store"
	"hostelhub/views"
)

// validator collects what is wrong with a form, field by field.
type validator struct{ errs views.Errors }

// check records msg against field unless ok; the first problem of a field wins.
func (v *validator) check(ok bool, field, msg string) {
	if ok {
		return
	}
	if v.errs == nil {
		v.errs = views.Errors{}
	}
	if _, seen := v.errs[field]; !seen {
		v.errs[field] = msg
	}
}

func (v *validator) valid() bool { return len(v.errs) == 0 }

// text checks a free-text field: that it is text, that a reader can see
// it, and its length. Callers trim it first (strings.TrimSpace: every
// Unicode space, the no-break and ideographic ones included). Precisely:
//
//   - Text is valid UTF-8 with no control character (Unicode Cc) but tab,
//     line feed and carriage return.
//   - No bidirectional override or isolate control (U+202A–U+202E,
//     U+2066–U+2069): they reorder what a reader sees, so that
//     "abc\u202Egnp.exe" reads "abcexe.png". The marks that only hint at a
//     direction (LRM, RLM, ALM) are text, as Arabic and Hebrew need them.
//   - A visible character is a letter, mark, number, punctuation or symbol
//     (Unicode L, M, N, P, S) that draws something: not a space (Z), a
//     format character (Cf: U+200B, ZWNJ, ZWJ, U+2060, U+FEFF…), a private
//     or unassigned code point, nor one of the few graphic runes that draw
//     nothing (blank). Invisible characters are kept inside visible text
//     (a ZWJ emoji sequence needs its joiners), but do not make text: a
//     required field with no visible character is "required", and an
//     optional one that holds only invisible characters is refused.
//   - Its length is at least min visible characters and at most max
//     characters of any kind.
func (v *validator) text(field, value, name string, min, max int) {
	n, seen, bad, bidi := 0, 0, !utf8.ValidString(value), rune(0)
	for _, r := range value {
		n++
		switch {
		case unicode.IsControl(r) && r != '\t' && r != '\n' && r != '\r':
			bad = true
		case bidiControl(r):
			if bidi == 0 {
				bidi = r
			}
		case visible(r):
			seen++
		}
	}
	v.check(!bad, field, name+" has characters that are not text.")
	v.check(bidi == 0, field, fmt.Sprintf("%s has a bidirectional control character (U+%04X): remove it.", name, bidi))
	switch {
	case min > 0 && seen == 0:
		v.check(false, field, name+" is required.")
	case n > 0 && seen == 0:
		v.check(false, field, name+" has no visible character: type some text or leave it empty.")
	case seen < min:
		v.check(false, field, fmt.Sprintf("%s must be at least %d characters.", name, min))
	case n > max:
		v.check(false, field, fmt.Sprintf("%s must be at most %d characters (it has %d).", name, max, n))
	}
}

// bidiControl reports the embedding, override and isolate controls.
func bidiControl(r rune) bool {
	return '\u202A' <= r && r <= '\u202E' || '\u2066' <= r && r <= '\u2069'
}

// visible reports a rune that draws something (see text).
func visible(r rune) bool {
	return unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S) && !unicode.Is(blank, r)
}

func invisible(r rune) bool { return !visible(r) }

// blank are graphic runes that draw nothing: Hangul fillers, the braille
// blank, the combining grapheme joiner, Khmer's invisible vowels and the
// variation selectors.
var blank = &unicode.RangeTable{
	R16: []unicode.Range16{
		{Lo: 0x034F, Hi: 0x034F, Stride: 1},
		{Lo: 0x115F, Hi: 0x1160, Stride: 1},
		{Lo: 0x17B4, Hi: 0x17B5, Stride: 1},
		{Lo: 0x180B, Hi: 0x180D, Stride: 1},
		{Lo: 0x180F, Hi: 0x180F, Stride: 1},
		{Lo: 0x2800, Hi: 0x2800, Stride: 1},
		{Lo: 0x3164, Hi: 0x3164, Stride: 1},
		{Lo: 0xFE00, Hi: 0xFE0F, Stride: 1},
		{Lo: 0xFFA0, Hi: 0xFFA0, Stride: 1},
	},
	R32: []unicode.Range32{
		{Lo: 0xE0100, Hi: 0xE01EF, Stride: 1},
	},
}

// issueInput is a report, from the form or from JSON.
type issueInput struct {
	Title       string `json:"title"`
	Description string `json:"description"`
	Category    string `json:"category"`
	Priority    string `json:"priority"`
	Location    string `json:"location"`
	HostelID    int64  `json:"hostel_id"`
}

func (in *issueInput) normalise() {
	in.Title = strings.TrimSpace(in.Title)
	in.Description = strings.TrimSpace(in.Description)
	in.Category = strings.TrimSpace(in.Category)
	in.Priority = strings.TrimSpace(in.Priority)
	in.Location = strings.TrimSpace(in.Location)
	if in.Priority == "" {
		in.Priority = store.Normal.String()
	}
}

func (in *issueInput) validate() views.Errors {
	var v validator
	v.text("title", in.Title, "The title", 3, 120)
	v.text("description", in.Description, "The description", 0, 4000)
	v.check(store.ValidCategory(in.Category), "category", "Choose a category from the list.")
	_, ok := store.ParsePriority(in.Priority)
	v.check(ok, "priority", "Choose a priority: low, normal, high or urgent.")
	v.text("location", in.Location, "The location", 0, 60)
	return v.errs
}

func (in *issueInput) form() views.NewIssueForm {
	return views.NewIssueForm{Title: in.Title, Description: in.Description, Category: in.Category,
		Priority: in.Priority, Location: in.Location, HostelID: in.HostelID}
}

// statusInput is a status change, from the form or from JSON.
type statusInput struct {
	Status string `json:"status"`
	Note   string `json:"note"`
}

func (in *statusInput) validate() views.Errors {
	in.Status, in.Note = strings.TrimSpace(in.Status), strings.TrimSpace(in.Note)
	var v validator
	v.check(store.Status(in.Status).Valid(), "status", "Choose a status: open, in_progress, resolved, closed or rejected.")
	v.text("note", in.Note, "The note", 0, 1000)
	v.check(in.Status != string(store.StatusRejected) || in.Note != "", "note", "Say why in the note: a rejection needs one.")
	return v.errs
}

// announcementInput is a new announcement.
type announcementInput struct {
	Title    string
	Body     string
	HostelID string // empty: every hostel
}

func (in *announcementInput) validate() views.Errors {
	in.Title, in.Body = strings.TrimSpace(in.Title), strings.TrimSpace(in.Body)
	var v validator
	v.text("title", in.Title, "The title", 3, 120)
	v.text("body", in.Body, "The message", 1, 4000)
	if in.HostelID != "" {
		_, ok := parseID(in.HostelID)
		v.check(ok, "hostel_id", "Choose a hostel from the list.")
	}
	return v.errs
}

// userInput is a new account from the users page.
type userInput struct {
	Email     string
	Name      string
	Role      string
	Room      string
	Password  string
	HostelIDs []int64
}

func (in *userInput) validate(hostels []store.Hostel) views.Errors {
	in.Email, in.Name, in.Room = strings.TrimSpace(in.Email), strings.TrimSpace(in.Name), strings.TrimSpace(in.Room)
	var v validator
	v.text("name", in.Name, "The name", 1, 80)
	addr, err := mail.ParseAddress(in.Email)
	// Every character of an address is seen: one with an invisible or a
	// bidirectional control character in it reads as another account's.
	v.check(err == nil && addr.Address == in.Email && len(in.Email) <= 254 && !strings.ContainsFunc(in.Email, invisible),
		"email", "Enter an email address like name@example.org.")
	v.check(slices.Contains(newAccountRoles, store.Role(in.Role)), "role", "Choose student or warden.")
	v.text("room", in.Room, "The room", 0, 20)
	v.check(len(in.Password) >= 8, "password", "The password must be at least 8 characters.")
	v.check(len(in.Password) <= 72, "password", "The password must be at most 72 bytes.")
	v.hostels(in.Role, in.HostelIDs, hostels)
	return v.errs
}

// hostels checks an account's hostels: a student has exactly one, a warden one or more.
func (v *validator) hostels(role string, ids []int64, hostels []store.Hostel) {
	for _, id := range ids {
		known := false
		for _, h := range hostels {
			known = known || h.ID == id
		}
		v.check(known, "hostel_id", "Choose hostels from the list.")
	}
	switch store.Role(role) {
	case store.Student:
		v.check(len(ids) == 1, "hostel_id", "A student belongs to exactly one hostel.")
	case store.Warden:
		v.check(len(ids) >= 1, "hostel_id", "A warden looks after at least one hostel.")
	}
}

// parseID reads an id a client sent, in a path, a query or a form: digits
// only, and not zero. strconv would read "+340" as 340; here it is no id,
// as "abc", " 340" and "0x154" are not.
func parseID(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	id, err := strconv.ParseInt(s, 10, 64)
	return id, err == nil && id > 0
}

// ids parses repeated id form values; a value that is not an id is an error.
func ids(values []string) ([]int64, bool) {
	out := make([]int64, 0, len(values))
	for _, s := range values {
		id, ok := parseID(s)
		if !ok {
			return nil, false
		}
		out = append(out, id)
	}
	return out, true
}

func trimmed(s string) string { return strings.TrimSpace(s) }
