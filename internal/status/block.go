package status

// Block states.
const (
	// BlockArmed: the tunnel is up; traffic to the prefixes passes through
	// it and nowhere else.
	BlockArmed = "armed"
	// BlockBlocking: the tunnel is down; traffic to the prefixes is
	// rejected instead of leaving in clear.
	BlockBlocking = "blocking"
	// BlockMissing: the table is not in the kernel (removed behind the
	// daemon's back, or it could not be read); the daemon puts it back.
	BlockMissing = "missing"
)

// Block is a fail-closed block in force: kernel state (an nftables table)
// that lets traffic to Prefixes leave only through Interface and rejects it
// any other way, and that stays when the daemon stops or dies.
type Block struct {
	// Name says what is guarded: a remote gateway's name, "split tunnel"
	// or "lockdown".
	Name string `json:"name"`
	// Table is the nftables table ("inet intransit_guard_itd0") and
	// Interface the only way out.
	Table     string `json:"table"`
	Interface string `json:"interface"`
	// Prefixes are the guarded destinations; empty for a lockdown, which
	// guards every destination but Exempt.
	Prefixes []string `json:"prefixes,omitempty"`
	// Exempt are the addresses always reachable (the tunnel's own peers).
	Exempt []string `json:"exempt,omitempty"`
	// State is a Block constant and Reason says why.
	State  string `json:"state"`
	Reason string `json:"reason"`
	// Rejected counts the packets the block rejected since it was last
	// installed (start or reload).
	Rejected uint64 `json:"rejected"`
}
