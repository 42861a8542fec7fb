// Package daemonconfig reads and validates the configuration file of
// intransitd. Parsing is strict: an unknown key, a value of the wrong type,
// an invalid or overlapping prefix, a missing required field, a duplicate
// remote or a bad duration is an error that names the file, the line and the
// field. A Config that Load returns is complete: defaults are filled in and
// relative paths are resolved against the directory of the file.
//
// A gateway's file:
//
//	log_format: text                  # text | json
//	log_level: info                   # debug | info | warn | error (reload applies it)
//	state_dir: /var/lib/intransitd    # holds the WireGuard private key (0600)
//	status_socket: /run/intransitd/status.sock
//	metrics_listen: 127.0.0.1:9586    # opt-in Prometheus listener; empty = off
//	metrics_pprof: false              # also serve /debug/pprof/ there (loopback only)
//	identity:
//	  cert: gw-a-chain.pem            # certificate and intermediate (PEM)
//	  key: gw-a.key
//	  ca: ca.pem                      # CAs the peers' certificates chain to
//	  crl: crl.pem                    # file, or an http(s):// URL
//	  crl_refresh: 5s
//	  profile: pq                     # control-channel TLS profile
//	interface: {name: it0, mtu: 0}    # mtu 0: the smallest the transports need
//	listen:                           # the address is advertised to peers;
//	  control: 192.0.2.1:8443         # unspecified (0.0.0.0) advertises the
//	  udp: 192.0.2.1:51820            # address the peer reached us at; one
//	  quic: 192.0.2.1:443             # key per transport of the registry
//	  tls: 192.0.2.1:443              # (tunnel/transport/registry)
//	site_prefixes: [10.1.0.0/24]
//	psk_rotation: 2m
//	keepalive: 5s
//	dead_after: 15s
//	handshake_timeout: 5s             # a control connection's TLS handshake
//	path_mtu: 1500                    # the WAN's MTU: packets, segments and the
//	                                  # inner MTU are sized to it (>= 1280)
//	remotes:
//	  - name: site-b
//	    identity: intransit://demo/gateway/gw-b   # URI SAN, or a DNS SAN
//	    control: [192.0.2.2:8443]     # dialed in order; empty: accept only
//	    transports: [udp, quic, tls]  # data-plane order of preference
//	    allowed_prefixes: [10.2.0.0/24]
//	console: {listen: 127.0.0.1:9090}  # opt-in web console (console.go)
package daemonconfig

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"intransit/internal/logging"
	"intransit/tunnel/transport"
	"intransit/tunnel/transport/registry"
)

// Defaults of the optional settings.
const (
	DefaultStateDir     = "/var/lib/intransitd"
	DefaultStatusSocket = "/run/intransitd/status.sock"
	DefaultInterface    = "it0"
	DefaultControlPort  = 8443
	DefaultPSKRotation  = 2 * time.Minute
	DefaultKeepalive    = 5 * time.Second
	DefaultDeadAfter    = 15 * time.Second
	// DefaultHandshakeTimeout bounds a control connection's TLS
	// handshake; MaxHandshakeTimeout is the longest accepted.
	DefaultHandshakeTimeout = 5 * time.Second
	MaxHandshakeTimeout     = time.Minute
	DefaultCRLRefresh       = 5 * time.Second
	DefaultPathMTU          = transport.DefaultPathMTU
	// MinPathMTU is the smallest WAN MTU accepted: the IPv6 minimum, below
	// which QUIC cannot run (transport.MinPathMTU). A smaller WAN is refused
	// with the reason and what to do, rather than served half-working.
	MinPathMTU = transport.MinPathMTU
	// MaxPathMTU is the largest WAN MTU accepted.
	MaxPathMTU = 9000
)

// Log formats.
const (
	LogText = logging.Text
	LogJSON = logging.JSON
)

// Config is a validated daemon configuration.
type Config struct {
	// Path is the file the configuration was read from.
	Path string `yaml:"-"`
	// LogFormat is LogText or LogJSON.
	LogFormat string `yaml:"log_format"`
	// LogLevel is logging.Debug, Info, Warn or Error (default Info).
	LogLevel string `yaml:"log_level"`
	// StateDir holds the daemon's state (its WireGuard private key).
	StateDir string `yaml:"state_dir"`
	// StatusSocket is the unix socket `intransit status` reads.
	StatusSocket string `yaml:"status_socket"`
	// MetricsListen is the Prometheus listener address; empty turns it off.
	MetricsListen string `yaml:"metrics_listen"`
	// MetricsPprof also serves the Go runtime profiles (net/http/pprof,
	// under /debug/pprof/) on MetricsListen, which must then be a loopback
	// address: profiles show goroutine stacks and allocation sites.
	MetricsPprof bool `yaml:"metrics_pprof"`
	// Identity is the gateway's certificate and trust material.
	Identity Identity `yaml:"identity"`
	// Interface is the TUN interface.
	Interface Interface `yaml:"interface"`
	// Listen holds the control and data-plane listen addresses.
	Listen Listen `yaml:"listen"`
	// SitePrefixes are the local site's prefixes, offered to every remote.
	SitePrefixes []Prefix `yaml:"site_prefixes"`
	// PSKRotation is the period of post-quantum PSK rotations.
	PSKRotation Duration `yaml:"psk_rotation"`
	// Keepalive is the control-channel ping interval.
	Keepalive Duration `yaml:"keepalive"`
	// DeadAfter is how long a silent peer is kept before its session ends.
	DeadAfter Duration `yaml:"dead_after"`
	// HandshakeTimeout bounds the TLS handshake of a connection to a
	// control listener (site-to-site and point-to-site), from accept: a
	// connection that has not authenticated by then is closed.
	HandshakeTimeout Duration `yaml:"handshake_timeout"`
	// PathMTU is the smallest MTU of the WAN path (DefaultPathMTU when
	// absent): QUIC packets and the TCP segments of the control channel and
	// the tls transport are sized to it, the inner MTU derives from it and
	// the transports' overhead, and TCP segments crossing the tunnel are
	// clamped so that their encapsulation fits it, so that nothing depends
	// on ICMP "packet too big". Below MinPathMTU it is refused; over a path
	// whose inner MTU falls below IPv6's 1280, IPv6 prefixes are refused.
	PathMTU int `yaml:"path_mtu"`
	// Remotes are the remote gateways.
	Remotes []Remote `yaml:"remotes"`
	// P2S, when present, makes the gateway serve point-to-site clients.
	P2S *P2S `yaml:"p2s"`
	// PKI, when present, is the CA this gateway holds (see pki.go).
	PKI *P2SPKI `yaml:"pki"`
	// Console, when present, serves the web console (see console.go).
	Console *Console `yaml:"console"`
	// Store is where the point-to-site state and the PKI records live.
	Store Store `yaml:"store"`

	// root is the file's YAML tree, for the lines of fields (Where).
	root *yaml.Node
}

// Identity is the gateway's certificate, key and trust material.
type Identity struct {
	// Cert is the certificate chain file (leaf first, PEM).
	Cert string `yaml:"cert"`
	// Key is the private key file (PEM).
	Key string `yaml:"key"`
	// CA is the bundle of CAs that peer certificates must chain to.
	CA string `yaml:"ca"`
	// CRL is the CRL source: a file, or an http:// or https:// URL.
	CRL string `yaml:"crl"`
	// CRLRefresh is how often the CRL is fetched again.
	CRLRefresh Duration `yaml:"crl_refresh"`
	// Profile is the control-channel TLS profile (built-in name or file).
	Profile string `yaml:"profile"`
	// Renew, when present, makes the gateway renew its certificate at
	// two thirds of its lifetime (see renew.go).
	Renew *Renewal `yaml:"renew"`
}

// Interface is the TUN interface.
type Interface struct {
	// Name is the interface name.
	Name string `yaml:"name"`
	// MTU is the interface MTU; 0 chooses the smallest that every served
	// transport needs over path_mtu.
	MTU int `yaml:"mtu"`
}

// Listen holds listen addresses. The port is where the gateway listens
// (on every address); the address, when specified, is what peers are told
// to reach the data plane at. Besides control, each key names a transport
// of the registry (udp, quic, tls).
type Listen struct {
	// Control is the control channel's address.
	Control Endpoint
	// Data holds the served data-plane transports' addresses by name.
	Data map[string]Endpoint
}

// UnmarshalYAML reads control and one key per registered transport; it
// reports every bad key and address, not only the first.
func (l *Listen) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fieldErr(n.Line, "want a mapping of control and transport names to addresses")
	}
	var errs []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		var ep Endpoint
		if err := val.Decode(&ep); err != nil {
			errs = append(errs, typeErrors(err)...)
			continue
		}
		if k.Value == "control" {
			l.Control = ep
			continue
		}
		if _, err := registry.Lookup(k.Value); err != nil {
			msg := fmt.Sprintf("listen: %q is neither control nor a transport (%s)", k.Value, strings.Join(registry.Names(), ", "))
			if s := suggest(k.Value, append([]string{"control"}, registry.Names()...)); s != "" {
				msg += " (did you mean " + s + "?)"
			}
			errs = append(errs, typeErrors(fieldErr(k.Line, msg))...)
			continue
		}
		if l.Data == nil {
			l.Data = map[string]Endpoint{}
		}
		l.Data[k.Value] = ep
	}
	if len(errs) > 0 {
		return &yaml.TypeError{Errors: errs}
	}
	return nil
}

// Transports returns the served data-plane transports in the order the
// gateway's Bind lists them (the registry's: udp first) with their
// endpoints.
func (l Listen) Transports() []TransportListen {
	var out []TransportListen
	for _, t := range registry.All() {
		if ep, ok := l.Data[t.Name]; ok && ep.IsValid() {
			out = append(out, TransportListen{Name: t.Name, Network: t.Network, Endpoint: ep.AddrPort})
		}
	}
	return out
}

// TransportListen is one served data-plane transport.
type TransportListen struct {
	// Name is the transport's name in the registry.
	Name string
	// Network is what it binds: transport.NetworkUDP or NetworkTCP.
	Network string
	// Endpoint is the listen address and port.
	Endpoint netip.AddrPort
}

// Remote is a remote gateway.
type Remote struct {
	// Line is where the remote starts in the file.
	Line int `yaml:"-"`
	// Name names the remote in logs, status and metrics.
	Name string `yaml:"name"`
	// Identity is the URI SAN (with "://") or DNS SAN its certificate must
	// carry.
	Identity string `yaml:"identity"`
	// Control lists the remote's control endpoints, dialed in order;
	// empty means this gateway only accepts the remote's connections.
	Control []Endpoint `yaml:"control"`
	// Transports orders the data-plane transports to use with the remote.
	Transports []string `yaml:"transports"`
	// AllowedPrefixes are the prefixes the remote may be routed for.
	AllowedPrefixes []Prefix `yaml:"allowed_prefixes"`
}

// Prefixes returns the remote's allowed prefixes.
func (r Remote) Prefixes() []netip.Prefix { return prefixes(r.AllowedPrefixes) }

// SiteToSite reports whether the daemon runs the site-to-site gateway:
// always without a p2s section; with one, when there are remotes or a
// listen section. A gateway for laptops only (p2s, no remotes, no listen)
// opens no site-to-site interface or listener. After validation, the
// control listener's default makes it true whenever it was.
func (c *Config) SiteToSite() bool {
	return c.P2S == nil || len(c.Remotes) > 0 || c.Listen.Control.IsValid() || len(c.Listen.Data) > 0
}

// Prefixes returns the site prefixes.
func (c *Config) Prefixes() []netip.Prefix { return prefixes(c.SitePrefixes) }

func prefixes(ps []Prefix) []netip.Prefix {
	out := make([]netip.Prefix, len(ps))
	for i, p := range ps {
		out[i] = p.Prefix
	}
	return out
}

// Error is a configuration error at a place in the file.
type Error struct {
	// File is the configuration file.
	File string `json:"file"`
	// Line is the line in the file (0 when unknown).
	Line int `json:"line,omitempty"`
	// Field is the dotted path of the field ("remotes[1].identity").
	Field string `json:"field,omitempty"`
	// Msg says what is wrong.
	Msg string `json:"message"`
}

func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Field == "" {
		return fmt.Sprintf("%s: %s", loc, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", loc, e.Field, e.Msg)
}

// Load reads and validates the configuration at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data)
}

// Parse parses and validates a configuration; path names it in errors and
// is the base of relative paths. It reports every error it finds, as
// Errors in file order (each an *Error), not only the first: unknown keys
// (with the field probably meant), values of the wrong type, and what
// validation finds in the fields that decoded.
func Parse(path string, data []byte) (*Config, error) {
	cfg, err := parse(path, data)
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// LoadAll reads and validates the configuration at path as Load does, and
// returns with the errors the configuration as far as it was read (nil
// only when the file is not YAML at all), so that the files it names can
// be checked too: intransitd --check reports every error at once.
func LoadAll(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return parse(path, data)
}

// parse is Parse, returning what it read also with errors.
func parse(path string, data []byte) (*Config, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: path, Msg: "the file is empty"}
		}
		return nil, yamlError(path, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, &Error{File: path, Line: extra.Line, Msg: "more than one YAML document"}
	}
	cfg := &Config{Path: path, root: &root}
	v := validator{file: path, root: &root}
	v.unknownKeys(&root, reflect.TypeOf(cfg).Elem(), nil)
	if err := root.Decode(cfg); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, yamlError(path, err)
		}
		for _, msg := range te.Errors {
			v.decodeError(msg)
		}
	}
	v.validate(cfg)
	v.ports(cfg)
	return cfg, v.result()
}

var yamlLine = regexp.MustCompile(`^line (\d+): (.*)$`)

// yamlError turns a yaml.v3 syntax error into an Error with its line.
func yamlError(path string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: path, Line: line, Msg: m[2]}
	}
	return &Error{File: path, Msg: msg}
}

// fieldErr is what the UnmarshalYAML methods of the value types return: a
// yaml.TypeError, so that decoding goes on and every bad value is
// reported.
func fieldErr(line int, msg string) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %s", line, msg)}}
}

// typeErrors returns the messages of a yaml.TypeError (err's text when it
// is another error).
func typeErrors(err error) []string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return te.Errors
	}
	return []string{err.Error()}
}

// Prefix is an IP prefix in the file, with its line.
type Prefix struct {
	netip.Prefix
	// Line is where the prefix is written.
	Line int
}

// UnmarshalYAML parses a canonical prefix ("10.1.0.0/24").
func (p *Prefix) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fieldErr(n.Line, "want a prefix such as 10.1.0.0/24")
	}
	pr, err := netip.ParsePrefix(n.Value)
	if err != nil {
		return fieldErr(n.Line, fmt.Sprintf("invalid prefix %q: %v", n.Value, err))
	}
	if pr.Masked() != pr {
		return fieldErr(n.Line, fmt.Sprintf("prefix %s has host bits set (did you mean %s?)", n.Value, pr.Masked()))
	}
	if pr.Addr().Is4In6() {
		return fieldErr(n.Line, fmt.Sprintf("prefix %s is an IPv4-mapped IPv6 prefix; write it as IPv4", n.Value))
	}
	p.Prefix, p.Line = pr, n.Line
	return nil
}

// Endpoint is an address and port in the file, with its line.
type Endpoint struct {
	netip.AddrPort
	// Line is where the endpoint is written.
	Line int
}

// UnmarshalYAML parses "192.0.2.1:443" or "[2001:db8::1]:443".
func (e *Endpoint) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fieldErr(n.Line, "want an address and port such as 192.0.2.1:443")
	}
	ap, err := netip.ParseAddrPort(n.Value)
	if err != nil {
		return fieldErr(n.Line, fmt.Sprintf("invalid address and port %q: %v", n.Value, err))
	}
	if ap.Port() == 0 {
		return fieldErr(n.Line, fmt.Sprintf("%s: port 0 is not allowed", n.Value))
	}
	e.AddrPort, e.Line = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), n.Line
	return nil
}

// Duration is a Go duration in the file ("2m", "15s").
type Duration struct {
	time.Duration
	// Line is where the duration is written.
	Line int
}

// UnmarshalYAML parses a duration.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fieldErr(n.Line, "want a duration such as 2m or 15s")
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fieldErr(n.Line, fmt.Sprintf("invalid duration %q (want e.g. 2m or 15s)", n.Value))
	}
	if v <= 0 {
		return fieldErr(n.Line, fmt.Sprintf("duration %s must be positive", n.Value))
	}
	d.Duration, d.Line = v, n.Line
	return nil
}

// UnmarshalYAML records where the remote starts.
func (r *Remote) UnmarshalYAML(n *yaml.Node) error {
	type plain Remote
	var p plain
	err := n.Decode(&p) // a yaml.TypeError leaves the rest decoded
	*r = Remote(p)
	r.Line = n.Line
	return err
}

// CRLIsURL reports whether the CRL source is a URL.
func (id Identity) CRLIsURL() bool {
	return strings.HasPrefix(id.CRL, "http://") || strings.HasPrefix(id.CRL, "https://")
}

// resolve makes p absolute against the directory of the config file.
func resolve(base, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(base), p)
}

// validURI reports whether s is an absolute URI with a scheme and a host.
func validURI(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme != "" && u.Host != ""
}
