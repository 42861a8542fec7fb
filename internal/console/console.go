// Package console is intransitd's web console: pages for the gateway, its
// site-to-site tunnels (with a throughput chart over the last hour), its
// point-to-site clients, recent refusals and certificates close to expiry,
// updated live, and the operator's actions (invite a laptop, revoke or
// disconnect a client), each confirmed, protected against cross-site
// requests and written to the audit log.
//
// The console knows the daemon only through two small interfaces: a Source
// of the status report (the one `intransit status` reads) and the Actions
// it may take. It renders with html/template and a vendored htmx (no Node
// toolchain, no external resource) under a strict Content-Security-Policy.
//
// Who may use it is decided where it listens (see Options.Admin): on a
// loopback address anyone who can connect there (the machine's users);
// anywhere else only a client presenting a certificate of the gateway's
// own PKI in the admin role (intransit pki issue NAME --profile admin).
package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"time"

	"intransit/internal/status"
)

// Source reports the daemon's state.
//
// Report returns the current status report, the same one the status
// socket answers with; it is called concurrently from request handlers and
// from the throughput sampler, must not block for long, and returns a value
// the caller owns: no two calls share a slice or a pointer, so that one
// caller changing its report changes no other's. The report's
// Gateway.LastReload says how the last reload of the configuration went
// (zero before the first reload).
type Source interface {
	Report() status.Report
}

// Actions are what an operator may do from the console. Each method is
// called once per confirmed request, concurrently with the others, and
// gives up when ctx ends; an error is shown to the operator as it is (so
// it must say what went wrong in words an operator understands, and never
// carry a secret) and written to the audit log.
type Actions interface {
	// Invite creates a one-time enrollment token for a laptop called name
	// in group, valid for ttl, and the enrollment link that carries it.
	Invite(ctx context.Context, name, group string, ttl time.Duration) (Invitation, error)
	// Revoke revokes the client called name for good: its certificates
	// are revoked (a static device is removed) and its session is cut
	// within seconds; it cannot come back without a new enrollment.
	Revoke(ctx context.Context, name string) error
	// Disconnect ends the current session of the client called name and
	// nothing else: its certificate, record and address stay, and its
	// client reconnects by itself (within seconds) as it does after any
	// lost session. A name without a session is an error naming it.
	Disconnect(ctx context.Context, name string) error
}

// Invitation is a token just created.
type Invitation struct {
	// Token is the one-time token (shown once), Link the enrollment link
	// that carries it (for the QR code), for Name in Group until Expires.
	Token   string
	Link    string
	Name    string
	Group   string
	Expires time.Time
}

// Listener is one listening address of the daemon.
type Listener struct {
	// Name says what listens ("enrollment API"), Addr where.
	Name, Addr string
}

// Defaults of the options.
const (
	DefaultSampleEvery   = 10 * time.Second
	DefaultWindow        = time.Hour
	DefaultExpiryWarning = 14 * 24 * time.Hour
	// DefaultRefresh is how often a page fetches its live part again.
	DefaultRefresh = 2 * time.Second
)

// Options configure a Console.
type Options struct {
	// Source is the daemon's state; required.
	Source Source
	// Actions are the operator's actions; nil serves the pages without
	// actions (a gateway without point-to-site).
	Actions Actions
	// Groups are the point-to-site groups an invitation may name.
	Groups []string
	// Listeners are the daemon's other listeners (enrollment, metrics,
	// sockets, this console) that the status report does not hold, for
	// the gateway page.
	Listeners []Listener
	// Admin, when set, is the PKI whose admin certificates may use the
	// console: every request must come over TLS with a verified client
	// certificate whose URI identity is intransit://<Admin>/admin/<name>.
	// The listener's TLS must verify client certificates against that
	// PKI, chain and revocation, and refuse the handshake of any that
	// fails (tlspolicy.ServerConfig with CAs and Revocation does).
	// Empty means the console listens on loopback only and every request
	// is accepted from any local user.
	Admin string
	// SampleEvery is how often tunnel byte counters are sampled for the
	// throughput chart, and Window how much of it is kept.
	SampleEvery time.Duration
	Window      time.Duration
	// ExpiryWarning is how close to its expiry a certificate is listed as
	// "close to expiry".
	ExpiryWarning time.Duration
	// Refresh is how often pages update their live part.
	Refresh time.Duration
	// Logger receives the audit lines (one per action, Info) and errors.
	Logger *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Console serves the web console.
type Console struct {
	o       Options
	log     *slog.Logger
	key     []byte // CSRF token key, random per process
	tpl     map[string]*template.Template
	samples *Throughput
	// refusals bounds the refusal lines in the log.
	refusals *refusalLog
}

// New returns a console for o.
func New(o Options) (*Console, error) {
	if o.Source == nil {
		return nil, errors.New("console: no status source")
	}
	if o.SampleEvery <= 0 {
		o.SampleEvery = DefaultSampleEvery
	}
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.Window < 2*o.SampleEvery {
		return nil, fmt.Errorf("console: a window of %s holds fewer than two samples taken every %s", o.Window, o.SampleEvery)
	}
	if o.ExpiryWarning <= 0 {
		o.ExpiryWarning = DefaultExpiryWarning
	}
	if o.Refresh <= 0 {
		o.Refresh = DefaultRefresh
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("console: CSRF key: %w", err)
	}
	tpl, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	return &Console{o: o, log: log.With("component", "console"), key: key, tpl: tpl,
		samples: NewThroughput(o.SampleEvery, o.Window), refusals: newRefusalLog()}, nil
}

// Sample records the tunnels' byte counters once every SampleEvery, from
// the first call until ctx ends.
func (c *Console) Sample(ctx context.Context) {
	t := time.NewTicker(c.o.SampleEvery)
	defer t.Stop()
	for {
		c.samples.Record(c.o.Now(), c.o.Source.Report().Peers)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// csrfToken is the token the forms of operator carry: an HMAC under a key
// that lives as long as the process, so that a page of another site, which
// cannot read our pages, cannot know it.
func (c *Console) csrfToken(operator string) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte("intransit console csrf\x00" + operator))
	return fmt.Sprintf("%x", m.Sum(nil))
}

// validCSRF reports whether tok is operator's token.
func (c *Console) validCSRF(operator, tok string) bool {
	return hmac.Equal([]byte(c.csrfToken(operator)), []byte(tok))
}

// Handler returns the console's HTTP handler.
func (c *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", c.page("gateway"))
	mux.HandleFunc("GET /tunnels", c.page("tunnels"))
	mux.HandleFunc("GET /clients", c.page("clients"))
	mux.HandleFunc("GET /refusals", c.page("refusals"))
	mux.HandleFunc("GET /invite", c.page("invite"))
	mux.HandleFunc("POST /action/{action}", c.action)
	mux.Handle("GET /static/", staticHandler())
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.warn("console: cross-origin request refused", "method", r.Method, "path", r.URL.Path,
			"origin", r.Header.Get("Origin"), "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"), "remote", r.RemoteAddr)
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
	}))
	return c.guard(cop.Handler(mux))
}
