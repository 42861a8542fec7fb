package console

import (
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

// static holds htmx (vendored from the htmx.org npm package, version and
// licence in static/htmx.LICENSE), the style sheet and the icon.
//
//go:embed static/htmx.min.js static/console.css static/favicon.svg static/htmx.LICENSE
var staticFS embed.FS

// templatePages are the pages, each parsed with layout.html.
var templatePages = []string{"gateway", "tunnels", "clients", "refusals", "invite", "confirm", "action"}

// parseTemplates parses every page with the layout.
func parseTemplates() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"bytes": fmtBytes,
		"ago":   ago,
		"until": until,
		"date":  func(t time.Time) string { return dateOr(t, "-") },
		"join":  strings.Join,
		"nav":   func() any { return pages },
		"secs":  func(d time.Duration) string { return fmt.Sprintf("%ds", int(d.Seconds())) },
		"days":  func(d time.Duration) string { return fmt.Sprintf("%d days", int(d.Hours()/24)) },
		"human": fmtWindow,
	}
	out := map[string]*template.Template{}
	for _, p := range templatePages {
		t, err := template.New(p).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+p+".html")
		if err != nil {
			return nil, fmt.Errorf("console templates: %w", err)
		}
		out[p] = t
	}
	return out, nil
}

// staticHandler serves the embedded files under /static/.
func staticHandler() http.Handler {
	// /static/NAME is static/NAME in staticFS.
	files := http.FileServerFS(staticFS)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The files change only with the binary.
		w.Header().Set("Cache-Control", "max-age=3600")
		files.ServeHTTP(w, r)
	})
}

// fmtBytes renders a byte count with a binary prefix.
func fmtBytes(n uint64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	v, i := float64(n), 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}

// ago renders how long before now t was ("never" for zero).
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return roundDur(now.Sub(t)) + " ago"
}

// until renders how long after now t is.
func until(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := t.Sub(now)
	if d < 0 {
		return "expired " + roundDur(-d) + " ago"
	}
	return "in " + roundDur(d)
}

// roundDur renders a duration coarsely: seconds, minutes, hours or days.
func roundDur(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func dateOr(t time.Time, none string) string {
	if t.IsZero() {
		return none
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}
