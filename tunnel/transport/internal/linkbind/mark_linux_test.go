package linkbind

import (
	"net"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSetMark sets SO_MARK on a real socket and reads it back.
func TestSetMark(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("SO_MARK needs root (CAP_NET_ADMIN), and CI runs as root")
		}
		t.Skip("SO_MARK needs root (CAP_NET_ADMIN)")
	}
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	for _, mark := range []uint32{0x51820, 0} {
		if err := SetMark(rc, mark); err != nil {
			t.Fatal(err)
		}
		var got int
		var gerr error
		if err := rc.Control(func(fd uintptr) {
			got, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK)
		}); err != nil || gerr != nil {
			t.Fatal(err, gerr)
		}
		if uint32(got) != mark {
			t.Fatalf("SO_MARK = %#x, want %#x", got, mark)
		}
	}
}
