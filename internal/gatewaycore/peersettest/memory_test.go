package peersettest

import "testing"

func TestMemoryContract(t *testing.T) {
	Run(t, func(*testing.T) Set { return NewMemory() })
}
