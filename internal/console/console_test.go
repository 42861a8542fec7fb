package console

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"intransit/internal/status"
)

var t0 = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

// report is a fixed status report: one tunnel up, one refused, two
// laptops and a static device.
type report struct{ rep status.Report }

func (r *report) Report() status.Report { return r.rep }

func newReport() *report {
	return &report{rep: status.Report{
		Time: t0,
		Gateway: status.Gateway{Identity: "intransit://demo/gateway/gw-b", CertExpiry: t0.Add(5 * 24 * time.Hour),
			Interface: "it0", MTU: 1420, Transports: []string{"udp/51820", "quic/443"}, Control: "[::]:8443",
			SitePrefixes: []string{"10.2.0.0/24"}, ConfigPath: "/etc/intransit/intransitd.yaml", ConfigLoaded: t0.Add(-time.Hour),
			LastReload: status.Reload{At: t0.Add(-time.Minute), Refused: "listen.control: this change needs a restart"}},
		Peers: []status.Peer{
			{Name: "site-a", Identity: "intransit://demo/gateway/gw-a", State: status.StateUp, Transport: "udp", Endpoint: "192.0.2.1:51820",
				Routes: []string{"10.1.0.0/24"}, LastHandshake: t0.Add(-30 * time.Second), RxBytes: 123456, TxBytes: 654321,
				PSKEpoch: 7, PSKInstalled: t0.Add(-90 * time.Second), CertExpiry: t0.Add(60 * 24 * time.Hour)},
			{Name: "site-c", Identity: "intransit://demo/gateway/gw-c", State: status.StateRefused, Reason: "revoked", Detail: "certificate revoked"},
		},
		Refusals: []status.Refusal{{Time: t0.Add(-2 * time.Minute), Remote: "203.0.113.9:40000", Identity: "intransit://demo/gateway/gw-c",
			Reason: "revoked", Detail: "certificate 1f revoked"}},
		P2S: &status.P2S{Interface: "itp0", Control: "[::]:8444", Transports: []string{"udp/51821"}, Pools: []string{"10.9.0.0/24"}, PoolSize: 253, Leases: 3,
			Clients: []status.P2SClient{
				{Name: "alice-laptop", Identity: "intransit://demo/client/alice-laptop", Group: "staff", Addresses: []string{"10.9.0.2"},
					Transport: "quic", Endpoint: "198.51.101.2:5000", LastHandshake: t0.Add(-5 * time.Second), RxBytes: 2048, TxBytes: 4096, CertExpiry: t0.Add(6 * 24 * time.Hour)},
				{Name: "bob-laptop", Identity: "intransit://demo/client/bob-laptop", Group: "ops", Addresses: []string{"10.9.0.3"}, Transport: "udp"},
			},
			Statics:  []status.P2SClient{{Name: "printer", Group: "staff", Addresses: []string{"10.9.0.4"}, Static: true}},
			Refusals: []status.Refusal{{Time: t0.Add(-time.Minute), Remote: "198.51.101.7:1234", Reason: "token_used", Detail: "the token was used"}},
		},
	}}
}

// recorder is an Actions that records its calls.
type recorder struct {
	mu    sync.Mutex
	calls []string
	err   error
}

func (a *recorder) Invite(_ context.Context, name, group string, ttl time.Duration) (Invitation, error) {
	a.record("invite " + name + " " + group + " " + ttl.String())
	return Invitation{Token: "itp1.id.secret.pin", Link: "https://gw.example:8445/#itp1.id.secret.pin", Name: name, Group: group, Expires: t0.Add(ttl)}, a.err
}
func (a *recorder) Revoke(_ context.Context, name string) error {
	a.record("revoke " + name)
	return a.err
}
func (a *recorder) Disconnect(_ context.Context, name string) error {
	a.record("disconnect " + name)
	return a.err
}
func (a *recorder) record(s string) { a.mu.Lock(); a.calls = append(a.calls, s); a.mu.Unlock() }
func (a *recorder) Calls() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.calls...)
}

func newConsole(t *testing.T, admin string) (*Console, *recorder, *bytes.Buffer) {
	t.Helper()
	acts := &recorder{}
	var logs bytes.Buffer
	c, err := New(Options{Source: newReport(), Actions: acts, Groups: []string{"staff", "ops"}, Admin: admin,
		Listeners: []Listener{{Name: "enrollment API", Addr: "198.51.100.2:8445"}, {Name: "console", Addr: "127.0.0.1:9090"}},
		Logger:    slog.New(slog.NewTextHandler(&logs, nil)), Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	return c, acts, &logs
}

// get performs a GET on the loopback console.
func get(t *testing.T, h http.Handler, path string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:9090"+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// post submits a form the way a same-origin browser page does, unless hdr
// overrides the headers.
func post(t *testing.T, h http.Handler, path string, form url.Values, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:9090"+path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Origin", "http://127.0.0.1:9090")
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			r.Header.Del(hdr[i])
		} else {
			r.Header.Set(hdr[i], hdr[i+1])
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestPagesRenderWithStrictCSP(t *testing.T) {
	c, _, _ := newConsole(t, "")
	h := c.Handler()
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/", []string{"intransit://demo/gateway/gw-b", "refused</span>", "this change needs a restart", "this gateway", "client alice-laptop",
			"enrollment API <span class=\"mono\">198.51.100.2:8445</span>; console"}},
		{"/tunnels", []string{`id="tunnel-site-a"`, `data-bytes="123456"`, "epoch 7", "10.1.0.0/24", "certificate 1f revoked", `<svg class="chart"`}},
		{"/clients", []string{`id="client-alice-laptop"`, `id="client-bob-laptop"`, `id="client-printer"`, `id="revoke-alice-laptop"`, "3 shown"}},
		{"/refusals", []string{"token_used", "point-to-site", "site-to-site", "certificate 1f revoked"}},
		{"/invite", []string{`name="csrf"`, "<option selected>staff</option>", "<option>ops</option>"}},
	} {
		w := get(t, h, tc.path)
		if w.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", tc.path, w.Code, w.Body)
		}
		if got := w.Header().Get("Content-Security-Policy"); got != ContentSecurityPolicy {
			t.Errorf("GET %s: CSP %q", tc.path, got)
		}
		for _, k := range []string{"X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy"} {
			if w.Header().Get(k) == "" {
				t.Errorf("GET %s: no %s", tc.path, k)
			}
		}
		body := w.Body.String()
		for _, s := range tc.want {
			if !strings.Contains(body, s) {
				t.Errorf("GET %s: body lacks %q", tc.path, s)
			}
		}
		// The strict CSP allows no inline script, style or event handler,
		// and nothing from elsewhere.
		for _, bad := range []*regexp.Regexp{regexp.MustCompile(`<script>`), regexp.MustCompile(`<style`), regexp.MustCompile(`\sstyle=`),
			regexp.MustCompile(`\son[a-z]+=`), regexp.MustCompile(`(src|href)="(https?:)?//`)} {
			if m := bad.FindString(body); m != "" {
				t.Errorf("GET %s: %q breaks the CSP", tc.path, m)
			}
		}
	}
}

func TestLivePartForHtmx(t *testing.T) {
	c, _, _ := newConsole(t, "")
	w := get(t, c.Handler(), "/tunnels", "HX-Request", "true")
	body := w.Body.String()
	if !strings.HasPrefix(body, `<div id="live" hx-get="/tunnels" hx-trigger="every 2s"`) || strings.Contains(body, "<html") {
		t.Fatalf("htmx request got %q", body)
	}
}

func TestClientSearch(t *testing.T) {
	c, _, _ := newConsole(t, "")
	for q, want := range map[string][]string{"ops": {"bob-laptop"}, "10.9.0.4": {"printer"}, "LAPTOP": {"alice-laptop", "bob-laptop"}, "nobody": nil} {
		body := get(t, c.Handler(), "/clients?q="+url.QueryEscape(q)).Body.String()
		for _, name := range []string{"alice-laptop", "bob-laptop", "printer"} {
			has := strings.Contains(body, `id="client-`+name+`"`)
			wanted := strings.Contains(strings.Join(want, " "), name)
			if has != wanted {
				t.Errorf("search %q: %s shown %v, want %v", q, name, has, wanted)
			}
		}
		if !strings.Contains(body, `hx-get="/clients?q=`+url.QueryEscape(q)+`"`) {
			t.Errorf("search %q: the live part does not keep the query", q)
		}
	}
}

func TestStaticFiles(t *testing.T) {
	c, _, _ := newConsole(t, "")
	for path, ctype := range map[string]string{"/static/htmx.min.js": "text/javascript", "/static/console.css": "text/css"} {
		w := get(t, c.Handler(), path)
		if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), ctype) || w.Body.Len() < 1000 {
			t.Errorf("GET %s: %d %q %d bytes", path, w.Code, w.Header().Get("Content-Type"), w.Body.Len())
		}
	}
}

func TestActionsNeedTokenSameOriginAndConfirmation(t *testing.T) {
	c, acts, logs := newConsole(t, "")
	h := c.Handler()
	tok := c.csrfToken("local")
	form := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	for _, tc := range []struct {
		name string
		form url.Values
		hdr  []string
		code int
	}{
		{"no token", form("name", "alice-laptop", "confirm", "yes"), nil, http.StatusForbidden},
		{"wrong token", form("csrf", strings.Repeat("0", 64), "name", "alice-laptop", "confirm", "yes"), nil, http.StatusForbidden},
		{"cross-site fetch", form("csrf", tok, "name", "alice-laptop", "confirm", "yes"), []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}, http.StatusForbidden},
		{"foreign origin, no fetch metadata", form("csrf", tok, "name", "alice-laptop", "confirm", "yes"), []string{"Sec-Fetch-Site", "", "Origin", "https://evil.example"}, http.StatusForbidden},
		{"bad name", form("csrf", tok, "name", "../x", "confirm", "yes"), nil, http.StatusBadRequest},
	} {
		w := post(t, h, "/action/revoke", tc.form, tc.hdr...)
		if w.Code != tc.code {
			t.Errorf("%s: %d %s, want %d", tc.name, w.Code, w.Body, tc.code)
		}
	}
	if calls := acts.Calls(); len(calls) != 0 {
		t.Fatalf("refused requests acted: %v", calls)
	}
	// Unconfirmed: the confirmation page, no action.
	w := post(t, h, "/action/revoke", form("csrf", tok, "name", "alice-laptop"))
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `name="confirm" value="yes"`) || !strings.Contains(w.Body.String(), "Revoke <b>alice-laptop</b>?") {
		t.Fatalf("confirmation page: %d %s", w.Code, w.Body)
	}
	if calls := acts.Calls(); len(calls) != 0 {
		t.Fatalf("an unconfirmed request acted: %v", calls)
	}
	for _, tc := range []struct {
		path string
		form url.Values
		want string
	}{
		{"/action/revoke", form("csrf", tok, "name", "alice-laptop", "confirm", "yes"), "revoke alice-laptop"},
		{"/action/disconnect", form("csrf", tok, "name", "bob-laptop", "confirm", "yes"), "disconnect bob-laptop"},
		{"/action/invite", form("csrf", tok, "name", "carol-laptop", "group", "ops", "ttl", "1h", "confirm", "yes"), "invite carol-laptop ops 1h0m0s"},
	} {
		w := post(t, h, tc.path, tc.form)
		if w.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", tc.want, w.Code, w.Body)
		}
		if calls := acts.Calls(); calls[len(calls)-1] != tc.want {
			t.Fatalf("calls %v, want last %q", calls, tc.want)
		}
		if !strings.Contains(logs.String(), "console audit: action done") || !strings.Contains(logs.String(), "target="+tc.form.Get("name")) {
			t.Fatalf("no audit line for %s in\n%s", tc.want, logs)
		}
	}
	if body := w.Body.String(); strings.Contains(body, "itp1.") {
		t.Fatalf("a token outside the invitation page: %s", body)
	}
	inv := post(t, h, "/action/invite", form("csrf", tok, "name", "dave-laptop", "group", "staff", "ttl", "24h", "confirm", "yes")).Body.String()
	for _, s := range []string{`value="itp1.id.secret.pin"`, `value="https://gw.example:8445/#itp1.id.secret.pin"`, `<svg class="qr"`} {
		if !strings.Contains(inv, s) {
			t.Errorf("invitation page lacks %q", s)
		}
	}
	for _, bad := range []url.Values{
		form("csrf", tok, "name", "x", "group", "nogroup", "ttl", "1h", "confirm", "yes"),
		form("csrf", tok, "name", "x", "group", "ops", "ttl", "9999h", "confirm", "yes"),
	} {
		if w := post(t, h, "/action/invite", bad); w.Code != http.StatusBadRequest {
			t.Errorf("invite %v: %d", bad, w.Code)
		}
	}
	// A failing action is shown and audited as failed.
	acts.err = errors.New("no certificate named x")
	if w := post(t, h, "/action/revoke", form("csrf", tok, "name", "x", "confirm", "yes")); w.Code != http.StatusInternalServerError ||
		!strings.Contains(w.Body.String(), "no certificate named x") || !strings.Contains(logs.String(), "result=failed") {
		t.Fatalf("failed action: %d %s\n%s", w.Code, w.Body, logs)
	}
}

func TestLoopbackHostOnly(t *testing.T) {
	c, _, _ := newConsole(t, "")
	r := httptest.NewRequest(http.MethodGet, "http://console.evil.example/", nil)
	w := httptest.NewRecorder()
	c.Handler().ServeHTTP(w, r)
	if w.Code != http.StatusForbidden {
		t.Fatalf("a rebinding host name got %d", w.Code)
	}
	for _, host := range []string{"localhost:9090", "127.0.0.1:9090", "[::1]:9090"} {
		r := httptest.NewRequest(http.MethodGet, "http://"+host+"/", nil)
		w := httptest.NewRecorder()
		c.Handler().ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Errorf("host %s: %d", host, w.Code)
		}
	}
}

func TestAdminCertificateRequired(t *testing.T) {
	c, _, _ := newConsole(t, "demo")
	cert := func(uri string) *x509.Certificate {
		u, _ := url.Parse(uri)
		return &x509.Certificate{URIs: []*url.URL{u}}
	}
	for _, tc := range []struct {
		name string
		tls  *tls.ConnectionState
		code int
	}{
		{"plain HTTP", nil, http.StatusForbidden},
		{"no certificate", &tls.ConnectionState{}, http.StatusForbidden},
		{"client role", &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert("intransit://demo/client/alice")}}, http.StatusForbidden},
		{"admin of another PKI", &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert("intransit://other/admin/eve")}}, http.StatusForbidden},
		{"admin", &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert("intransit://demo/admin/ops1")}}, http.StatusOK},
	} {
		r := httptest.NewRequest(http.MethodGet, "https://gw.example:9443/", nil)
		r.TLS = tc.tls
		w := httptest.NewRecorder()
		c.Handler().ServeHTTP(w, r)
		if w.Code != tc.code {
			t.Errorf("%s: %d, want %d", tc.name, w.Code, tc.code)
		}
		if tc.code == http.StatusOK && !strings.Contains(w.Body.String(), "intransit://demo/admin/ops1") {
			t.Errorf("%s: the page does not name the operator", tc.name)
		}
	}
	// The token is bound to the operator.
	if c.validCSRF("intransit://demo/admin/a", c.csrfToken("intransit://demo/admin/b")) {
		t.Fatal("one operator's CSRF token is valid for another")
	}
}

func TestBodyBounded(t *testing.T) {
	c, acts, _ := newConsole(t, "")
	big := url.Values{"csrf": {c.csrfToken("local")}, "name": {"x"}, "pad": {strings.Repeat("a", 2*maxBody)}}
	if w := post(t, c.Handler(), "/action/revoke", big); w.Code != http.StatusBadRequest {
		t.Fatalf("oversized body: %d", w.Code)
	}
	if len(acts.Calls()) != 0 {
		t.Fatal("oversized body acted")
	}
}

func TestRefusalLinesBounded(t *testing.T) {
	c, _, logs := newConsole(t, "")
	for range 100 {
		r := httptest.NewRequest(http.MethodGet, "http://evil.example/", nil)
		c.Handler().ServeHTTP(httptest.NewRecorder(), r)
	}
	// The console's clock stands still: the burst, then nothing.
	if n := strings.Count(logs.String(), "request refused"); n != 10 {
		t.Fatalf("%d refusal lines for 100 refused requests, want the burst of 10", n)
	}
}
