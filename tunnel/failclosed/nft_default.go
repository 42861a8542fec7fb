//go:build !linux

package failclosed

import (
	"context"
	"os/exec"
)

// NFT is the Kernel of Linux; elsewhere every call fails with ErrNotLinux.
type NFT struct {
	// Command is unused outside Linux.
	Command func(ctx context.Context, name string, args ...string) *exec.Cmd
}

// Install fails: no nftables here.
func (NFT) Install(context.Context, Policy) error { return ErrNotLinux }

// Remove fails: no nftables here.
func (NFT) Remove(context.Context, string) (bool, error) { return false, ErrNotLinux }

// Installed fails: no nftables here.
func (NFT) Installed(context.Context, string) (bool, error) { return false, ErrNotLinux }

// Rejected fails: no nftables here.
func (NFT) Rejected(context.Context, string) (map[string]uint64, error) { return nil, ErrNotLinux }
