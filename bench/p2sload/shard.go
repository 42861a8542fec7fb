package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Every simulated client holds two descriptors (its control connection
// and its UDP socket); when the open-files limit cannot hold them all in
// one process, connect spreads the clients over shard processes (p2sload
// clients) and keeps the timing and the measurements to itself.

// shardsFor returns how many processes n clients need under this
// process's open-files limit (after raiseNoFile).
func shardsFor(n int) int {
	raiseNoFile()
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 1
	}
	per := (int(l.Cur) - 512) / 2
	if per < 1 {
		return 1
	}
	return (n + per - 1) / per
}

// shard is one clients process: connect writes a client's number to its
// stdin and it answers "N ok" or "N err TEXT" once that client connected
// or failed.
type shard struct {
	cmd *exec.Cmd
	in  io.WriteCloser

	mu      sync.Mutex
	waiting map[int]func(error)
	done    bool
}

// startShards starts k clients processes for the work directory dir.
func startShards(k int, dir string) ([]*shard, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("shards: %w", err)
	}
	var out []*shard
	for range k {
		sh := &shard{cmd: exec.Command(self, "clients", "-dir", dir), waiting: map[int]func(error){}}
		sh.cmd.Stderr = os.Stderr
		if sh.in, err = sh.cmd.StdinPipe(); err != nil {
			closeShards(out)
			return nil, fmt.Errorf("shards: %w", err)
		}
		stdout, err := sh.cmd.StdoutPipe()
		if err != nil {
			closeShards(out)
			return nil, fmt.Errorf("shards: %w", err)
		}
		if err := sh.cmd.Start(); err != nil {
			closeShards(out)
			return nil, fmt.Errorf("shards: %w", err)
		}
		out = append(out, sh)
		go sh.read(stdout)
	}
	return out, nil
}

// start asks the shard to connect client i; ready is called once with the
// outcome.
func (sh *shard) start(i int, ready func(error)) {
	sh.mu.Lock()
	if sh.done {
		sh.mu.Unlock()
		ready(errors.New("shard process ended"))
		return
	}
	sh.waiting[i] = ready
	_, err := fmt.Fprintf(sh.in, "%d\n", i)
	if err != nil {
		delete(sh.waiting, i)
	}
	sh.mu.Unlock()
	if err != nil {
		ready(fmt.Errorf("shard: %w", err))
	}
}

// read hands the shard's answers to the waiting callbacks; when the
// process ends, the clients still waiting fail.
func (sh *shard) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		num, rest, _ := strings.Cut(sc.Text(), " ")
		i, err := strconv.Atoi(num)
		if err != nil {
			continue
		}
		var res error
		if msg, failed := strings.CutPrefix(rest, "err "); failed {
			res = errors.New(msg)
		}
		sh.mu.Lock()
		ready := sh.waiting[i]
		delete(sh.waiting, i)
		sh.mu.Unlock()
		if ready != nil {
			ready(res)
		}
	}
	sh.mu.Lock()
	sh.done = true
	left := sh.waiting
	sh.waiting = nil
	sh.mu.Unlock()
	for _, ready := range left {
		ready(errors.New("shard process ended"))
	}
}

// closeShards ends the shards' clients (closing their stdin) and waits for
// the processes.
func closeShards(shards []*shard) {
	for _, sh := range shards {
		sh.in.Close()
	}
	for _, sh := range shards {
		sh.cmd.Wait()
	}
}

// clients is a shard: it connects the clients whose numbers arrive on
// stdin, reports each outcome on stdout, and holds them until stdin ends.
func clients(args []string) error {
	fs := flag.NewFlagSet("clients", flag.ExitOnError)
	dir := fs.String("dir", "", "work directory (from prepare)")
	fs.Parse(args)
	if *dir == "" {
		return errors.New("clients: -dir is required")
	}
	raiseNoFile()
	prof, cas, err := clientTLS(*dir)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		i, err := strconv.Atoi(sc.Text())
		if err != nil {
			return fmt.Errorf("clients: %q is not a client number", sc.Text())
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			controlClient(ctx, *dir, i, prof, cas, func(err error) {
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					fmt.Fprintf(out, "%d err %s\n", i, strings.ReplaceAll(err.Error(), "\n", " "))
				} else {
					fmt.Fprintf(out, "%d ok\n", i)
				}
				out.Flush()
			})
		}()
	}
	cancel()
	wg.Wait()
	return nil
}
