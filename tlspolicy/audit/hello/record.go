package hello

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Limits that keep a hostile peer from making the reader buffer without end.
const (
	maxRecordLen  = 1<<14 + 2048
	maxMessageLen = 1 << 18
)

// ErrNotTLS means the peer sent bytes that are not a TLS record.
var ErrNotTLS = errors.New("not TLS")

// ErrEncrypted means the peer moved on to encrypted records (TLS 1.3 after
// the ServerHello): nothing more can be read in the clear.
var ErrEncrypted = errors.New("handshake continues encrypted")

// ErrClosed means the peer closed the connection before sending a complete
// message.
var ErrClosed = errors.New("connection closed by peer")

// AlertError is a TLS alert received from the peer.
type AlertError struct {
	Level       uint8
	Description uint8
}

// Error names the alert, e.g. "received fatal alert handshake_failure (40)".
func (a *AlertError) Error() string {
	level := "fatal"
	if a.Level == 1 {
		level = "warning"
	}
	return fmt.Sprintf("received %s alert %s (%d)", level, AlertName(a.Description), a.Description)
}

// AlertName returns the registered name of an alert description.
func AlertName(d uint8) string {
	switch d {
	case 0:
		return "close_notify"
	case 10:
		return "unexpected_message"
	case 20:
		return "bad_record_mac"
	case 22:
		return "record_overflow"
	case 30:
		return "decompression_failure"
	case 40:
		return "handshake_failure"
	case 41:
		return "no_certificate"
	case 42:
		return "bad_certificate"
	case 43:
		return "unsupported_certificate"
	case 44:
		return "certificate_revoked"
	case 45:
		return "certificate_expired"
	case 46:
		return "certificate_unknown"
	case 47:
		return "illegal_parameter"
	case 48:
		return "unknown_ca"
	case 49:
		return "access_denied"
	case 50:
		return "decode_error"
	case 51:
		return "decrypt_error"
	case 70:
		return "protocol_version"
	case 71:
		return "insufficient_security"
	case 80:
		return "internal_error"
	case 86:
		return "inappropriate_fallback"
	case 90:
		return "user_canceled"
	case 100:
		return "no_renegotiation"
	case 109:
		return "missing_extension"
	case 110:
		return "unsupported_extension"
	case 112:
		return "unrecognized_name"
	case 113:
		return "bad_certificate_status_response"
	case 115:
		return "unknown_psk_identity"
	case 116:
		return "certificate_required"
	case 120:
		return "no_application_protocol"
	}
	return "alert_" + strconv.Itoa(int(d))
}

// Message is one handshake message.
type Message struct {
	Type uint8
	Body []byte
}

// Reader reads records from a server and hands out the handshake messages
// in them, reassembling messages split over records. It is not safe for
// concurrent use.
type Reader struct {
	r       io.Reader
	pending []byte
	read    int
}

// NewReader reads records from r.
func NewReader(r io.Reader) *Reader { return &Reader{r: r} }

// Next returns the next handshake message. A received alert is returned as
// *AlertError; bytes that are not TLS as an error wrapping ErrNotTLS; a
// connection closed early as an error wrapping ErrClosed; encrypted records
// as ErrEncrypted. ChangeCipherSpec records and warning alerts other than
// close_notify are skipped.
func (r *Reader) Next() (Message, error) {
	for {
		if m, ok, err := r.takeMessage(); err != nil || ok {
			return m, err
		}
		typ, payload, err := r.readRecord()
		if err != nil {
			return Message{}, err
		}
		switch typ {
		case recordHandshake:
			if len(r.pending)+len(payload) > maxMessageLen+4 {
				return Message{}, fmt.Errorf("%w: handshake message longer than %d bytes", ErrNotTLS, maxMessageLen)
			}
			r.pending = append(r.pending, payload...)
		case recordAlert:
			if len(r.pending) > 0 {
				return Message{}, fmt.Errorf("%w: alert record inside a fragmented handshake message", ErrNotTLS)
			}
			if len(payload) != 2 {
				return Message{}, fmt.Errorf("%w: alert record of %d bytes", ErrNotTLS, len(payload))
			}
			if payload[0] == 1 && payload[1] != 0 {
				// A warning (say unrecognized_name) does not end the
				// handshake: the answer follows.
				continue
			}
			return Message{}, &AlertError{Level: payload[0], Description: payload[1]}
		case recordChangeCipherSpec:
			continue
		case recordApplicationData:
			return Message{}, ErrEncrypted
		}
	}
}

// takeMessage cuts one complete handshake message off the pending bytes.
func (r *Reader) takeMessage() (Message, bool, error) {
	if len(r.pending) < 4 {
		return Message{}, false, nil
	}
	n := int(r.pending[1])<<16 | int(r.pending[2])<<8 | int(r.pending[3])
	if n > maxMessageLen {
		return Message{}, false, fmt.Errorf("%w: handshake message of %d bytes announced", ErrNotTLS, n)
	}
	if len(r.pending) < 4+n {
		return Message{}, false, nil
	}
	m := Message{Type: r.pending[0], Body: append([]byte(nil), r.pending[4:4+n]...)}
	r.pending = r.pending[4+n:]
	return m, true, nil
}

// readRecord reads one record and checks that it looks like TLS.
func (r *Reader) readRecord() (uint8, []byte, error) {
	var hdr [5]byte
	n, err := io.ReadFull(r.r, hdr[:])
	r.read += n
	if err != nil {
		return 0, nil, r.eofError(err, hdr[:n])
	}
	typ, major, length := hdr[0], hdr[1], int(hdr[3])<<8|int(hdr[4])
	if typ < recordChangeCipherSpec || typ > recordApplicationData || major != 3 {
		return 0, nil, fmt.Errorf("%w: the server answered %s", ErrNotTLS, describe(hdr[:]))
	}
	if length == 0 || length > maxRecordLen {
		return 0, nil, fmt.Errorf("%w: record of %d bytes", ErrNotTLS, length)
	}
	payload := make([]byte, length)
	n, err = io.ReadFull(r.r, payload)
	r.read += n
	if err != nil {
		return 0, nil, r.eofError(err, nil)
	}
	return typ, payload, nil
}

func (r *Reader) eofError(err error, partial []byte) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		if len(partial) > 0 {
			if partial[0] < recordChangeCipherSpec || partial[0] > recordApplicationData {
				return fmt.Errorf("%w: the server answered %s and closed", ErrNotTLS, describe(partial))
			}
		}
		return fmt.Errorf("%w after %d bytes", ErrClosed, r.read)
	}
	return err
}

// describe renders the first bytes of a non-TLS answer for an error message.
func describe(b []byte) string {
	printable := true
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			printable = false
			break
		}
	}
	if printable {
		return strconv.Quote(string(b)) + "..."
	}
	var sb strings.Builder
	for i, c := range b {
		if i > 0 {
			sb.WriteByte(' ')
		}
		fmt.Fprintf(&sb, "%02x", c)
	}
	return "bytes " + sb.String()
}
