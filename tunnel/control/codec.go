package control

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"unicode/utf8"

	"intransit/tunnel/pqpsk"
)

// Bounds of the wire format.
const (
	// HeaderSize is the size of a frame header.
	HeaderSize = 4
	// MaxBodySize bounds the body of every frame.
	MaxBodySize = 16 << 10
	// MaxPrefixes bounds the prefixes of a Hello and the routes of an
	// Assignment.
	MaxPrefixes = 256
	// MaxTransports bounds the transports of a Hello.
	MaxTransports = 16
	// MaxDNSServers bounds the DNS servers of an Assignment.
	MaxDNSServers = 8
	// MaxSearchDomains bounds the search domains of an Assignment.
	MaxSearchDomains = 16
	// MaxDetail bounds the detail text of a Refusal or Close.
	MaxDetail = 512
	// MaxSignature bounds a Hello's key signature.
	MaxSignature = 1024
)

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("malformed control message")

// Encode returns the frame for m. It refuses to encode a message that Decode
// would reject, so a session never sends what its peer must refuse.
func Encode(m Message) ([]byte, error) {
	w := &writer{b: make([]byte, HeaderSize, 256)}
	w.b[0] = Version
	w.b[1] = byte(m.Type())
	m.encode(w)
	body := len(w.b) - HeaderSize
	if body > MaxBodySize {
		return nil, fmt.Errorf("control: encode %s: body of %d bytes exceeds %d", m.Type(), body, MaxBodySize)
	}
	binary.BigEndian.PutUint16(w.b[2:], uint16(body))
	if _, err := Decode(w.b); err != nil {
		return nil, fmt.Errorf("control: refusing to send an invalid message: %w", err)
	}
	return w.b, nil
}

// Decode parses exactly one frame.
func Decode(frame []byte) (Message, error) {
	if len(frame) < HeaderSize {
		return nil, fmt.Errorf("%w: frame of %d bytes is shorter than the %d-byte header", ErrMalformed, len(frame), HeaderSize)
	}
	t, n, err := parseHeader(frame[:HeaderSize])
	if err != nil {
		return nil, err
	}
	if len(frame)-HeaderSize != n {
		return nil, fmt.Errorf("%w: %s frame declares a %d-byte body but carries %d", ErrMalformed, t, n, len(frame)-HeaderSize)
	}
	return decodeBody(t, frame[HeaderSize:])
}

// ReadMessage reads one frame from r. It never reads past the frame, and
// never allocates more than MaxBodySize for it.
func ReadMessage(r io.Reader) (Message, error) {
	return (&frameReader{r: r}).next()
}

// frameReader reads frames from r one at a time, keeping a frame it has
// begun across errors: when a read fails with a deadline, next returns
// that error and the following call goes on where it stopped, so that a
// session can wait on its connection with a read deadline.
type frameReader struct {
	r      io.Reader
	header [HeaderSize]byte
	nh     int  // header bytes read
	inBody bool // the header is complete and parsed
	typ    Type
	body   []byte
	nb     int // body bytes read
}

// next returns the next message. A read error that leaves a frame unfinished
// is returned as is (the frame is kept), except the end of the connection,
// which is ErrMalformed inside a frame and io.EOF between frames.
func (f *frameReader) next() (Message, error) {
	for f.nh < HeaderSize {
		n, err := f.r.Read(f.header[f.nh:])
		f.nh += n
		if f.nh == HeaderSize {
			break
		}
		if err != nil {
			if errors.Is(err, io.EOF) && f.nh > 0 {
				return nil, fmt.Errorf("%w: connection ended inside a frame header", ErrMalformed)
			}
			return nil, err
		}
	}
	if !f.inBody {
		t, n, err := parseHeader(f.header[:])
		if err != nil {
			return nil, err
		}
		f.inBody, f.typ, f.body, f.nb = true, t, make([]byte, n), 0
	}
	for f.nb < len(f.body) {
		n, err := f.r.Read(f.body[f.nb:])
		f.nb += n
		if f.nb == len(f.body) {
			break
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("%w: connection ended inside a %s body", ErrMalformed, f.typ)
			}
			return nil, fmt.Errorf("control: read %s body: %w", f.typ, err)
		}
	}
	t, body := f.typ, f.body
	f.nh, f.inBody, f.body = 0, false, nil
	return decodeBody(t, body)
}

func parseHeader(h []byte) (Type, int, error) {
	if h[0] != Version {
		return 0, 0, &versionError{got: h[0]}
	}
	t := Type(h[1])
	if newMessage(t) == nil {
		return 0, 0, fmt.Errorf("%w: unknown message type %d", ErrMalformed, h[1])
	}
	n := int(binary.BigEndian.Uint16(h[2:]))
	if n > MaxBodySize {
		return 0, 0, fmt.Errorf("%w: %s body of %d bytes exceeds %d", ErrMalformed, t, n, MaxBodySize)
	}
	return t, n, nil
}

// versionError is returned for a frame of another protocol version.
type versionError struct{ got byte }

func (e *versionError) Error() string {
	return fmt.Sprintf("%v: protocol version %d, this end speaks %d", ErrMalformed, e.got, Version)
}

func (e *versionError) Unwrap() error { return ErrMalformed }

func decodeBody(t Type, body []byte) (Message, error) {
	m := newMessage(t)
	r := &reader{b: body}
	m.decode(r)
	if r.err == nil && len(r.b) != 0 {
		r.failf("message", "%d bytes left over", len(r.b))
	}
	if r.err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrMalformed, t, r.err)
	}
	return m, nil
}

type writer struct{ b []byte }

func (w *writer) u8(v uint8)   { w.b = append(w.b, v) }
func (w *writer) u16(v uint16) { w.b = binary.BigEndian.AppendUint16(w.b, v) }
func (w *writer) u64(v uint64) { w.b = binary.BigEndian.AppendUint64(w.b, v) }
func (w *writer) raw(p []byte) { w.b = append(w.b, p...) }

// count writes a list length; lengths beyond the field are clamped so the
// verifying Decode in Encode reports them.
func (w *writer) count8(n int) { w.u8(uint8(min(n, 0xff))) }
func (w *writer) count16(n int) {
	w.u16(uint16(min(n, 0xffff)))
}

func (w *writer) str8(s string) {
	w.count8(len(s))
	w.raw([]byte(s[:min(len(s), 0xff)]))
}

func (w *writer) bytes16(p []byte) {
	w.count16(len(p))
	w.raw(p[:min(len(p), 0xffff)])
}

func (w *writer) addr(a netip.Addr) {
	switch {
	case a.Is4():
		w.u8(4)
		b := a.As4()
		w.raw(b[:])
	case a.Is6():
		w.u8(6)
		b := a.As16()
		w.raw(b[:])
	default:
		w.u8(0)
	}
}

func (w *writer) prefix(p netip.Prefix) {
	w.addr(p.Addr())
	w.u8(uint8(max(p.Bits(), 0)))
}

func (w *writer) addrPort(ap netip.AddrPort) {
	w.addr(ap.Addr())
	w.u16(ap.Port())
}

// reader decodes a body; the first error sticks and names the field.
type reader struct {
	b   []byte
	err error
}

func (r *reader) failf(field, format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("field %s: %s", field, fmt.Sprintf(format, args...))
	}
}

func (r *reader) take(field string, n int) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.failf(field, "needs %d bytes, %d left", n, len(r.b))
		return nil
	}
	p := r.b[:n]
	r.b = r.b[n:]
	return p
}

func (r *reader) u8(field string) uint8 {
	if p := r.take(field, 1); p != nil {
		return p[0]
	}
	return 0
}

func (r *reader) u16(field string) uint16 {
	if p := r.take(field, 2); p != nil {
		return binary.BigEndian.Uint16(p)
	}
	return 0
}

func (r *reader) u64(field string) uint64 {
	if p := r.take(field, 8); p != nil {
		return binary.BigEndian.Uint64(p)
	}
	return 0
}

func (r *reader) fixed(field string, n int) []byte {
	if p := r.take(field, n); p != nil {
		return append([]byte(nil), p...)
	}
	return nil
}

func (r *reader) epoch(field string) uint64 {
	e := r.u64(field)
	if r.err == nil && e == 0 {
		r.failf(field, "epoch 0 (epochs start at 1)")
	}
	return e
}

func (r *reader) count8(field string, limit int) int {
	n := int(r.u8(field))
	if r.err == nil && n > limit {
		r.failf(field, "%d entries, at most %d allowed", n, limit)
		return 0
	}
	return n
}

func (r *reader) count16(field string, limit int) int {
	n := int(r.u16(field))
	if r.err == nil && n > limit {
		r.failf(field, "%d entries, at most %d allowed", n, limit)
		return 0
	}
	return n
}

// addr reads an address that names a host: never unspecified.
func (r *reader) addr(field string) netip.Addr {
	a := r.rawAddr(field)
	if r.err == nil && a.IsUnspecified() {
		r.failf(field, "unspecified address %s", a)
	}
	return a
}

// rawAddr reads any address of family 4 or 6, except IPv4-mapped ones.
func (r *reader) rawAddr(field string) netip.Addr {
	var a netip.Addr
	switch fam := r.u8(field); {
	case r.err != nil:
		return a
	case fam == 4:
		if p := r.take(field, 4); p != nil {
			a = netip.AddrFrom4([4]byte(p))
		}
	case fam == 6:
		if p := r.take(field, 16); p != nil {
			a = netip.AddrFrom16([16]byte(p))
			if a.Is4In6() {
				r.failf(field, "IPv4-mapped IPv6 address %s (send it as IPv4)", a)
			}
		}
	default:
		r.failf(field, "address family %d (want 4 or 6)", fam)
	}
	return a
}

func (r *reader) prefix(field string) netip.Prefix {
	a := r.rawAddr(field)
	bits := int(r.u8(field))
	if r.err != nil {
		return netip.Prefix{}
	}
	p := netip.PrefixFrom(a, bits)
	if !p.IsValid() {
		r.failf(field, "prefix length %d is too long for %s", bits, a)
		return netip.Prefix{}
	}
	if p.Masked() != p {
		r.failf(field, "prefix %s has host bits set (did you mean %s?)", p, p.Masked())
	}
	return p
}

func (r *reader) addrPort(field string) netip.AddrPort {
	a := r.addr(field)
	port := r.u16(field)
	if r.err == nil && port == 0 {
		r.failf(field, "port 0")
	}
	return netip.AddrPortFrom(a, port)
}

func (r *reader) text(field string, limit int) string {
	n := int(r.u16(field))
	if r.err == nil && n > limit {
		r.failf(field, "%d bytes, at most %d allowed", n, limit)
		return ""
	}
	p := r.take(field, n)
	if r.err == nil && !utf8.Valid(p) {
		r.failf(field, "not valid UTF-8")
	}
	return string(p)
}

func (r *reader) reason(field string) Reason {
	c := Reason(r.u16(field))
	if r.err == nil && !c.Valid() {
		r.failf(field, "unknown reason code %d", uint16(c))
	}
	return c
}

// transportName checks a transport name: 1..16 of [a-z0-9].
func (r *reader) transportName(field string) string {
	n := int(r.u8(field))
	p := r.take(field, n)
	if r.err != nil {
		return ""
	}
	if n == 0 || n > 16 {
		r.failf(field, "transport name of %d bytes (want 1..16)", n)
		return ""
	}
	for _, c := range p {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			r.failf(field, "transport name %q: only a-z and 0-9 allowed", p)
			return ""
		}
	}
	return string(p)
}

// domainName checks a DNS name: labels of letters, digits and hyphens, not
// starting or ending with a hyphen, at most 63 bytes each, 253 in total.
func (r *reader) domainName(field string) string {
	n := int(r.u8(field))
	p := r.take(field, n)
	if r.err != nil {
		return ""
	}
	if err := checkDomain(string(p)); err != nil {
		r.failf(field, "%v", err)
		return ""
	}
	return string(p)
}

func checkDomain(s string) error {
	if len(s) == 0 || len(s) > 253 {
		return fmt.Errorf("DNS name of %d bytes (want 1..253)", len(s))
	}
	label := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if label == 0 || s[i-1] == '-' {
				return fmt.Errorf("DNS name %q: empty label or label ending in '-'", s)
			}
			label = 0
			continue
		case c == '-':
			if label == 0 {
				return fmt.Errorf("DNS name %q: label starting with '-'", s)
			}
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		default:
			return fmt.Errorf("DNS name %q: byte %q not allowed", s, c)
		}
		label++
		if label > 63 {
			return fmt.Errorf("DNS name %q: label longer than 63 bytes", s)
		}
	}
	if label == 0 || s[len(s)-1] == '-' {
		return fmt.Errorf("DNS name %q: empty last label or label ending in '-'", s)
	}
	return nil
}

func (m *Hello) encode(w *writer) {
	w.u8(uint8(m.Kind))
	w.raw(m.WireGuardKey[:])
	w.bytes16(m.KeySignature)
	w.count16(len(m.Prefixes))
	for _, p := range m.Prefixes {
		w.prefix(p)
	}
	w.count8(len(m.Transports))
	for _, t := range m.Transports {
		w.str8(t.Name)
		w.addrPort(t.Endpoint)
	}
}

func (m *Hello) decode(r *reader) {
	m.Kind = Kind(r.u8("kind"))
	if r.err == nil && m.Kind != KindGateway && m.Kind != KindClient {
		r.failf("kind", "unknown peer kind %d", uint8(m.Kind))
	}
	if p := r.take("wireguard_key", 32); p != nil {
		m.WireGuardKey = [32]byte(p)
	}
	n := int(r.u16("key_signature"))
	if r.err == nil && (n == 0 || n > MaxSignature) {
		r.failf("key_signature", "%d bytes (want 1..%d)", n, MaxSignature)
	}
	m.KeySignature = r.fixed("key_signature", n)
	for i, n := 0, r.count16("prefixes", MaxPrefixes); i < n && r.err == nil; i++ {
		m.Prefixes = append(m.Prefixes, r.prefix(fmt.Sprintf("prefixes[%d]", i)))
	}
	for i, n := 0, r.count8("transports", MaxTransports); i < n && r.err == nil; i++ {
		f := fmt.Sprintf("transports[%d]", i)
		t := Transport{Name: r.transportName(f + ".name")}
		t.Endpoint = r.addrPort(f + ".endpoint")
		m.Transports = append(m.Transports, t)
	}
}

func (m *Assignment) encode(w *writer) {
	w.count8(len(m.Addresses))
	for _, a := range m.Addresses {
		w.addr(a)
	}
	w.count16(len(m.Routes))
	for _, p := range m.Routes {
		w.prefix(p)
	}
	w.count8(len(m.DNSServers))
	for _, a := range m.DNSServers {
		w.addr(a)
	}
	w.count8(len(m.SearchDomains))
	for _, d := range m.SearchDomains {
		w.str8(d)
	}
}

func (m *Assignment) decode(r *reader) {
	n := r.count8("addresses", 2)
	if r.err == nil && n == 0 {
		r.failf("addresses", "no tunnel address assigned")
	}
	for i := 0; i < n && r.err == nil; i++ {
		f := fmt.Sprintf("addresses[%d]", i)
		a := r.addr(f)
		if i == 1 && r.err == nil && a.Is4() == m.Addresses[0].Is4() {
			r.failf(f, "second address %s of the same family as %s", a, m.Addresses[0])
		}
		m.Addresses = append(m.Addresses, a)
	}
	for i, n := 0, r.count16("routes", MaxPrefixes); i < n && r.err == nil; i++ {
		m.Routes = append(m.Routes, r.prefix(fmt.Sprintf("routes[%d]", i)))
	}
	for i, n := 0, r.count8("dns_servers", MaxDNSServers); i < n && r.err == nil; i++ {
		m.DNSServers = append(m.DNSServers, r.addr(fmt.Sprintf("dns_servers[%d]", i)))
	}
	for i, n := 0, r.count8("search_domains", MaxSearchDomains); i < n && r.err == nil; i++ {
		m.SearchDomains = append(m.SearchDomains, r.domainName(fmt.Sprintf("search_domains[%d]", i)))
	}
}

func (m *RotatePropose) encode(w *writer) {
	w.u64(m.Epoch)
	w.raw(m.EncapsulationKey)
}

func (m *RotatePropose) decode(r *reader) {
	m.Epoch = r.epoch("epoch")
	m.EncapsulationKey = r.fixed("encapsulation_key", pqpsk.EncapsulationKeySize)
}

func (m *RotateAnswer) encode(w *writer) {
	w.u64(m.Epoch)
	w.raw(m.Ciphertext)
	w.raw(m.Confirmation)
}

func (m *RotateAnswer) decode(r *reader) {
	m.Epoch = r.epoch("epoch")
	m.Ciphertext = r.fixed("ciphertext", pqpsk.CiphertextSize)
	m.Confirmation = r.fixed("confirmation", pqpsk.ConfirmationSize)
}

func (m *RotateCommit) encode(w *writer) {
	w.u64(m.Epoch)
	w.raw(m.Confirmation)
}

func (m *RotateCommit) decode(r *reader) {
	m.Epoch = r.epoch("epoch")
	m.Confirmation = r.fixed("confirmation", pqpsk.ConfirmationSize)
}

func (m *RotateAck) encode(w *writer) { w.u64(m.Epoch) }
func (m *RotateAck) decode(r *reader) { m.Epoch = r.epoch("epoch") }
func (m *Ping) encode(w *writer)      { w.u64(m.Seq) }
func (m *Ping) decode(r *reader)      { m.Seq = r.u64("seq") }
func (m *Pong) encode(w *writer)      { w.u64(m.Seq) }
func (m *Pong) decode(r *reader)      { m.Seq = r.u64("seq") }
func (m *Refusal) encode(w *writer)   { w.u16(uint16(m.Reason)); w.bytes16([]byte(m.Detail)) }
func (m *Refusal) decode(r *reader) {
	m.Reason = r.reason("reason")
	m.Detail = r.text("detail", MaxDetail)
}
func (m *Close) encode(w *writer) { w.u16(uint16(m.Reason)); w.bytes16([]byte(m.Detail)) }
func (m *Close) decode(r *reader) {
	m.Reason = r.reason("reason")
	m.Detail = r.text("detail", MaxDetail)
}
