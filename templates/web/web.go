// Package web holds the dashboard's page templates (*.html.tmpl) and its
// static files (static/), embedded in the binary so the dashboard works
// with no network and no files beside it. Package cmd/phieu/web renders
// them.
package web

import "embed"

// FS holds the page templates at its root and the static files under
// static/.
//
//go:embed *.html.tmpl static
var FS embed.FS
