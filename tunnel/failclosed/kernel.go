package failclosed

import (
	"context"
	"errors"
)

// Kernel keeps policies as kernel state that outlives the process that
// installed them: a policy stays in force after its process exits, is
// killed or restarts, until Remove takes it away.
//
// Contract (checked for every implementation by failclosedtest.Run):
//   - Install puts a valid policy in place as the table TableName(p.Interface),
//     replacing what that table held in one step: the previous rules hold
//     until the new ones do, so no packet slips through between them. An
//     invalid policy (Policy.Validate) or a failed install is an error and
//     leaves the previous table as it was.
//   - Remove deletes a table and reports whether it was there; a table that
//     is not there is not an error.
//   - Installed reports whether a table is in place.
//   - Rejected counts, per guard name (LockdownName for a lockdown), the
//     packets the table rejected since its last Install: every guard of
//     the installed policy has an entry. A table that is not there is
//     ErrNoTable.
//
// Calls may block on the kernel; ctx bounds them. Implementations are safe
// for concurrent use on different tables; one table is changed by one
// goroutine at a time (Wall serializes its own).
type Kernel interface {
	Install(ctx context.Context, p Policy) error
	Remove(ctx context.Context, table string) (bool, error)
	Installed(ctx context.Context, table string) (bool, error)
	Rejected(ctx context.Context, table string) (map[string]uint64, error)
}

// ErrNoTable is Kernel.Rejected's error for a table that is not there.
var ErrNoTable = errors.New("no such fail-closed table")
