package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"intransit/p2s"
	"intransit/p2s/enroll"
)

// Admin socket paths of the static-profile endpoints.
const (
	PathExport = "/p2s/v1/export"
	PathRemove = "/p2s/v1/remove"
	PathForget = "/p2s/v1/forget"
)

// ExportRequest asks for a static profile.
type ExportRequest struct {
	// Name and Group are the device's name and policy group; Endpoint is
	// the gateway's UDP address as the device dials it (empty: the
	// configured one).
	Name     string `json:"name"`
	Group    string `json:"group"`
	Endpoint string `json:"endpoint,omitempty"`
}

// Exported is the answer: the wg-quick file (with the device's private
// key: the only copy).
type Exported struct {
	// Name and Group repeat the request; WGQuick is the profile.
	Name    string `json:"name"`
	Group   string `json:"group"`
	WGQuick string `json:"wg_quick"`
}

// RemoveRequest names a static device to revoke or a client to forget.
type RemoveRequest struct {
	// Name is the device to remove.
	Name string `json:"name"`
}

// Removed confirms a removal.
type Removed struct {
	// Name is the device removed.
	Name string `json:"name"`
}

// AdminMux adds the static-profile endpoints to mux (served on the
// daemon's root-only admin socket) and returns it.
func (g *Gateway) AdminMux(mux *http.ServeMux) *http.ServeMux {
	mux.HandleFunc("POST "+PathExport, func(w http.ResponseWriter, r *http.Request) {
		var req ExportRequest
		if !decode(w, r, &req) {
			return
		}
		p, err := g.AddStatic(r.Context(), req.Name, req.Group, req.Endpoint)
		if err != nil {
			enroll.WriteRefusal(w, http.StatusBadRequest, enroll.ReasonBadRequest, "%v", err)
			return
		}
		enroll.WriteResult(w, Exported{Name: p.Name, Group: p.Group, WGQuick: p.WGQuick()})
	})
	mux.HandleFunc("POST "+PathRemove, func(w http.ResponseWriter, r *http.Request) {
		var req RemoveRequest
		if !decode(w, r, &req) {
			return
		}
		if err := g.RemoveStatic(r.Context(), req.Name); err != nil {
			status := http.StatusInternalServerError
			if errors.Is(err, p2s.ErrNotFound) {
				status = http.StatusNotFound
			}
			enroll.WriteRefusal(w, status, enroll.ReasonBadRequest, "%v", err)
			return
		}
		enroll.WriteResult(w, Removed(req))
	})
	mux.HandleFunc("POST "+PathForget, func(w http.ResponseWriter, r *http.Request) {
		var req RemoveRequest
		if !decode(w, r, &req) {
			return
		}
		if err := g.Forget(r.Context(), req.Name); err != nil {
			status := http.StatusInternalServerError
			if errors.Is(err, p2s.ErrNotFound) {
				status = http.StatusNotFound
			}
			enroll.WriteRefusal(w, status, enroll.ReasonBadRequest, "%v", err)
			return
		}
		enroll.WriteResult(w, Removed(req))
	})
	return mux
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		enroll.WriteRefusal(w, http.StatusBadRequest, enroll.ReasonBadRequest, "request body: %v", err)
		return false
	}
	return true
}

// RequestExport asks the daemon behind the admin socket for a static
// profile.
func RequestExport(ctx context.Context, socket string, req ExportRequest) (*Exported, error) {
	var out Exported
	if err := enroll.AdminCall(ctx, socket, PathExport, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RequestRemove asks the daemon to revoke a static device.
func RequestRemove(ctx context.Context, socket, name string) error {
	var out Removed
	return enroll.AdminCall(ctx, socket, PathRemove, RemoveRequest{Name: name}, &out)
}

// RequestForget asks the daemon to forget an enrolled client.
func RequestForget(ctx context.Context, socket, name string) error {
	var out Removed
	return enroll.AdminCall(ctx, socket, PathForget, RemoveRequest{Name: name}, &out)
}
