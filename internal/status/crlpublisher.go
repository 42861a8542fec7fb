package status

// CRLPublisher is which gateway of a fleet on etcd signs and publishes the
// CRL for third parties (the election of internal/crlleader among the
// gateways that hold the CA), as a gateway that holds the CA sees it.
type CRLPublisher struct {
	// Self is true when this gateway is the elected publisher.
	Self bool `json:"self"`
	// Elected names the elected gateway (its candidate name, host/pid);
	// empty while none is elected.
	Elected string `json:"elected,omitempty"`
	// Error is why the election could not be read (etcd did not answer);
	// Elected and Self are then unknown.
	Error string `json:"error,omitempty"`
}
