package enroll

import (
	"bytes"
	"context"
	"encoding/json"
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
	// Name and Group are what the enrolling client becomes; TTL is how
	// long the token is valid (DefaultTokenTTL when 0).
	Name  string        `json:"name"`
	Group string        `json:"group"`
	TTL   time.Duration `json:"ttl"`
}

// Invitation is a token just created.
type Invitation struct {
	// Token is the token text (shown once), for Name in Group, valid
	// until Expires.
	Token   string    `json:"token"`
	Name    string    `json:"name"`
	Group   string    `json:"group"`
	Expires time.Time `json:"expires"`
}

// AdminHandler serves POST PathInvite for `intransit p2s invite`. Mount it
// only on the daemon's root-only unix socket: whoever reaches it can
// create tokens.
func (s *Server) AdminHandler() http.Handler {
	return s.AdminMux(http.NewServeMux())
}

// AdminMux adds the invitation endpoint to mux and returns it.
func (s *Server) AdminMux(mux *http.ServeMux) *http.ServeMux {
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

// WriteRefusal writes a refusal as the API does, for other admin
// handlers on the same socket.
func WriteRefusal(w http.ResponseWriter, status int, reason, format string, args ...any) {
	writeJSON(w, status, refuse(status, reason, format, args...))
}

// WriteResult writes a successful JSON answer.
func WriteResult(w http.ResponseWriter, v any) { writeJSON(w, http.StatusOK, v) }

// RequestInvite asks the daemon behind the admin socket for a token.
func RequestInvite(ctx context.Context, socket string, req InviteRequest) (*Invitation, error) {
	var inv Invitation
	if err := AdminCall(ctx, socket, PathInvite, req, &inv); err != nil {
		return nil, err
	}
	return &inv, nil
}

// AdminCall posts req as JSON to path on the daemon's admin socket and
// decodes the answer into out; a refusal is a *Refusal.
func AdminCall(ctx context.Context, socket, path string, req, out any) error {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	}}
	defer tr.CloseIdleConnections()
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://intransitd"+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: tr}).Do(hr)
	if err != nil {
		return fmt.Errorf("admin socket %s: %w", socket, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		ref := &Refusal{Status: resp.StatusCode}
		if json.Unmarshal(data, ref) != nil || ref.Reason == "" {
			return fmt.Errorf("admin socket: HTTP %s", resp.Status)
		}
		return ref
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("admin socket answer: %w", err)
	}
	return nil
}
