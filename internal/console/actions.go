package console

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"time"
)

// clientName is what a client name may look like (the PKI's name rule).
var clientName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// actionTimeout bounds one action.
const actionTimeout = 30 * time.Second

// action serves POST /action/{action}: the form's CSRF token must be the
// operator's (the cross-origin check ran before); without confirm=yes the
// confirmation page is shown, with it the action is taken, written to the
// audit log and its outcome shown.
func (c *Console) action(w http.ResponseWriter, r *http.Request) {
	act := r.PathValue("action")
	if act != "invite" && act != "revoke" && act != "disconnect" {
		http.NotFound(w, r)
		return
	}
	op := operator(r)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form: "+err.Error(), http.StatusBadRequest)
		return
	}
	if !c.validCSRF(op, r.PostForm.Get("csrf")) {
		c.warn("console: action refused: missing or wrong CSRF token", "action", act, "operator", op, "remote", r.RemoteAddr)
		http.Error(w, "refused: missing or wrong CSRF token (reload the page)", http.StatusForbidden)
		return
	}
	if c.o.Actions == nil {
		http.Error(w, "this gateway serves no point-to-site clients: no actions", http.StatusNotFound)
		return
	}
	v := c.base(r, "action")
	v.Action, v.Target, v.Group, v.TTL = act, r.PostForm.Get("name"), r.PostForm.Get("group"), r.PostForm.Get("ttl")
	ttl, bad := c.checkAction(v)
	if bad != "" {
		v.Err = bad
		c.render(w, http.StatusBadRequest, "action", "layout", v)
		return
	}
	if r.PostForm.Get("confirm") != "yes" {
		c.render(w, http.StatusOK, "confirm", "layout", v)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), actionTimeout)
	defer cancel()
	var err error
	switch act {
	case "invite":
		var inv Invitation
		if inv, err = c.o.Actions.Invite(ctx, v.Target, v.Group, ttl); err == nil {
			v.Invitation = &inv
			v.QR, err = qrSVG(inv.Link)
		}
	case "revoke":
		err = c.o.Actions.Revoke(ctx, v.Target)
	case "disconnect":
		err = c.o.Actions.Disconnect(ctx, v.Target)
	}
	attrs := []any{"action", act, "target", v.Target, "operator", op, "remote", r.RemoteAddr}
	if act == "invite" {
		attrs = append(attrs, "group", v.Group, "ttl", ttl.String())
	}
	code := http.StatusOK
	if err != nil {
		v.Err = err.Error()
		code = http.StatusInternalServerError
		c.log.Warn("console audit: action failed", append(attrs, "result", "failed", "error", err.Error())...)
	} else {
		c.log.Info("console audit: action done", append(attrs, "result", "ok")...)
	}
	c.render(w, code, "action", "layout", v)
}

// checkAction validates the action's fields; it returns the invitation's
// validity and "" or what is wrong.
func (c *Console) checkAction(v *view) (time.Duration, string) {
	if !clientName.MatchString(v.Target) {
		return 0, "the name must be 1 to 63 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit"
	}
	if v.Action != "invite" {
		v.Group, v.TTL = "", ""
		return 0, ""
	}
	if !slices.Contains(c.o.Groups, v.Group) {
		return 0, "unknown group " + v.Group
	}
	if !slices.Contains(inviteTTLs, v.TTL) {
		return 0, "unknown validity " + v.TTL
	}
	ttl, err := time.ParseDuration(v.TTL)
	if err != nil {
		return 0, err.Error()
	}
	return ttl, ""
}
