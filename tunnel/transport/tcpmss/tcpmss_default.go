//go:build !linux

package tcpmss

// setMSS does nothing where TCP_MAXSEG is not known to this package; the
// path must then pass ICMP for path MTU discovery.
func setMSS(fd uintptr, mss int) error { return nil }

func getMSS(fd uintptr) (int, error) { return 0, nil }
