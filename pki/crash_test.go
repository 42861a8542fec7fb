package pki_test

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"intransit/internal/testutil/pkitest"
	"intransit/pki"
	"intransit/pki/keywrap"
	"intransit/pki/store"
)

// crashChildEnv, when set to a CA directory, turns the test binary into the
// issuing child of TestIssuanceSurvivesSIGKILL.
const crashChildEnv = "INTRANSIT_PKI_CRASH_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		os.Exit(crashChild(dir))
	}
	os.Exit(m.Run())
}

// crashChild issues certificates from four goroutines until killed (or for
// at most 60 seconds), writing each to disk and printing its serial only
// after Issue returned.
func crashChild(dir string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ca, err := pki.Open(ctx, dir, keywrap.Passphrase([]byte(pkitest.Passphrase)), pki.OpenOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 3
	}
	out := filepath.Join(dir, "issued")
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20000 && ctx.Err() == nil; i++ {
				is, err := ca.Issue(ctx, pki.Request{Profile: pki.ProfileClient, Name: fmt.Sprintf("c%d-%d-%d", os.Getpid(), g, i)}, pki.ECDSAP256)
				if err != nil {
					fmt.Fprintln(os.Stderr, "child:", err)
					return
				}
				if _, err := ca.WriteIssued(out, is); err != nil {
					fmt.Fprintln(os.Stderr, "child:", err)
					return
				}
				mu.Lock()
				fmt.Println(pki.FormatSerial(is.Certificate.SerialNumber))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return 0
}

// TestIssuanceSurvivesSIGKILL kills an issuing child process at random
// points, three times over the same store, and checks after each kill that
// every certificate the child reported or wrote is recorded, every record
// is complete, and issuance goes on.
func TestIssuanceSurvivesSIGKILL(t *testing.T) {
	ca := pkitest.NewCA(t, pki.InitOptions{})
	dir := ca.Dir()
	if err := ca.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	reported := map[string]bool{}
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		cmd.Stderr = os.Stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		n := 0
		killAt := 40 + 17*round
		deadline := time.AfterFunc(30*time.Second, func() { _ = cmd.Process.Kill() })
		for sc.Scan() {
			reported[sc.Text()] = true
			if n++; n == killAt {
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
			}
		}
		deadline.Stop()
		err = cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: child ended with %v after %d issuances, not by SIGKILL", round, err, n)
		}

		ca, err := pki.Open(ctx, dir, keywrap.Passphrase([]byte(pkitest.Passphrase)), pki.OpenOptions{})
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		recs, err := ca.List(ctx, store.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		recorded := map[string]bool{}
		for _, r := range recs {
			c, err := x509.ParseCertificate(r.DER)
			if err != nil {
				t.Fatalf("round %d: record %s holds no parseable certificate: %v", round, pki.FormatSerial(r.Serial), err)
			}
			if c.SerialNumber.Cmp(r.Serial) != 0 || c.Subject.CommonName != r.Name {
				t.Fatalf("round %d: record %s holds certificate %s (%s)", round, pki.FormatSerial(r.Serial), pki.FormatSerial(c.SerialNumber), c.Subject.CommonName)
			}
			recorded[pki.FormatSerial(r.Serial)] = true
		}
		for sn := range reported {
			if !recorded[sn] {
				t.Fatalf("round %d: serial %s was returned by Issue but is not recorded", round, sn)
			}
		}
		onDisk := certSerialsOnDisk(t, filepath.Join(dir, "issued"))
		for _, sn := range onDisk {
			if !recorded[sn] {
				t.Fatalf("round %d: certificate %s is on disk without a record", round, sn)
			}
		}
		if _, err := ca.Issue(ctx, issueReq(pki.ProfileServer, fmt.Sprintf("after-%d", round)), pki.ECDSAP256); err != nil {
			t.Fatalf("round %d: issuance after SIGKILL: %v", round, err)
		}
		t.Logf("round %d: killed after %d reported issuances; %d records, %d certificate files", round, n, len(recs)+1, len(onDisk))
		if err := ca.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func certSerialsOnDisk(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.crt"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		blk, _ := pem.Decode(b)
		if blk == nil {
			t.Fatalf("%s is not PEM (certificate files are written atomically)", f)
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, pki.FormatSerial(c.SerialNumber))
	}
	return out
}
