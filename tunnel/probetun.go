package tunnel

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.zx2c4.com/wireguard/tun"
)

// probeTUN is the TUN device as wireguard-go sees it: probes addressed to
// us are taken out of what wireguard-go writes (see prober.take), and what
// the prober queues is handed to wireguard-go by Read ahead of the
// kernel's packets. A Read blocked on the kernel is woken by a read
// deadline in the past on the TUN file, which the wrapper clears again:
// wireguard-go never sees that error.
type probeTUN struct {
	tun.Device
	file   *os.File
	prober *prober
}

// wrapTUN wraps td for the device with public key own.
func wrapTUN(td tun.Device, own PublicKey) (*probeTUN, error) {
	f := td.File()
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		return nil, fmt.Errorf("TUN file without deadlines: %w", err)
	}
	t := &probeTUN{Device: td, file: f}
	t.prober = newProber(own, func() { _ = f.SetReadDeadline(time.Unix(1, 0)) })
	return t, nil
}

// Read returns queued probe packets first, else what the kernel sends.
func (t *probeTUN) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	for {
		if n := t.prober.drain(bufs, sizes, offset); n > 0 {
			return n, nil
		}
		n, err := t.Device.Read(bufs, sizes, offset)
		if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
			// Woken for queued packets: clear the deadline before
			// draining, so that a packet queued after the drain wakes the
			// next read again.
			if err := t.file.SetReadDeadline(time.Time{}); err != nil {
				return 0, fmt.Errorf("clearing the TUN read deadline: %w", err)
			}
			continue
		}
		return n, err
	}
}

// Write passes on every packet but the probes addressed to us.
func (t *probeTUN) Write(bufs [][]byte, offset int) (int, error) {
	now := time.Now()
	var keep [][]byte
	filtered := false
	for i, b := range bufs {
		if t.prober.take(b[offset:], now) {
			if !filtered {
				keep, filtered = append(make([][]byte, 0, len(bufs)), bufs[:i]...), true
			}
			continue
		}
		if filtered {
			keep = append(keep, b)
		}
	}
	if !filtered {
		return t.Device.Write(bufs, offset)
	}
	if len(keep) == 0 {
		return len(bufs), nil
	}
	if _, err := t.Device.Write(keep, offset); err != nil {
		return 0, err
	}
	return len(bufs), nil
}
