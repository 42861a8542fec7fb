package tls

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func frames(msgs ...[]byte) []byte {
	var b []byte
	for _, m := range msgs {
		b = AppendFrame(b, m)
	}
	return b
}

func TestDecoder(t *testing.T) {
	big := bytes.Repeat([]byte{7}, 3000)
	over := make([]byte, 2+5000)
	binary.BigEndian.PutUint16(over, 5000)
	for _, tc := range []struct {
		name  string
		in    []byte
		want  []string // "" for a refused frame
		final error
	}{
		{name: "empty stream", in: nil, final: io.EOF},
		{name: "one", in: frames([]byte("hello")), want: []string{"hello"}, final: io.EOF},
		{name: "several", in: frames([]byte("a"), []byte("bb"), big), want: []string{"a", "bb", string(big)}, final: io.EOF},
		{name: "zero-length frames skipped", in: frames(nil, []byte("x"), nil), want: []string{"x"}, final: io.EOF},
		{name: "oversized skipped, stream continues", in: append(append(frames([]byte("a")), over...), frames([]byte("b"))...), want: []string{"a", "", "b"}, final: io.EOF},
		{name: "cut in header", in: append(frames([]byte("a")), 0), want: []string{"a"}, final: io.ErrUnexpectedEOF},
		{name: "cut in body", in: frames([]byte("abcdef"))[:5], final: io.ErrUnexpectedEOF},
		{name: "cut in oversized body", in: over[:100], want: []string{""}, final: io.ErrUnexpectedEOF},
	} {
		for _, chunked := range []bool{false, true} {
			var r io.Reader = bytes.NewReader(tc.in)
			if chunked {
				r = iotest.OneByteReader(r)
			}
			d := NewDecoder(r, 4096)
			var got []string
			var err error
			for {
				var m []byte
				m, err = d.Next()
				if errors.Is(err, ErrFrameTooLarge) {
					got = append(got, "")
					continue
				}
				if err != nil {
					break
				}
				got = append(got, string(m))
			}
			if !errors.Is(err, tc.final) {
				t.Errorf("%s (chunked %v): final error %v, want %v", tc.name, chunked, err, tc.final)
			}
			if len(got) != len(tc.want) {
				t.Errorf("%s (chunked %v): got %d frames, want %d", tc.name, chunked, len(got), len(tc.want))
				continue
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("%s (chunked %v): frame %d differs", tc.name, chunked, i)
				}
			}
		}
	}
}

func TestDecoderReadError(t *testing.T) {
	boom := errors.New("boom")
	d := NewDecoder(io.MultiReader(bytes.NewReader(frames([]byte("ok"))), iotest.ErrReader(boom)), 100)
	if m, err := d.Next(); err != nil || string(m) != "ok" {
		t.Fatalf("first frame: %q, %v", m, err)
	}
	if _, err := d.Next(); !errors.Is(err, boom) {
		t.Fatalf("after the stream fails: %v, want %v", err, boom)
	}
}

// FuzzDecoder checks the decoder against a direct reading of the format on
// any input, fed in chunks of any size: same frames, same refusals, the
// right end, and never a frame above the limit.
func FuzzDecoder(f *testing.F) {
	f.Add(frames([]byte("hello"), []byte("world")), uint16(64), uint8(3))
	f.Add([]byte{0xff, 0xff, 1, 2, 3}, uint16(16), uint8(1))
	f.Add(append(frames(bytes.Repeat([]byte{1}, 300)), 0, 5, 1), uint16(128), uint8(7))
	f.Fuzz(func(t *testing.T, data []byte, limit uint16, chunk uint8) {
		maxMsg := max(int(limit), 1)
		type frame struct {
			msg     []byte
			refused bool
		}
		var want []frame
		wantEnd := io.EOF
		for p := 0; p < len(data); {
			if p+2 > len(data) {
				wantEnd = io.ErrUnexpectedEOF
				break
			}
			n := int(binary.BigEndian.Uint16(data[p:]))
			if n > maxMsg {
				want = append(want, frame{refused: true})
			}
			if p+2+n > len(data) {
				wantEnd = io.ErrUnexpectedEOF
				break
			}
			if n > 0 && n <= maxMsg {
				want = append(want, frame{msg: data[p+2 : p+2+n]})
			}
			p += 2 + n
		}
		d := NewDecoder(&chunkReader{data: data, size: int(chunk%32) + 1}, maxMsg)
		for i := 0; ; i++ {
			m, err := d.Next()
			if err != nil && !errors.Is(err, ErrFrameTooLarge) {
				if i != len(want) {
					t.Fatalf("decoder ended after %d frames, want %d", i, len(want))
				}
				if !errors.Is(err, wantEnd) {
					t.Fatalf("decoder ended with %v, want %v", err, wantEnd)
				}
				return
			}
			if i >= len(want) {
				t.Fatalf("decoder returned frame %d, want only %d", i, len(want))
			}
			if refused := err != nil; refused != want[i].refused {
				t.Fatalf("frame %d refused=%v, want %v", i, refused, want[i].refused)
			}
			if err == nil && (len(m) > maxMsg || !bytes.Equal(m, want[i].msg)) {
				t.Fatalf("frame %d: %d bytes differ from the input", i, len(m))
			}
		}
	})
}

type chunkReader struct {
	data []byte
	size int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.size)], c.data)
	c.data = c.data[n:]
	return n, nil
}
