// Package static embeds hostelhub's stylesheet, script, icon and the
// vendored htmx files, so the binary serves them itself.
package static

import "embed"

// FS holds every static file, served under /static/.
//
//go:embed app.css app.js icon.svg vendor
var FS embed.FS
