package netlab

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// GoBuild compiles the main package pkg (an import path, such as
// "intransit/netns-tests/testpeer/cmd/testpeer" or
// "golang.zx2c4.com/wireguard") into the test's temporary directory and
// returns the binary's path. Programs of this module are built with -race
// when the test runs with -race; race is false for outside programs built
// as reference systems.
func GoBuild(t testing.TB, pkg string, race bool) string {
	t.Helper()
	RequireTools(t, "go")
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	args := []string{"build", "-o", bin}
	if race && raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, pkg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", args...).CombinedOutput(); err != nil {
		t.Fatalf("netlab: go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return bin
}
