//go:build !linux

package nsforward

import (
	"context"
	"errors"
	"net"
)

// Dial connects to addr from inside the network namespace ns; only on
// Linux.
func Dial(context.Context, string, string, string) (net.Conn, error) {
	return nil, errors.New("nsforward: network namespaces are a Linux feature")
}
