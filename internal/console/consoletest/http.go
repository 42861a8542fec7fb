package consoletest

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"intransit/internal/console"
)

// HTTPActions are the console.Actions of a running console taken through
// its pages, as an operator takes them: the confirmed form of each action
// posted with the CSRF token of the console's invite page. An action's
// error is the one the console shows, as its Actions returned it.
type HTTPActions struct {
	// Base is the console's URL without the trailing slash and Client
	// what reaches it.
	Base   string
	Client *http.Client
}

// Invite implements console.Actions.
func (h *HTTPActions) Invite(ctx context.Context, name, group string, ttl time.Duration) (console.Invitation, error) {
	page, err := h.act(ctx, "invite", url.Values{"name": {name}, "group": {group}, "ttl": {fmt.Sprintf("%dh", int(ttl.Hours()))}})
	if err != nil {
		return console.Invitation{}, err
	}
	inv := console.Invitation{Token: field(page, `id="token" readonly value="([^"]*)"`), Link: field(page, `id="link" readonly value="([^"]*)"`),
		Name: field(page, `id="inv-name">([^<]*)<`), Group: field(page, `id="inv-group">([^<]*)<`)}
	if inv.Expires, err = time.Parse(time.RFC3339, field(page, `id="inv-expires" datetime="([^"]*)"`)); err != nil {
		return console.Invitation{}, fmt.Errorf("the console's invitation page: expiry: %w", err)
	}
	return inv, nil
}

// Revoke implements console.Actions.
func (h *HTTPActions) Revoke(ctx context.Context, name string) error {
	_, err := h.act(ctx, "revoke", url.Values{"name": {name}})
	return err
}

// Disconnect implements console.Actions.
func (h *HTTPActions) Disconnect(ctx context.Context, name string) error {
	_, err := h.act(ctx, "disconnect", url.Values{"name": {name}})
	return err
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]*)"`)

// act posts the confirmed form of action and returns the result page, or
// the error the page shows.
func (h *HTTPActions) act(ctx context.Context, action string, form url.Values) (string, error) {
	invite, _, err := h.do(ctx, http.MethodGet, "/invite", nil)
	if err != nil {
		return "", err
	}
	m := csrfField.FindStringSubmatch(invite)
	if m == nil {
		return "", errors.New("the console's invite page has no CSRF token")
	}
	form.Set("csrf", html.UnescapeString(m[1]))
	form.Set("confirm", "yes")
	page, code, err := h.do(ctx, http.MethodPost, "/action/"+action, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	if detail := field(page, `id="error-detail">([^<]*)<`); detail != "" {
		return "", errors.New(detail)
	}
	if detail := field(page, `id="error" class="bad">([^<]*)<`); detail != "" {
		return "", errors.New(detail)
	}
	if code != http.StatusOK {
		return "", fmt.Errorf("the console answered %s with HTTP %d: %.200s", action, code, page)
	}
	return page, nil
}

// do sends one request to the console and returns the body and status.
func (h *HTTPActions) do(ctx context.Context, method, path string, body io.Reader) (string, int, error) {
	req, err := http.NewRequestWithContext(ctx, method, h.Base+path, body)
	if err != nil {
		return "", 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := h.Client.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", 0, fmt.Errorf("the console's answer to %s %s: %w", method, path, err)
	}
	return string(b), resp.StatusCode, nil
}

// field returns the first group of pattern in page, unescaped, or "".
func field(page, pattern string) string {
	m := regexp.MustCompile(pattern).FindStringSubmatch(page)
	if m == nil {
		return ""
	}
	return html.UnescapeString(strings.TrimSpace(m[1]))
}
