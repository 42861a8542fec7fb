package nftables

import (
	"context"
	"os/exec"
	"strings"
	"testing"
)

func TestApplySyntaxError(t *testing.T) {
	if _, err := exec.LookPath("nft"); err != nil {
		t.Fatal("nft is not installed (apt-get install nftables)")
	}
	err := Apply(context.Background(), "this is not nftables\n")
	if err == nil || !strings.Contains(err.Error(), "syntax error") {
		t.Errorf("Apply of a broken script: %v, want nft's syntax error", err)
	}
}
