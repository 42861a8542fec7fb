package main

import (
	"errors"
	"fmt"
)

// Exit codes of the CLI: they mean the same thing for every subcommand.
const (
	exitOK      = 0 // the command did what was asked and found nothing wrong
	exitFinding = 1 // a finding or a refusal: non-compliant endpoint, request outside policy
	exitCannot  = 2 // the command could not run: bad flags, unreadable files, unreachable host
)

// codedError carries the exit code the process should end with.
type codedError struct {
	code int
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// refusal marks err as a finding or a policy refusal (exit code 1).
func refusal(err error) error {
	if err == nil {
		return nil
	}
	return &codedError{code: exitFinding, err: err}
}

// refusalf formats a refusal (exit code 1).
func refusalf(format string, args ...any) error {
	return refusal(fmt.Errorf(format, args...))
}

// exitCode maps an error returned by a command to the process exit code.
// Errors not marked otherwise mean the command could not run.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ce *codedError
	if errors.As(err, &ce) {
		return ce.code
	}
	return exitCannot
}
