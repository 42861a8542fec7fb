package udp

import (
	"bytes"
	"fmt"
	"testing"
)

func TestSegmentSends(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sizes []int
		max   int
		want  string // runs as lo-hi/size
	}{
		{"one", []int{100}, maxPayload4, "0-1/100"},
		{"equal", repeat(5, 1452), maxPayload4, "0-5/1452"},
		{"short tail ends a run", []int{1452, 1452, 700, 1452}, maxPayload4, "0-3/1452 3-4/1452"},
		{"longer starts a run", []int{100, 1452, 1452}, maxPayload4, "0-1/100 1-3/1452"},
		{"at most 64", repeat(130, 96), maxPayload4, "0-64/96 64-128/96 128-130/96"},
		{"at most max bytes", repeat(50, 1452), maxPayload4, "0-45/1452 45-50/1452"},
		{"IPv6 holds more", repeat(50, 1452), maxPayload6, "0-45/1452 45-50/1452"},
		{"max bytes exactly", repeat(3, 100), 300, "0-3/100"},
		{"empty", nil, maxPayload4, ""},
	} {
		bufs := make([][]byte, len(tc.sizes))
		for i, n := range tc.sizes {
			bufs[i] = make([]byte, n)
		}
		var got []string
		segmentSends(bufs, tc.max, func(lo, hi, size int) {
			got = append(got, fmt.Sprintf("%d-%d/%d", lo, hi, size))
		})
		if s := fmt.Sprint(got); s != "["+tc.want+"]" {
			t.Errorf("%s: runs %s, want [%s]", tc.name, s, tc.want)
		}
	}
}

// TestPlaceSegments lays a received message into iovecs as the kernel
// does (filling each in turn) and checks the datagrams come out one per
// buffer, in place when the iovecs were cut for their size.
func TestPlaceSegments(t *testing.T) {
	for _, tc := range []struct {
		name        string
		bufs, cut   int // buffers, and the size every iovec but the last is cut to
		segment, n  int // the message: segment size and bytes in all
		wantCount   int
		wantInPlace bool
	}{
		{"expected size", 64, 1452, 1452, 45*1452 + 700, 46, true},
		{"exact multiple", 64, 1452, 1452, 10 * 1452, 10, true},
		{"single short datagram", 64, 1452, 0, 148, 1, true},
		{"single long datagram", 64, 1452, 0, 9000, 1, false},
		{"smaller segments", 64, 1452, 1000, 20 * 1000, 20, false},
		{"larger segments", 64, 1000, 1452, 40*1452 + 3, 41, false},
		{"more datagrams than buffers", 4, 96, 96, 10 * 96, 4, false},
		{"fits the last buffer", 1, 96, 96, 96, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := make([]byte, tc.n)
			for i := range msg {
				msg[i] = byte(i * 13)
			}
			bufs := make([][]byte, tc.bufs)
			iov := make([][]byte, tc.bufs)
			for i := range bufs {
				bufs[i] = make([]byte, 1<<16-1)
				iov[i] = bufs[i]
				if i < tc.bufs-1 {
					iov[i] = bufs[i][:tc.cut]
				}
			}
			rest := msg
			for _, v := range iov {
				rest = rest[copy(v, rest):]
			}
			segment := tc.segment
			if segment == 0 {
				segment = tc.n
			}
			var scratch []byte
			sizes := make([]int, tc.bufs)
			count := placeSegments(iov, bufs, sizes, tc.n, segment, &scratch)
			if count != tc.wantCount {
				t.Fatalf("placed %d datagrams, want %d", count, tc.wantCount)
			}
			if inPlace := scratch == nil; inPlace != tc.wantInPlace {
				t.Errorf("in place %v, want %v", inPlace, tc.wantInPlace)
			}
			for j := range count {
				want := msg[j*segment : min((j+1)*segment, tc.n)]
				if !bytes.Equal(bufs[j][:sizes[j]], want) {
					t.Fatalf("datagram %d: %d bytes, want %d bytes of the message", j, sizes[j], len(want))
				}
			}
		})
	}
}
