package control

import (
	"errors"
	"fmt"
)

// ErrDeadPeer is wrapped by the error a session ends with when the peer
// stopped answering: nothing heard within Config.DeadAfter.
var ErrDeadPeer = errors.New("dead peer")

// SessionError ends a session with a reason: a refusal or close sent by the
// peer (Remote), or one this end decided and sent to the peer.
type SessionError struct {
	// Reason is the stable code.
	Reason Reason
	// Detail says what exactly happened.
	Detail string
	// Remote is true when the peer sent the refusal or close.
	Remote bool
	// Closed is true for an orderly close rather than a refusal.
	Closed bool
	err    error
}

// Error says who ended the session, with which reason, and why.
func (e *SessionError) Error() string {
	msg := e.message()
	if e.err != nil {
		msg += ": " + e.err.Error()
	}
	return msg
}

func (e *SessionError) message() string {
	switch {
	case e.Remote && e.Closed:
		return fmt.Sprintf("control: peer closed the session (%s): %s", e.Reason, e.Detail)
	case e.Remote:
		return fmt.Sprintf("control: peer refused (%s): %s", e.Reason, e.Detail)
	case e.Closed:
		return fmt.Sprintf("control: closed the session (%s): %s", e.Reason, e.Detail)
	}
	return fmt.Sprintf("control: refused the peer (%s): %s", e.Reason, e.Detail)
}

// Unwrap returns the underlying cause, such as ErrDeadPeer.
func (e *SessionError) Unwrap() error { return e.err }

// Refuse returns the error that an admission callback (Config.OnPeer,
// Config.Assign) returns to refuse a peer with a given reason; the detail is
// sent to the peer.
func Refuse(reason Reason, format string, args ...any) error {
	return refusef(reason, format, args...)
}

func refusef(reason Reason, format string, args ...any) *SessionError {
	return &SessionError{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}
