package tls

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The stream format: each WireGuard message travels as one frame, a 2-byte
// big-endian length N followed by the N bytes of the message. Frames of
// length 0 carry nothing and are skipped. There is no other framing, no
// padding and no version field: the ALPN names the format.
const (
	// FrameHeaderLen is the length prefix's size.
	FrameHeaderLen = 2
	// MaxFrameLen is the largest length the format can express.
	MaxFrameLen = 1<<16 - 1
	// DefaultMaxMessageSize bounds the messages a Bind reads and writes:
	// one TLS record's worth, room for an inner MTU of up to 16352 bytes.
	DefaultMaxMessageSize = 1 << 14
)

// ErrFrameTooLarge is wrapped by the error Decoder.Next returns for a frame
// longer than its limit. The frame has been skipped: the decoder stays in
// step with the stream and can be called again.
var ErrFrameTooLarge = errors.New("frame exceeds the message size limit")

// AppendFrame appends msg as one frame to dst. msg must not be longer than
// MaxFrameLen.
func AppendFrame(dst, msg []byte) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(msg)))
	return append(dst, msg...)
}

// Decoder reads frames from a stream, reusing one buffer.
type Decoder struct {
	r          io.Reader
	buf        []byte
	start, end int
	max        int
	skip       int
}

// NewDecoder returns a Decoder reading r that refuses frames longer than
// maxMessage (at most MaxFrameLen).
func NewDecoder(r io.Reader, maxMessage int) *Decoder {
	maxMessage = min(max(maxMessage, 1), MaxFrameLen)
	return &Decoder{r: r, buf: make([]byte, max(64<<10, FrameHeaderLen+maxMessage)), max: maxMessage}
}

// Next returns the next message. The slice is valid until the next call.
// At the end of the stream it returns io.EOF if the stream ended between
// frames, io.ErrUnexpectedEOF if it ended inside one; a read error is
// returned as it is. A frame longer than the limit is skipped and reported
// with an error wrapping ErrFrameTooLarge; calling Next again continues
// with the frame after it.
func (d *Decoder) Next() ([]byte, error) {
	for {
		if d.skip > 0 {
			n := min(d.skip, d.end-d.start)
			d.start += n
			d.skip -= n
			if d.skip > 0 {
				if err := d.fill(); err != nil {
					return nil, eofInFrame(err)
				}
				continue
			}
		}
		avail := d.end - d.start
		if avail >= FrameHeaderLen {
			n := int(binary.BigEndian.Uint16(d.buf[d.start:]))
			if n > d.max {
				d.start += FrameHeaderLen
				d.skip = n
				return nil, fmt.Errorf("frame of %d bytes, limit %d: %w", n, d.max, ErrFrameTooLarge)
			}
			if avail >= FrameHeaderLen+n {
				msg := d.buf[d.start+FrameHeaderLen : d.start+FrameHeaderLen+n]
				d.start += FrameHeaderLen + n
				if n == 0 {
					continue
				}
				return msg, nil
			}
		}
		if err := d.fill(); err != nil {
			if errors.Is(err, io.EOF) && d.end == d.start {
				return nil, io.EOF
			}
			return nil, eofInFrame(err)
		}
	}
}

// fill reads more bytes, first moving the unread ones to the front when the
// buffer's tail is too short for a whole frame.
func (d *Decoder) fill() error {
	if d.start == d.end {
		d.start, d.end = 0, 0
	} else if len(d.buf)-d.start < FrameHeaderLen+d.max {
		d.end = copy(d.buf, d.buf[d.start:d.end])
		d.start = 0
	}
	for {
		n, err := d.r.Read(d.buf[d.end:])
		d.end += n
		if n > 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func eofInFrame(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
