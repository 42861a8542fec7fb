package control

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDecode feeds arbitrary frames to the decoder. Whatever it accepts must
// re-encode to exactly the same bytes (one meaning per frame), and
// ReadMessage must agree with Decode; whatever it rejects must be
// ErrMalformed. It must never panic or allocate beyond MaxBodySize.
func FuzzDecode(f *testing.F) {
	for _, m := range samples() {
		b, err := Encode(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{1, byte(TypeHello), 0, 0})
	f.Add([]byte{2, byte(TypePing), 0, 8, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		rm, rerr := ReadMessage(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			if rerr == nil && len(data) >= HeaderSize {
				if b, _ := Encode(rm); bytes.Equal(b, data) {
					t.Fatalf("ReadMessage accepted the whole frame Decode rejected: %v", err)
				}
			}
			return
		}
		b, err := Encode(m)
		if err != nil {
			t.Fatalf("decoded %+v does not re-encode: %v", m, err)
		}
		if !bytes.Equal(b, data) {
			t.Fatalf("re-encoding differs:\n in  % x\n out % x", data, b)
		}
		if rerr != nil {
			t.Fatalf("ReadMessage rejected what Decode accepted: %v", rerr)
		}
		if rb, _ := Encode(rm); !bytes.Equal(rb, data) {
			t.Fatal("ReadMessage and Decode disagree")
		}
	})
}
