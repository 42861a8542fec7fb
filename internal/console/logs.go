package console

import (
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// refusalLog bounds the console's refusal lines: a burst of 10, then one a
// second; the next line written says how many were left out.
type refusalLog struct {
	lim     *rate.Limiter
	dropped atomic.Uint64
}

func newRefusalLog() *refusalLog {
	return &refusalLog{lim: rate.NewLimiter(rate.Every(time.Second), 10)}
}

// warn writes one refusal line, unless over the rate.
func (c *Console) warn(msg string, args ...any) {
	if !c.refusals.lim.AllowN(c.o.Now(), 1) {
		c.refusals.dropped.Add(1)
		return
	}
	if n := c.refusals.dropped.Swap(0); n > 0 {
		args = append(args, "refusals_not_logged", n)
	}
	c.log.Warn(msg, args...)
}
