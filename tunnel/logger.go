package tunnel

import (
	"context"
	"fmt"
	"log/slog"

	"golang.zx2c4.com/wireguard/device"
)

// wireguardLogger adapts slog to wireguard-go's printf-style logger:
// verbose messages at Debug, errors at Error. Formatting is skipped when the
// level is off, as the device logs per packet at the verbose level.
func wireguardLogger(l *slog.Logger) *device.Logger {
	logf := func(level slog.Level) func(string, ...any) {
		return func(format string, args ...any) {
			if l.Enabled(context.Background(), level) {
				l.Log(context.Background(), level, fmt.Sprintf(format, args...), "component", "wireguard")
			}
		}
	}
	return &device.Logger{Verbosef: logf(slog.LevelDebug), Errorf: logf(slog.LevelError)}
}
