package control

import (
	"context"
	"fmt"
	"time"

	"intransit/tunnel/pqpsk"
)

// propose starts the rotation to the next epoch (initiator).
func (r *run) propose() error {
	p, err := pqpsk.Propose(r.cfg.Rand)
	if err != nil {
		return &SessionError{Reason: ReasonInternal, Detail: "PSK rotation failed", err: err}
	}
	r.proposal, r.pending, r.since, r.acked = p, r.epoch+1, time.Now(), false
	return r.send(&RotatePropose{Epoch: r.pending, EncapsulationKey: p.EncapsulationKey()})
}

// rotation handles a message of the PSK rotation; anything else after the
// Hello exchange is unexpected.
func (r *run) rotation(ctx context.Context, m Message) error {
	initiator := r.cfg.Role == Initiator
	switch m := m.(type) {
	case *RotatePropose:
		switch {
		case initiator:
			return refusef(ReasonUnexpected, "rotate-propose sent to the initiator; only the initiator proposes")
		case r.pending != 0:
			return refusef(ReasonUnexpected, "rotate-propose for epoch %d while epoch %d is in flight", m.Epoch, r.pending)
		case m.Epoch != r.epoch+1:
			return refusef(ReasonRotation, "rotate-propose for epoch %d, expected epoch %d", m.Epoch, r.epoch+1)
		}
		ct, sec, err := pqpsk.Accept(r.cfg.Rand, &r.cs, m.Epoch, m.EncapsulationKey)
		if err != nil {
			return refusef(ReasonRotation, "epoch %d: %v", m.Epoch, err)
		}
		r.pending, r.since, r.secret = m.Epoch, time.Now(), sec
		return r.send(&RotateAnswer{Epoch: m.Epoch, Ciphertext: ct, Confirmation: sec.Confirmation(pqpsk.Accepter)})
	case *RotateAnswer:
		if !initiator || r.pending != m.Epoch || r.acked {
			return refusef(ReasonUnexpected, "rotate-answer for epoch %d, none awaited", m.Epoch)
		}
		sec, err := r.proposal.Finish(&r.cs, m.Epoch, m.Ciphertext)
		r.proposal = nil
		if err != nil {
			return refusef(ReasonRotation, "epoch %d: %v", m.Epoch, err)
		}
		if err := sec.VerifyConfirmation(pqpsk.Accepter, m.Confirmation); err != nil {
			return refusef(ReasonRotation, "%v", err)
		}
		if err := r.install(ctx, sec); err != nil {
			return err
		}
		r.acked = true
		return r.send(&RotateCommit{Epoch: m.Epoch, Confirmation: sec.Confirmation(pqpsk.Proposer)})
	case *RotateCommit:
		if initiator || r.pending != m.Epoch {
			return refusef(ReasonUnexpected, "rotate-commit for epoch %d, none awaited", m.Epoch)
		}
		if err := r.secret.VerifyConfirmation(pqpsk.Proposer, m.Confirmation); err != nil {
			return refusef(ReasonRotation, "%v", err)
		}
		if err := r.install(ctx, r.secret); err != nil {
			return err
		}
		r.pending, r.secret = 0, nil
		return r.send(&RotateAck{Epoch: m.Epoch})
	case *RotateAck:
		if !initiator || r.pending != m.Epoch || !r.acked {
			return refusef(ReasonUnexpected, "rotate-ack for epoch %d, none awaited", m.Epoch)
		}
		r.cfg.Metrics.rotationDone(time.Since(r.since).Seconds())
		r.pending, r.acked = 0, false
		if r.again {
			r.again = false
			return r.propose()
		}
		return nil
	}
	return refusef(ReasonUnexpected, "%s after the hello exchange", m.Type())
}

// install hands the PSK to WireGuard and records it.
func (r *run) install(ctx context.Context, sec *pqpsk.Secret) error {
	psk := sec.PSK()
	if err := r.cfg.InstallPSK(ctx, r.peer, sec.Epoch(), psk); err != nil {
		return &SessionError{Reason: ReasonInternal, Detail: "installing the PSK failed", err: fmt.Errorf("install PSK of epoch %d: %w", sec.Epoch(), err)}
	}
	r.epoch = sec.Epoch()
	r.cfg.Metrics.pskInstalled(r.cfg.Role)
	now := time.Now()
	r.mu.Lock()
	r.status.Epoch, r.status.PSKID, r.status.PSKInstalled = r.epoch, psk.ID(), now
	r.mu.Unlock()
	r.log.Info("PSK installed", "epoch", r.epoch, "psk", psk)
	return nil
}
