package enroll

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// PathInvite is the admin socket's invitation endpoint.
const PathInvite = "/p2s/v1/invite"

// InviteRequest asks the daemon for a token.
type InviteRequest struct {
	Name  string        `json:"name"`
	Group string        `json:"group"`
	TTL   time.Duration `json:"ttl"`
}

// Invitation is a token just created.
type Invitation struct {
	Token   string    `json:"token"`
	Name    string    `json:"name"`
	Group   string    `json:"group"`
	Expires time.Time `json:"expires"`
}

// AdminHandler serves POST PathInvite for `intransit p2s invite`. Mount it
// only on the daemon's root-only unix socket: whoever reaches it can
// create tokens.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+PathInvite, func(w http.ResponseWriter, r *http.Request) {
		var req InviteRequest
		dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, refuse(http.StatusBadRequest, ReasonBadRequest, "request body: %v", err))
			return
		}
		text, tok, err := s.Invite(r.Context(), req.Name, req.Group, req.TTL)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, refuse(http.StatusBadRequest, ReasonBadRequest, "%v", err))
			return
		}
		writeJSON(w, http.StatusOK, Invitation{Token: text, Name: tok.Name, Group: tok.Group, Expires: tok.Expires})
	})
	return mux
}

// ServeAdmin serves AdminHandler on ln until ctx ends.
func (s *Server) ServeAdmin(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.AdminHandler(), ReadHeaderTimeout: 5 * time.Second}
	stop := context.AfterFunc(ctx, func() { srv.Close() })
	defer stop()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("p2s admin socket: %w", err)
	}
	return nil
}

// RequestInvite asks the daemon behind the admin socket for a token.
func RequestInvite(ctx context.Context, socket string, req InviteRequest) (*Invitation, error) {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	}}
	defer tr.CloseIdleConnections()
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://intransitd"+PathInvite, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Transport: tr}).Do(hr)
	if err != nil {
		return nil, fmt.Errorf("p2s admin socket %s: %w", socket, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		ref := &Refusal{Status: resp.StatusCode}
		if json.Unmarshal(data, ref) != nil || ref.Reason == "" {
			return nil, fmt.Errorf("p2s admin socket: HTTP %s", resp.Status)
		}
		return nil, ref
	}
	var inv Invitation
	if err := json.Unmarshal(data, &inv); err != nil {
		return nil, fmt.Errorf("p2s admin socket answer: %w", err)
	}
	return &inv, nil
}
