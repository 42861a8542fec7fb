package console

import (
	"bytes"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"intransit/internal/status"
)

// view is what a template renders.
type view struct {
	Page, Title string
	// Live is the URL the live part is fetched from, every RefreshSecs.
	Live        string
	RefreshSecs int
	Operator    string
	CSRF        string
	Now         time.Time
	Rep         status.Report
	Actions     bool
	Groups      []string
	Listeners   []Listener
	Query       string
	Window      time.Duration
	Warn        time.Duration

	Tunnels  []tunnelRow
	Clients  []status.P2SClient
	Refusals []refusalRow
	Expiring []expiry

	// Action pages.
	Action     string
	Target     string
	Group      string
	TTL        string
	TTLs       []string
	Err        string
	Invitation *Invitation
	QR         template.HTML
}

// tunnelRow is a site-to-site tunnel with its last refusal and chart.
type tunnelRow struct {
	status.Peer
	LastRefusal *status.Refusal
	Chart       template.HTML
}

// refusalRow is a refusal with the part of the gateway that refused it.
type refusalRow struct {
	status.Refusal
	Where string
}

// expiry is a certificate close to its expiry.
type expiry struct {
	What, Identity string
	NotAfter       time.Time
}

// pages are the pages of the navigation, in order.
var pages = []struct{ Name, Path, Title string }{
	{"gateway", "/", "Gateway"},
	{"tunnels", "/tunnels", "Tunnels"},
	{"clients", "/clients", "Clients"},
	{"refusals", "/refusals", "Refusals"},
	{"invite", "/invite", "Invite"},
}

// inviteTTLs are the validities an invitation may have.
var inviteTTLs = []string{"1h", "24h", "168h"}

// base returns the view every page starts from.
func (c *Console) base(r *http.Request, page string) *view {
	now := c.o.Now()
	op := operator(r)
	v := &view{Page: page, RefreshSecs: max(1, int(c.o.Refresh/time.Second)), Operator: op, CSRF: c.csrfToken(op), Now: now,
		Rep: c.o.Source.Report(), Actions: c.o.Actions != nil, Groups: c.o.Groups, Listeners: c.o.Listeners,
		Window: c.o.Window, Warn: c.o.ExpiryWarning, TTLs: inviteTTLs, TTL: "24h"}
	for _, p := range pages {
		if p.Name == page {
			v.Title = p.Title
			v.Live = p.Path
		}
	}
	return v
}

// page serves one page; an htmx request (HX-Request) gets its live part
// only.
func (c *Console) page(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v := c.base(r, name)
		switch name {
		case "gateway":
			v.Expiring = expiring(v.Rep, v.Now, c.o.ExpiryWarning)
		case "tunnels":
			v.Tunnels = c.tunnels(v.Rep, v.Now)
		case "clients":
			v.Query = strings.TrimSpace(r.URL.Query().Get("q"))
			v.Clients = searchClients(v.Rep.P2S, v.Query)
			if v.Query != "" {
				v.Live += "?" + url.Values{"q": {v.Query}}.Encode()
			}
		case "refusals":
			v.Refusals = refusals(v.Rep)
		case "invite":
			if len(v.Groups) > 0 {
				v.Group = v.Groups[0]
			}
		}
		block := "layout"
		if r.Header.Get("HX-Request") == "true" {
			block = "live"
		}
		c.render(w, http.StatusOK, name, block, v)
	}
}

// render executes a template into a buffer first, so that a failure is a
// clean 500 and not half a page.
func (c *Console) render(w http.ResponseWriter, code int, page, block string, v *view) {
	var buf bytes.Buffer
	if err := c.tpl[page].ExecuteTemplate(&buf, block, v); err != nil {
		c.log.Error("console: rendering failed", "page", page, "error", err.Error())
		http.Error(w, "rendering failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// tunnels builds the tunnel rows.
func (c *Console) tunnels(rep status.Report, now time.Time) []tunnelRow {
	rows := make([]tunnelRow, 0, len(rep.Peers))
	for _, p := range rep.Peers {
		row := tunnelRow{Peer: p, Chart: chartSVG(p.Name, c.samples.Rates(p.Name, now), now, c.o.Window)}
		for i := len(rep.Refusals) - 1; i >= 0; i-- {
			if rep.Refusals[i].Identity == p.Identity {
				row.LastRefusal = &rep.Refusals[i]
				break
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// searchClients returns the clients and static devices whose name,
// identity, group, addresses, transport or endpoint contain q (any case).
func searchClients(p *status.P2S, q string) []status.P2SClient {
	if p == nil {
		return nil
	}
	all := append(slices.Clone(p.Clients), p.Statics...)
	if q == "" {
		return all
	}
	q = strings.ToLower(q)
	var out []status.P2SClient
	for _, cl := range all {
		hay := strings.ToLower(strings.Join(append([]string{cl.Name, cl.Identity, cl.Group, cl.Transport, cl.Endpoint}, cl.Addresses...), " "))
		if strings.Contains(hay, q) {
			out = append(out, cl)
		}
	}
	return out
}

// refusals merges the site-to-site and point-to-site refusals, newest
// first.
func refusals(rep status.Report) []refusalRow {
	var out []refusalRow
	for _, r := range rep.Refusals {
		out = append(out, refusalRow{Refusal: r, Where: "site-to-site"})
	}
	if rep.P2S != nil {
		for _, r := range rep.P2S.Refusals {
			out = append(out, refusalRow{Refusal: r, Where: "point-to-site"})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.After(out[j].Time) })
	return out
}

// expiring lists the certificates that expire within warn of now, soonest
// first: the gateway's, its remotes' and its clients'.
func expiring(rep status.Report, now time.Time, warn time.Duration) []expiry {
	var out []expiry
	add := func(what, id string, t time.Time) {
		if !t.IsZero() && t.Sub(now) < warn {
			out = append(out, expiry{What: what, Identity: id, NotAfter: t})
		}
	}
	add("this gateway", rep.Gateway.Identity, rep.Gateway.CertExpiry)
	for _, p := range rep.Peers {
		add("remote "+p.Name, p.Identity, p.CertExpiry)
	}
	if rep.P2S != nil {
		for _, cl := range rep.P2S.Clients {
			add("client "+cl.Name, cl.Identity, cl.CertExpiry)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].NotAfter.Before(out[j].NotAfter) })
	return out
}
